"""Extension points of the ground floor, filled by the rooms above (``quorum.hooks``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from quorum.hooks import Hook

# A stream's overlap or adaptive overlap settings changed (called after the save; the receiver
# defers its work to COMMIT).
# annotation: re-open or close the stream's items.
stream_overlap_changed: Hook[Callable[[int], None]] = Hook("stream_overlap_changed")

# The stream page for PMs and reviewers: each function returns template context for the stream.
# annotation: item ``counts``, recent import ``batches``, ``progress`` and ``forecast`` (estimated finish).
stream_page_context: Hook[Callable[[Any], dict[str, Any]]] = Hook("stream_page_context")

# The program overview on the project page (PMs and reviewers): each function takes the project's
# streams and returns ``{stream_id: {name: value}}``; the page merges them per stream. A few grouped
# queries for all the streams at once, never per stream (the page stays fast with 20 streams and a
# million judgements: tests/projects/test_program_overview.py pins the count).
# annotation: ``today`` (the last 24 hours' judgements and active people, live).
# qc: from the last QC computation's stored snapshots: ``quality`` (figures, evidence flags, open
# alerts), ``progress`` (items done / total, golden) and ``week`` (judgements, active annotators).
stream_overview: Hook[Callable[[list[Any]], dict[int, dict[str, Any]]]] = Hook("stream_overview")
