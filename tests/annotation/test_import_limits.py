"""Imports cannot be made to cost unbounded work or memory: a gzip bomb (small file, huge
expansion) never runs inside the web request and stops at the decompressed-size cap with nothing
imported; an over-long line is an error naming the line and is never held in memory whole."""

from __future__ import annotations

import gzip
import io
import time
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from annotation.importing import InvalidImport, import_items
from annotation.models import ImportBatch, Item
from projects.models import Stream
from tests.annotation.test_import_views import item, jsonl, pm_stream, upload
from tests.factories import StreamFactory

pytestmark = pytest.mark.django_db
__all__ = ["pm_stream"]
MiB = 1024 * 1024


@pytest.fixture(autouse=True)
def _media(settings: Any, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"


def _bomb(head: bytes, expanded: int, filler: bytes = b" ") -> bytes:
    """``head`` followed by ``expanded`` bytes of ``filler``, gzipped: ~1,000× smaller."""
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", compresslevel=9) as gz:
        gz.write(head)
        block = filler * MiB
        for _ in range(expanded // MiB):
            gz.write(block)
    return out.getvalue()


def test_a_gzip_bomb_upload_goes_to_the_worker_and_stops_at_the_cap(
    client: Client, pm_stream: Stream, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.QUORUM_IMPORT_MAX_DECOMPRESSED_BYTES = 2 * MiB
    settings.QUORUM_IMPORT_MAX_LINE_BYTES = 1 * MiB
    bomb = _bomb(jsonl(item(1), item(2), item(3)), 256 * MiB)
    assert len(bomb) < settings.QUORUM_ASYNC_IMPORT_BYTES  # small enough to have run in the request
    started = time.monotonic()
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = client.post(f"/streams/{pm_stream.pk}/import/", upload(bomb, "items.jsonl.gz", skip_invalid="on"))
    elapsed = time.monotonic() - started
    assert response.status_code == 302
    assert len(callbacks) == 1  # queued for the worker (eager here), not imported in the request
    batch = ImportBatch.objects.get(stream=pm_stream)
    assert batch.file_path  # stored for the worker
    assert batch.status == "failed"
    limit_errors = [e for e in batch.report["errors"] if "when decompressed" in e["message"]]
    assert [e["line"] for e in limit_errors] == [4]  # the long line 4 is where the cap was reached
    assert "expands beyond 2 MiB when decompressed (QUORUM_IMPORT_MAX_DECOMPRESSED_BYTES)" in limit_errors[0]["message"]
    assert not Item.objects.filter(stream=pm_stream).exists()  # even with skip_invalid: nothing
    assert elapsed < 10  # 256 MiB were never inflated


def test_a_csv_gzip_bomb_stops_at_the_cap_naming_the_line(settings: Any) -> None:
    settings.QUORUM_IMPORT_MAX_DECOMPRESSED_BYTES = 1 * MiB
    stream = StreamFactory.create()
    rows = b"id,prompt,response_a,response_b\n" + b"".join(b"q%d,P%d?,a,b\n" % (n, n) for n in range(1, 6))
    bomb = _bomb(rows + b"q6,", 128 * MiB)  # one endless field on line 7
    with pytest.raises(InvalidImport) as caught:
        import_items(
            stream=stream,
            source=io.BytesIO(bomb),
            filename="items.csv.gz",
            fmt="mapped",
            mapping="id=id,prompt=prompt,response_1=response_a,response_2=response_b",
            skip_invalid=True,
        )
    errors = [str(e) for e in caught.value.report.errors]
    assert errors == [
        "line 7: the file expands beyond 1 MiB when decompressed (QUORUM_IMPORT_MAX_DECOMPRESSED_BYTES); "
        "nothing was imported"
    ]
    assert not Item.objects.filter(stream=stream).exists()


def test_an_over_long_line_is_an_error_naming_it_in_bounded_memory(settings: Any) -> None:
    settings.QUORUM_IMPORT_MAX_LINE_BYTES = 64 * 1024
    stream = StreamFactory.create()
    long_line = b'{"id": "q2", "prompt": "' + b"a" * (40 * MiB) + b'", "responses": ["x", "y"]}'
    content = jsonl(item(1), long_line, item(3))
    tracemalloc.start()
    try:
        with pytest.raises(InvalidImport) as caught:
            import_items(stream=stream, source=io.BytesIO(content), filename="items.jsonl")
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert [str(e) for e in caught.value.report.errors] == [
        "line 2: the line is longer than 65536 bytes (QUORUM_IMPORT_MAX_LINE_BYTES)"
    ]
    assert caught.value.report.lines_read == 3  # the lines after it were read too
    assert peak < 8 * MiB, peak  # the 40 MiB line was never held whole


def test_a_plain_small_upload_still_runs_in_the_request(
    client: Client, pm_stream: Stream, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        client.post(f"/streams/{pm_stream.pk}/import/", upload(jsonl(item(1))))
    assert callbacks == []
    assert ImportBatch.objects.get(stream=pm_stream).status == "done"


def test_an_integer_beyond_64_bits_is_an_error_naming_line_and_field() -> None:
    stream = StreamFactory.create()
    big = b'{"id": "q2", "prompt": "P?", "responses": ["a", "b"], "metadata": {"ids": [1, 123456789012345678901234]}}'
    with pytest.raises(InvalidImport) as caught:
        import_items(stream=stream, source=io.BytesIO(jsonl(item(1), big)), filename="items.jsonl")
    assert [str(e) for e in caught.value.report.errors] == [
        'line 2, field "metadata.ids[1]": the integer 123456789012345678901234 does not fit in 64 bits and would be '
        "stored rounded; quote it as a string to keep it exactly"
    ]


def test_64_bit_integers_and_long_digit_strings_are_kept_exactly() -> None:
    stream = StreamFactory.create()
    exact: dict[str, Any] = {"id": "q1", "prompt": "P?", "responses": ["a", "b"]}
    exact["metadata"] = {"u64": 2**64 - 1, "i64": -(2**63), "beyond_js": 2**53 + 1, "text": "123456789012345678901234"}
    import_items(stream=stream, source=io.BytesIO(jsonl(exact)), filename="items.jsonl")
    assert Item.objects.get(stream=stream).metadata == exact["metadata"]
