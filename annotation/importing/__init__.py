"""Importing datasets into a stream: native JSONL, TRL preference data, HH-RLHF transcripts, and
any JSONL/CSV with a field mapping (AlpacaEval built in), or ``auto``: detected from the first
records. See docs/import.md.

    report = import_items(stream=stream, source="pairs.jsonl.gz", fmt="hh", on_mismatch="skip")
"""

from __future__ import annotations

from annotation.importing.detect import AUTO, Detection, FormatNotDetected, choose_format, detect
from annotation.importing.formats import FORMATS, PRESETS, ImportOptionsError, parse_mapping
from annotation.importing.service import (
    FORMAT_CHOICES,
    MISMATCH_MODES,
    ImportIssue,
    ImportReport,
    InvalidImport,
    import_items,
    report_path,
    run_batch,
    store_upload,
)

__all__ = [
    "AUTO",
    "FORMATS",
    "FORMAT_CHOICES",
    "MISMATCH_MODES",
    "PRESETS",
    "Detection",
    "FormatNotDetected",
    "ImportIssue",
    "ImportOptionsError",
    "ImportReport",
    "InvalidImport",
    "choose_format",
    "detect",
    "import_items",
    "parse_mapping",
    "report_path",
    "run_batch",
    "store_upload",
]
