"""The import upload and the batch page (progress and report)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from annotation.models import ImportBatch, Item
from projects.models import Role, Stream
from tests.factories import StreamFactory
from tests.projects.web_helpers import HTMX, member, outsider, project_with_pm

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _media(settings: Any, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"


def jsonl(*records: Any) -> bytes:
    return b"".join((r if isinstance(r, bytes) else json.dumps(r).encode()) + b"\n" for r in records)


def item(n: int) -> dict[str, Any]:
    return {"id": f"q{n}", "prompt": f"Question {n}?", "responses": [f"Short {n}.", f"Longer {n}."]}


def upload(content: bytes, name: str = "items.jsonl", **fields: Any) -> dict[str, Any]:
    return {"file": SimpleUploadedFile(name, content), "format": "native", "on_mismatch": "full", **fields}


@pytest.fixture
def pm_stream(client: Client) -> Stream:
    project, pm = project_with_pm()
    client.force_login(pm)
    return StreamFactory.create(project=project)


def test_it_imports_a_small_upload_in_the_request(client: Client, pm_stream: Stream) -> None:
    response = client.post(f"/streams/{pm_stream.pk}/import/", upload(jsonl(item(1), item(2))))
    batch = ImportBatch.objects.get(stream=pm_stream)
    assert response.status_code == 302
    assert response["Location"] == f"/streams/{pm_stream.pk}/imports/{batch.pk}/"
    assert (batch.status, batch.created_count, batch.filename, batch.file_path) == ("done", 2, "items.jsonl", "")
    assert batch.created_by is not None
    assert Item.objects.filter(stream=pm_stream).count() == 2

    page = client.get(response["Location"])
    assert page.status_code == 200
    assert "<dt>Created</dt><dd>2</dd>" in page.content.decode()
    assert 'hx-trigger="every 1s"' not in page.content.decode()  # done: no polling


def test_it_reads_a_gzipped_mapped_upload(
    client: Client, pm_stream: Stream, django_capture_on_commit_callbacks: Any
) -> None:
    content = gzip.compress(jsonl({"q": "Why?", "a": "Because.", "b": "No.", "src": "x"}))
    mapping = "prompt=q\nresponse_1=a\nresponse_2=b"
    with django_capture_on_commit_callbacks(execute=True) as callbacks:  # gzip: always the worker
        client.post(
            f"/streams/{pm_stream.pk}/import/", upload(content, "pairs.jsonl.gz", format="mapped", mapping=mapping)
        )
    assert len(callbacks) == 1
    assert Item.objects.get(stream=pm_stream).metadata == {"src": "x"}


def test_it_shows_the_errors_of_an_invalid_upload_and_imports_nothing(client: Client, pm_stream: Stream) -> None:
    content = jsonl(item(1), b'{"id": "q2", "prompt": "Q", "responses": ["a", ""]}', b"{oops")
    response = client.post(f"/streams/{pm_stream.pk}/import/", upload(content), follow=True)
    body = response.content.decode()
    assert "Nothing was imported: 2 invalid lines" in body
    assert "<code>line 2</code>, field <code>responses[1]</code>: must be a non-empty string" in body
    assert "<code>line 3</code>: invalid JSON" in body
    assert not Item.objects.filter(stream=pm_stream).exists()
    batch = ImportBatch.objects.get(stream=pm_stream)
    report = client.get(f"/streams/{pm_stream.pk}/imports/{batch.pk}/report/")
    assert report.status_code == 200
    assert b'line 2, field "responses[1]"' in b"".join(report.streaming_content)


def test_it_imports_the_rest_with_skip_invalid(client: Client, pm_stream: Stream) -> None:
    content = jsonl(item(1), b"{oops", item(3))
    client.post(f"/streams/{pm_stream.pk}/import/", upload(content, skip_invalid="on"))
    batch = ImportBatch.objects.get(stream=pm_stream)
    assert (batch.status, batch.created_count, batch.invalid_count) == ("done", 2, 1)
    assert batch.options["skip_invalid"] is True


def test_it_runs_a_large_upload_as_a_task(
    client: Client, pm_stream: Stream, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.QUORUM_ASYNC_IMPORT_BYTES = 10
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = client.post(f"/streams/{pm_stream.pk}/import/", upload(jsonl(item(1), item(2), item(3))))
    assert len(callbacks) == 1
    batch = ImportBatch.objects.get(stream=pm_stream)
    assert response["Location"] == f"/streams/{pm_stream.pk}/imports/{batch.pk}/"
    assert (batch.status, batch.created_count) == ("done", 3)
    assert batch.file_path.startswith(str(settings.MEDIA_ROOT / "imports"))
    assert not Path(batch.file_path).exists()  # the stored upload is removed once imported


def test_it_polls_while_a_batch_runs_and_answers_htmx_with_the_fragment(client: Client, pm_stream: Stream) -> None:
    batch = ImportBatch.objects.create(
        stream=pm_stream, filename="big.jsonl", format="native", status="running", total_bytes=1000, bytes_read=250
    )
    url = f"/streams/{pm_stream.pk}/imports/{batch.pk}/"
    page = client.get(url).content.decode()
    assert f'hx-get="{url}" hx-trigger="every 1s"' in page
    assert '<progress max="100" value="25"' in page
    assert '<meta http-equiv="refresh" content="2">' in page  # without JavaScript
    fragment = client.get(url, **HTMX).content.decode()
    assert fragment.lstrip().startswith('<section class="card" id="import-progress"')
    assert "<html" not in fragment


def test_it_shows_the_form_again_with_errors(client: Client, pm_stream: Stream) -> None:
    url = f"/streams/{pm_stream.pk}/import/"
    response = client.post(url, {"format": "native", "on_mismatch": "full"})
    assert response.status_code == 400
    assert "This field is required." in response.content.decode()
    response = client.post(url, upload(b"x", "notes.txt"))
    assert "Upload a .jsonl, .csv or .tsv file" in response.content.decode()
    response = client.post(url, upload(jsonl(item(1)), mapping="prompt=q"))
    assert "A mapping applies to the mapped format only." in response.content.decode()
    response = client.post(url, upload(jsonl({"question": "Q"}), format="mapped"))
    assert response.status_code == 400
    assert "needs a mapping" in response.content.decode()
    assert not ImportBatch.objects.filter(status="done").exists()


def test_it_puts_the_import_card_on_the_pm_stream_page(client: Client, pm_stream: Stream) -> None:
    body = client.get(f"/streams/{pm_stream.pk}/").content.decode()
    assert f'action="/streams/{pm_stream.pk}/import/" enctype="multipart/form-data"' in body
    assert 'name="csrfmiddlewaretoken"' in body


@pytest.mark.parametrize("role", [Role.ANNOTATOR, Role.REVIEWER])
def test_it_forbids_members_below_pm(client: Client, role: str) -> None:
    project, _ = project_with_pm()
    stream = StreamFactory.create(project=project)
    batch = ImportBatch.objects.create(stream=stream, filename="a.jsonl", format="native")
    client.force_login(member(project, role))
    assert client.post(f"/streams/{stream.pk}/import/", upload(jsonl(item(1)))).status_code == 403
    assert client.get(f"/streams/{stream.pk}/imports/{batch.pk}/").status_code == 403
    assert not Item.objects.exists()


def test_it_hides_imports_from_outsiders(client: Client) -> None:
    project, _ = project_with_pm()
    stream = StreamFactory.create(project=project)
    batch = ImportBatch.objects.create(stream=stream, filename="a.jsonl", format="native")
    client.force_login(outsider())
    assert client.post(f"/streams/{stream.pk}/import/", upload(jsonl(item(1)))).status_code == 404
    assert client.get(f"/streams/{stream.pk}/imports/{batch.pk}/").status_code == 404
    assert client.get(f"/streams/{stream.pk}/imports/{batch.pk}/report/").status_code == 404


def test_it_finds_a_batch_only_in_its_stream(client: Client, pm_stream: Stream) -> None:
    other = ImportBatch.objects.create(stream=StreamFactory.create(), filename="a.jsonl", format="native")
    assert client.get(f"/streams/{pm_stream.pk}/imports/{other.pk}/").status_code == 404


def test_it_sends_anonymous_users_to_login(client: Client) -> None:
    stream = StreamFactory.create()
    response = client.post(f"/streams/{stream.pk}/import/", upload(jsonl(item(1))))
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/") or "login" in response["Location"]


def test_it_allows_only_the_right_methods(client: Client, pm_stream: Stream) -> None:
    batch = ImportBatch.objects.create(stream=pm_stream, filename="a.jsonl", format="native")
    assert client.get(f"/streams/{pm_stream.pk}/import/").status_code == 405
    assert client.post(f"/streams/{pm_stream.pk}/imports/{batch.pk}/").status_code == 405
    assert client.get(f"/streams/{pm_stream.pk}/imports/{batch.pk}/report/").status_code == 404  # no report yet
