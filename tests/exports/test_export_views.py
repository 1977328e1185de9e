from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from exports.models import Export
from projects.models import Role
from tests.factories import PASSWORD, MembershipFactory, StreamFactory
from tests.qc.helpers import judged_item

pytestmark = pytest.mark.django_db


@pytest.fixture
def setup(settings: Any, tmp_path: Path) -> dict[str, Any]:
    settings.MEDIA_ROOT = tmp_path / "media"
    stream = StreamFactory.create()
    pm = MembershipFactory.create(project=stream.project, role=Role.PM).user
    return {"stream": stream, "project": stream.project, "pm": pm}


def _client(user: Any) -> Client:
    client = Client()
    assert client.login(username=user.username, password=PASSWORD)
    return client


def test_it_starts_an_export_and_shows_its_result(
    setup: dict[str, Any], django_capture_on_commit_callbacks: Any
) -> None:
    project, stream = setup["project"], setup["stream"]
    judged_item(stream, ["A", "A"])
    client = _client(setup["pm"])
    url = f"/projects/{project.slug}/exports/"
    assert client.get(url).status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            url,
            {
                "streams": [stream.pk],
                "format": "reward",
                "aggregate": "majority",
                "min_agreement": "0",
                "min_judgements": "2",
                "test_fraction": "0",
                "seed": "0",
                "margin": "on",
            },
        )
    export = Export.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/projects/{project.slug}/exports/{export.pk}/"
    assert export.status == Export.Status.DONE
    assert export.created_by == setup["pm"]
    assert export.filters["margin"] is True
    page = client.get(response["Location"])
    assert page.status_code == 200
    assert b"train.jsonl" in page.content
    assert b"hx-trigger" not in page.content  # finished: no more polling
    download = client.get(f"/projects/{project.slug}/exports/{export.pk}/files/train.jsonl")
    assert download.status_code == 200
    row = json.loads(b"".join(download.streaming_content))
    assert set(row) == {"chosen", "rejected", "margin"}
    assert b"Past exports" in client.get(url).content


def test_it_polls_a_running_export_with_a_fragment(setup: dict[str, Any]) -> None:
    project = setup["project"]
    export = Export.objects.create(project=project, format="trl", status=Export.Status.RUNNING, progress=0.4)
    client = _client(setup["pm"])
    url = f"/projects/{project.slug}/exports/{export.pk}/"
    full = client.get(url)
    assert b"<html" in full.content
    assert b'hx-trigger="every 2s"' in full.content
    fragment = client.get(url, headers={"HX-Request": "true"})
    assert fragment.status_code == 200
    assert b"<html" not in fragment.content
    assert b'id="export-status"' in fragment.content
    assert b'value="0.400"' in fragment.content


def test_it_shows_form_errors(setup: dict[str, Any]) -> None:
    response = _client(setup["pm"]).post(f"/projects/{setup['project'].slug}/exports/", {"format": "csv"})
    assert response.status_code == 200
    assert b"field-error" in response.content
    assert not Export.objects.exists()


def test_it_refuses_the_page_to_outsiders_and_non_pms(setup: dict[str, Any]) -> None:
    project = setup["project"]
    export = Export.objects.create(project=project, format="trl")
    outsider = MembershipFactory.create(role=Role.PM).user  # a PM elsewhere
    annotator = MembershipFactory.create(project=project, role=Role.ANNOTATOR).user
    for path in (f"/projects/{project.slug}/exports/", f"/projects/{project.slug}/exports/{export.pk}/"):
        assert _client(outsider).get(path).status_code == 404
        assert _client(annotator).get(path).status_code == 403
    other = MembershipFactory.create(role=Role.PM)
    # An export id under a project the caller manages, but belonging to another project: 404.
    assert _client(other.user).get(f"/projects/{other.project.slug}/exports/{export.pk}/").status_code == 404
    assert Client().get(f"/projects/{project.slug}/exports/").status_code == 302  # to login


def test_it_refuses_the_wrong_method(setup: dict[str, Any]) -> None:
    project = setup["project"]
    export = Export.objects.create(project=project, format="trl")
    client = _client(setup["pm"])
    assert client.put(f"/projects/{project.slug}/exports/").status_code == 405
    assert client.post(f"/projects/{project.slug}/exports/{export.pk}/").status_code == 405


def test_it_serves_the_api_docs_page_without_scripts(client: Client) -> None:
    response = client.get("/api/docs/")
    assert response.status_code == 200
    assert b"/api/streams/{stream_id}/export/" in response.content
    assert b"<script>" not in response.content
    schema = client.get("/api/schema/")
    assert schema.status_code == 200


def test_it_offers_every_format_and_writes_llama_factory_with_its_card(
    setup: dict[str, Any], django_capture_on_commit_callbacks: Any
) -> None:
    project, stream = setup["project"], setup["stream"]
    judged_item(stream, ["A", "A", "B"])
    client = _client(setup["pm"])
    url = f"/projects/{project.slug}/exports/"
    page = client.get(url).content.decode()
    for name in ("openrlhf", "llama-factory", "rewardbench", "helpsteer", "safe-rlhf"):
        assert f'value="{name}"' in page
    form = {"streams": [stream.pk], "aggregate": "majority", "min_agreement": "0", "min_judgements": "1"}
    form |= {"test_fraction": "0", "seed": "0", "confidence": "on", "margin": "on", "ties": "drop"}
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url, {**form, "format": "llama-factory", "licence": "CC-BY-4.0"})
    export = Export.objects.get()
    assert response.status_code == 302
    assert export.status == Export.Status.DONE, export.error
    detail = client.get(response["Location"]).content.decode()
    assert "dataset_info.json" in detail
    assert "README.md" in detail
    assert 'data-testid="label-smoothing">0.3333' in detail
    card = client.get(f"{url}{export.pk}/files/README.md")
    assert b"Licence: CC-BY-4.0" in b"".join(card.streaming_content)

    refused = client.post(url, {**form, "format": "rewardbench"})
    assert refused.status_code == 200
    assert "held-out evaluation set" in refused.content.decode()
    assert Export.objects.count() == 1
