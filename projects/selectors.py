"""Shared reads of the ground floor: a stream's guideline versions and the line diff between two."""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from django.db.models import QuerySet

from projects.models import GuidelineVersion, Stream

# Unchanged lines shown around each change; the rest of the text is folded into a "…" row.
DIFF_CONTEXT_LINES = 2


@dataclass(frozen=True)
class DiffLine:
    """One row of a guidelines diff: ``kind`` is "add", "del", "same" or "gap" (unchanged lines
    left out). ``text`` is raw text: templates escape it like any other value."""

    kind: str
    text: str

    @property
    def marker(self) -> str:
        return {"add": "+", "del": "−", "same": " ", "gap": "…"}[self.kind]


def guideline_versions(stream: Stream) -> QuerySet[GuidelineVersion]:
    """The stream's versions, newest first, with their authors."""
    return GuidelineVersion.objects.filter(stream=stream).select_related("author").order_by("-number")


def guideline_version(stream: Stream, number: int) -> GuidelineVersion | None:
    return GuidelineVersion.objects.filter(stream=stream, number=number).select_related("author").first()


def guideline_diff(old: str, new: str, *, context: int = DIFF_CONTEXT_LINES) -> list[DiffLine]:
    """The lines of ``new`` against ``old`` (``difflib.unified_diff`` by line), with
    ``context`` unchanged lines around each change and a "gap" row for the lines left out. An
    empty list when the texts have the same lines."""
    lines: list[DiffLine] = []
    diff = difflib.unified_diff(old.splitlines(), new.splitlines(), lineterm="", n=context)
    for raw in diff:
        if raw.startswith(("---", "+++")):
            continue
        if raw.startswith("@@"):
            if lines:
                lines.append(DiffLine("gap", ""))
            continue
        kind = {"+": "add", "-": "del"}.get(raw[:1], "same")
        lines.append(DiffLine(kind, raw[1:]))
    return lines


@dataclass(frozen=True)
class GuidelineChange:
    """What the "guidelines changed" notice shows: from the version the reader acknowledged last
    to the current one, the change notes in between and the diff of the two texts."""

    from_number: int
    to_number: int
    notes: list[GuidelineVersion]
    diff: list[DiffLine]


def guideline_change(stream: Stream, since: int) -> GuidelineChange | None:
    """The change from version ``since`` to the stream's current version, or None when there is
    none (``since`` is current, or 0: the reader has not started under any version). One query."""
    current = stream.guideline_version
    if since <= 0 or since >= current:
        return None
    versions = list(GuidelineVersion.objects.filter(stream=stream, number__gte=since).order_by("number"))
    old = versions[0].text if versions and versions[0].number == since else ""
    notes = [v for v in versions if v.number > since]
    return GuidelineChange(since, current, notes, guideline_diff(old, stream.guidelines))
