"""Cells for CSV files a person may open in a spreadsheet.

A cell whose text starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is read by
Excel, LibreOffice and Google Sheets as a formula (``=HYPERLINK(...)``, ``+cmd|' /C calc'!A0``):
imported data or an annotator's text would run in the PM's spreadsheet. ``safe_cell`` prefixes
such text with a single quote, which spreadsheets show as text and do not evaluate (OWASP's "CSV
injection" advice). Quorum writes no CSV today (exports are JSONL); any module that starts to must
pass its cells through here — ``tests/security/test_csv_injection.py`` fails otherwise.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    """``value`` as a spreadsheet will show it as text: strings that would start a formula get a
    leading ``'``; numbers, None and other strings are returned unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def safe_row(values: Iterable[Any]) -> list[Any]:
    return [safe_cell(v) for v in values]
