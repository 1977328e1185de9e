from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from annotation.models import Item
from qc.models import MetricSnapshot
from tests.api.conftest import World
from tests.factories import ItemFactory, StreamFactory, StreamMembershipFactory
from tests.qc.helpers import judged_item

pytestmark = pytest.mark.django_db


def test_it_lists_only_my_projects_and_streams(world: World) -> None:
    StreamMembershipFactory.create(stream=world.stream, user=world.annotator)
    client = world.client(world.annotator)
    response = client.get("/api/projects/")
    assert response.status_code == 200
    assert [p["slug"] for p in response.json()["results"]] == [world.project.slug]
    response = client.get("/api/streams/")
    assert [s["id"] for s in response.json()["results"]] == [world.stream.pk]


def test_it_hides_another_projects_objects(world: World) -> None:
    client = world.client(world.outsider)
    assert client.get(f"/api/projects/{world.project.slug}/").status_code == 404
    assert client.get(f"/api/streams/{world.stream.pk}/").status_code == 404
    assert client.get(f"/api/streams/{world.stream.pk}/items/").status_code == 404
    assert client.get(f"/api/streams/{world.stream.pk}/judgements/").status_code == 404
    assert client.get(f"/api/streams/{world.stream.pk}/metrics/").status_code == 404
    item = ItemFactory.create(stream=world.stream)
    assert client.get(f"/api/streams/{world.other_stream.pk}/items/{item.pk}/").status_code == 404


def test_it_refuses_anonymous_and_revoked_tokens(world: World) -> None:
    assert APIClient().get("/api/projects/").status_code in (401, 403)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token qrm_not-a-real-key")
    assert client.get("/api/projects/").status_code == 401


def test_it_keeps_items_and_judgements_from_annotators(world: World) -> None:
    judged_item(world.stream, ["A"], is_golden=True, golden_answers=["A"])
    client = world.client(world.annotator)
    assert client.get(f"/api/streams/{world.stream.pk}/items/").status_code == 403
    assert client.get(f"/api/streams/{world.stream.pk}/judgements/").status_code == 403
    assert client.get(f"/api/streams/{world.stream.pk}/metrics/").status_code == 403


def test_it_lists_items_with_filters_and_ordering_for_reviewers(world: World) -> None:
    golden = ItemFactory.create(stream=world.stream, is_golden=True, golden_answers=["B"])
    plain = ItemFactory.create(stream=world.stream)
    client = world.client(world.reviewer)
    url = f"/api/streams/{world.stream.pk}/items/"
    results = client.get(url, {"ordering": "-id"}).json()["results"]
    assert [r["id"] for r in results] == [plain.pk, golden.pk]
    results = client.get(url, {"is_golden": "true"}).json()["results"]
    assert [r["golden_answers"] for r in results] == [["B"]]
    results = client.get(url, {"is_golden": "false"}).json()["results"]
    assert [r["id"] for r in results] == [plain.pk]
    # Ordering on a field not allow-listed is ignored, not obeyed.
    results = client.get(url, {"ordering": "golden_answers"}).json()["results"]
    assert [r["id"] for r in results] == [golden.pk, plain.pk]
    assert client.get(url, {"pool": "nope"}).status_code == 400
    assert client.get(f"{url}{plain.pk}/").json()["context"] == plain.context


def test_it_lists_judgements_for_reviewers(world: World) -> None:
    item = judged_item(world.stream, ["A", "B"])
    client = world.client(world.pm)
    url = f"/api/streams/{world.stream.pk}/judgements/"
    results = client.get(url).json()["results"]
    assert len(results) == 2
    assert {r["item"] for r in results} == {item.pk}
    assert [r["choice"] for r in client.get(url, {"choice": "B"}).json()["results"]] == ["B"]
    assert client.get(url, {"item": "x"}).status_code == 400
    assert client.get(url, {"submitted_after": "not-a-date"}).status_code == 400


def test_it_pages_results(world: World) -> None:
    Item.objects.bulk_create([Item(stream=world.stream, external_id=f"bulk-{n}", content_hash="x") for n in range(55)])
    client = world.client(world.pm)
    page = client.get(f"/api/streams/{world.stream.pk}/items/").json()
    assert page["count"] == 55
    assert len(page["results"]) == 50
    assert page["next"]


def test_it_lists_metric_snapshots(world: World) -> None:
    MetricSnapshot.objects.create(stream=world.stream, metric="agreement", value=0.7, sample_size=40)
    # PMs only: reviewers review blind, annotators' figures by name are not theirs.
    assert world.client(world.reviewer).get(f"/api/streams/{world.stream.pk}/metrics/").status_code == 403
    client = world.client(world.pm)
    results = client.get(f"/api/streams/{world.stream.pk}/metrics/", {"metric": "agreement"}).json()["results"]
    assert [(r["metric"], r["value"]) for r in results] == [("agreement", 0.7)]


def test_it_filters_streams_by_project(world: World) -> None:
    StreamFactory.create(project=world.project, status="paused")
    client = world.client(world.pm)
    assert len(client.get("/api/streams/", {"project": world.project.slug}).json()["results"]) == 2
    assert len(client.get("/api/streams/", {"status": "paused"}).json()["results"]) == 1
    assert client.get("/api/streams/", {"status": "weird"}).status_code == 400


def test_it_refuses_writes_to_read_only_endpoints(world: World) -> None:
    client = world.client(world.pm)
    assert client.post("/api/projects/", {}).status_code == 405
    assert client.delete(f"/api/streams/{world.stream.pk}/").status_code == 405
