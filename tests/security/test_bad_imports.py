"""Bad input to the importers, through the web upload and through ``manage.py import_items`` in a
real subprocess: invalid UTF-8, a 50 MB line, nesting 100 and 100,000 levels deep, NaN and
Infinity, a NUL character, a gzip bomb. Each is refused with an error naming its line, nothing is
imported (all-or-nothing), and the CLI's peak RSS (the subprocess's own ``VmHWM``) stays within a
fixed bound over the same command importing a three-line file.

``tests/annotation/test_import_limits.py`` covers the caps themselves (decompressed size, line
length, integers beyond 64 bits) in-process; this suite sends every kind of bad file through both
doors with the default settings and measures the memory of a real process."""

from __future__ import annotations

import functools
import gzip
import io
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.test import Client

from annotation.importing import import_items
from annotation.models import ImportBatch, Item
from projects.models import Role, Stream
from tests.annotation.test_import_views import item, jsonl, upload
from tests.factories import MembershipFactory, StreamFactory
from tests.processes import BASE_DIR, clean_environ
from tests.security.tally import Tally, record

pytestmark = pytest.mark.django_db(transaction=True)
MiB = 1024 * 1024
# Peak RSS an import of a bad file may add over importing three good lines: a line is read up to
# QUORUM_IMPORT_MAX_LINE_BYTES (32 MiB by default) and no further, and may be held twice (bytes,
# then the parser's copy), plus 16 MiB of slack.
RSS_MARGIN = 2 * 32 * MiB + 16 * MiB


def _bomb(head: bytes, expanded: int) -> bytes:
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", compresslevel=9) as gz:
        gz.write(head)
        block = b" " * MiB
        for _ in range(expanded // MiB):
            gz.write(block)
    return out.getvalue()


def _line(**fields: Any) -> bytes:
    base = b'{"id": "q2", "prompt": "P?", "responses": ["x", "y"]'
    extra = b"".join(b", " + f'"{k}": '.encode() + v for k, v in fields.items())
    return base + extra + b"}"


HEADER = b"id,prompt,response_a,response_b\n"
CSV_GOOD = b"q1,P1?,a,b\n", b"q3,P3?,a,b\n"


@functools.cache
def bad_files() -> dict[str, tuple[str, bytes, tuple[int, str]]]:
    """name -> (file name, content, (the line the error names, what it says)). The bad record is line 2 of the JSONL
    files and line 3 of the CSV files (after the header and one good row). Built once, when
    first asked for: the large ones take a few seconds."""
    fifty = b"a" * (50 * MiB)
    return {
        "invalid UTF-8": (
            "items.jsonl",
            jsonl(item(1), b'{"id": "q2", "prompt": "P\xff\xfe?", "responses": ["x", "y"]}', item(3)),
            (2, "contains bytes that are not valid UTF-8"),
        ),
        "invalid UTF-8 in CSV": (
            "items.csv",
            HEADER + CSV_GOOD[0] + b"q2,P\xff2?,a,b\n" + CSV_GOOD[1],
            (3, "bytes that are not valid UTF-8"),
        ),
        "50 MB line": (
            "items.jsonl",
            jsonl(item(1), b'{"id": "q2", "prompt": "' + fifty + b'", "responses": ["x", "y"]}', item(3)),
            (2, "the line is longer than 32 MiB"),
        ),
        "50 MB CSV field": (
            "items.csv",
            HEADER + CSV_GOOD[0] + b"q2," + fifty + b",a,b\n" + CSV_GOOD[1],
            (3, "the line is longer than 32 MiB"),
        ),
        "nested 100 deep": (
            "items.jsonl",
            jsonl(item(1), _line(metadata=b"[" * 100 + b"]" * 100), item(3)),
            (2, "nested deeper than 64 levels"),
        ),
        "nested 100,000 deep": (
            "items.jsonl",
            jsonl(item(1), _line(metadata=b"[" * 100_000 + b"]" * 100_000), item(3)),
            (2, "nested deeper than 64 levels"),
        ),
        "NaN": ("items.jsonl", jsonl(item(1), _line(metadata=b'{"score": NaN}'), item(3)), (2, "invalid JSON")),
        "Infinity": (
            "items.jsonl",
            jsonl(item(1), _line(metadata=b'{"score": -Infinity}'), item(3)),
            (2, "invalid JSON"),
        ),
        "NUL character": (
            "items.jsonl",
            jsonl(item(1), _line(metadata=b'{"note": "a\\u0000b"}'), item(3)),
            (2, "contains a NUL character"),
        ),
        "gzip bomb": (
            "items.jsonl.gz",
            _bomb(jsonl(item(1)) + b'{"id": "q2", "prompt": "', 128 * MiB),
            (2, "the line is longer than 32 MiB"),
        ),
    }


CSV_MAPPING = "id=id,prompt=prompt,response_1=response_a,response_2=response_b"


# Runs manage.py and prints the process's own peak RSS (VmHWM, kB) at exit. Not wait4's
# ru_maxrss: that includes the pages the child shared with this (large) test process before exec.
RUN_AND_REPORT = """
import atexit, runpy, sys
def report():
    status = open("/proc/self/status").read()
    sys.stderr.write("VmHWM " + status.split("VmHWM:")[1].split()[0] + "\\n")
atexit.register(report)
sys.argv = ["manage.py", *sys.argv[1:]]
runpy.run_path("manage.py", run_name="__main__")
"""


def _cli(stream: Stream, path: Path, media: Path) -> tuple[int, str, int]:
    """``manage.py import_items`` in a subprocess on the test database: (exit status, output,
    peak RSS in bytes)."""
    database = connection.settings_dict
    env = clean_environ(
        DATABASE_URL=f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/{database['NAME']}",
        MEDIA_ROOT=str(media),
        QUORUM_ENV="development",
    )
    args = [sys.executable, "-c", RUN_AND_REPORT, "import_items", "--stream", str(stream.pk), str(path)]
    if ".csv" in path.name:
        args += ["--format", "mapped", "--map", CSV_MAPPING]
    done = subprocess.run(args, cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=300, check=False)
    peak = re.search(r"^VmHWM (\d+)$", done.stderr, flags=re.MULTILINE)
    assert peak, done.stderr[-2000:]
    return done.returncode, done.stdout + done.stderr, int(peak.group(1)) * 1024


@pytest.fixture
def pm_client(settings: Any, tmp_path: Path) -> tuple[Client, Stream]:
    settings.MEDIA_ROOT = tmp_path / "media"
    stream = StreamFactory.create()
    pm = MembershipFactory.create(project=stream.project, role=Role.PM).user
    client = Client()
    client.force_login(pm)
    return client, stream


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the CLI subprocess needs the server database")
def test_the_cli_refuses_every_bad_file_naming_the_line_in_bounded_memory(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    stream = StreamFactory.create()
    good = tmp_path / "good.jsonl"
    good.write_bytes(jsonl(item(1), item(2), item(3)))
    status, output, baseline = _cli(stream, good, tmp_path / "media")
    assert status == 0, output
    Item.objects.filter(stream=stream).delete()
    tally = Tally("Bad input, CLI (files)")
    peaks = {}
    for name, (filename, content, (line, says)) in bad_files().items():
        path = tmp_path / filename
        path.write_bytes(content)
        status, output, peak = _cli(stream, path, tmp_path / "media")
        peaks[name] = peak
        named = any(f"line {line}" in row and says in row for row in output.splitlines())
        ok = status == 1 and named and peak <= baseline + RSS_MARGIN
        tally.check(ok, f"{name}: exit {status}, peak {peak / MiB:.0f} MiB, {output.strip()[-300:]!r}")
        tally.check(not Item.objects.filter(stream=stream).exists(), f"{name}: items were imported")
    record(request, tally)
    print(
        f"[security] CLI peak RSS: baseline {baseline / MiB:.0f} MiB; "
        + ", ".join(f"{n} {p / MiB:.0f}" for n, p in peaks.items())
    )
    assert tally.through == [], "\n".join(tally.through)


def test_the_web_upload_refuses_every_bad_file_naming_the_line(
    pm_client: tuple[Client, Stream], request: pytest.FixtureRequest
) -> None:
    client, stream = pm_client
    tally = Tally("Bad input, web upload (files)")
    for name, (filename, content, (line, says)) in bad_files().items():
        fields = {"format": "mapped", "mapping": CSV_MAPPING.replace(",", "\n")} if ".csv" in filename else {}
        response = client.post(f"/streams/{stream.pk}/import/", upload(content, filename, **fields))
        batch = ImportBatch.objects.filter(stream=stream).order_by("-pk").first()
        errors = batch.report.get("errors", []) if batch else []
        named = any(e["line"] == line and says in e["message"] for e in errors)
        ok = response.status_code in (200, 302) and batch is not None and batch.status == "failed" and named
        tally.check(ok, f"{name}: {response.status_code}, {batch.status if batch else None}, {errors[:3]}")
        tally.check(not Item.objects.filter(stream=stream).exists(), f"{name}: items were imported")
        if batch is not None and batch.status == "failed":
            page = client.get(f"/streams/{stream.pk}/imports/{batch.pk}/")
            tally.check(says.encode() in page.content, f"{name}: the import page does not say {says!r}")
    record(request, tally)
    assert tally.through == [], "\n".join(tally.through)


def test_a_csv_line_over_the_cap_is_skipped_and_the_lines_after_it_keep_their_numbers(settings: Any) -> None:
    """Before the cap on CSV lines, the reader took a whole line into memory (a 50 MB field cost
    the CLI 180 MiB) and only its field limit answered; now the line is cut off, reported, and
    the rows after it are read with their right line numbers."""
    settings.QUORUM_IMPORT_MAX_LINE_BYTES = 4096
    stream = StreamFactory.create()
    rows = [b"q1,P1?,a,b", b"q2," + b"x" * 100_000 + b",a,b", b"q3,P3?,a,b", b"q4,P4?,a", b"q5,P5?,a,b"]
    content = HEADER + b"\n".join(rows) + b"\n"
    report = import_items(
        stream=stream, source=io.BytesIO(content), filename="items.csv", fmt="mapped", mapping=CSV_MAPPING,
        skip_invalid=True,
    )  # fmt: skip
    errors = [(e.line, e.message) for e in report.errors]
    assert errors[0] == (3, "the line is longer than 4096 bytes (QUORUM_IMPORT_MAX_LINE_BYTES)")
    assert [line for line, _ in errors] == [3, 5]
    assert sorted(Item.objects.filter(stream=stream).values_list("external_id", flat=True)) == ["q1", "q3", "q5"]
