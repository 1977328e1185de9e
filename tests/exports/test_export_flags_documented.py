"""docs/export.md documents every flag of ``export_preferences``: a flag added without a line in
its table fails here."""

from __future__ import annotations

import re
from pathlib import Path

from django.core.management import load_command_class

DOC = Path(__file__).resolve().parents[2] / "docs" / "export.md"


def test_every_export_flag_has_a_row_in_docs_export_md() -> None:
    parser = load_command_class("exports", "export_preferences").create_parser("manage.py", "export_preferences")
    flags = {option for action in parser._actions for option in action.option_strings if option.startswith("--")}
    flags -= {"--help", "--version", "--verbosity", "--settings", "--pythonpath", "--traceback", "--no-color"}
    flags -= {"--force-color", "--skip-checks"}
    table = DOC.read_text(encoding="utf-8").split("## Every flag of `export_preferences`", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"^\| `(--[a-z-]+)", table, flags=re.MULTILINE))
    documented |= set(re.findall(r"`(--[a-z-]+)[^`]*`", table))
    assert "--include-inactive-annotators" in flags
    assert sorted(flags - documented) == []
