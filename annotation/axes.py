"""Answers with several axes: the helpful-and-safe and per-attribute pairwise task kinds.

One definition of a valid answer for the web form (``annotation.forms``) and the API
(``annotation.serializers``): both build the answer *as shown* (``"A"`` = the response displayed
first; safety flags and harm categories per display position), check it with ``errors`` and turn
it into the canonical ``Judgement.axes`` with ``Assignment.canonical_axes``:

- helpful_safe: ``{"helpful": "A"|"B"|"tie", "safer": "A"|"B"|"tie", "safe": [bool, bool],
  "harm": [str|None, str|None]}``; ``Judgement.choice`` is the helpful answer;
- attribute_pairwise: ``{"attributes": {name: "A"|"B"|"tie", ...}}``, one entry per attribute of
  the stream; ``Judgement.choice`` is the answer on the first attribute; the justification is
  ``Judgement.rationale``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from projects.models import Stream

AXIS_CHOICES = ("A", "B", "tie")
HELPFUL_SAFE_AXES = ("helpful", "safer")
AXIS_QUESTIONS = {"helpful": "Which response is more helpful?", "safer": "Which response is safer?"}


def word_count(text: str) -> int:
    """Words as a reader counts them: runs of non-space characters."""
    return len(text.split())


def errors(stream: Stream, shown: Mapping[str, Any], *, rationale: str, k: int = 2) -> dict[str, str]:
    """What is wrong with an answer of ``stream``'s task kind, keyed by the answer's part:
    ``"helpful"``, ``"safer"``, ``"safe"``, ``"harm"``, ``"attributes.<name>"``, ``"rationale"``.
    Empty when it is valid. ``shown`` is in display order."""
    problems: dict[str, str] = {}
    if k != 2:
        problems["responses"] = "This task kind compares exactly two responses."
        return problems
    known = {"helpful", "safer", "safe", "harm"} if stream.task_kind == Stream.TaskKind.HELPFUL_SAFE else {"attributes"}
    unknown_keys = sorted(str(key) for key in shown if key not in known)
    if unknown_keys:
        problems["keys"] = f"Unknown: {', '.join(unknown_keys)} (this task kind takes {', '.join(sorted(known))})."
    if stream.task_kind == Stream.TaskKind.HELPFUL_SAFE:
        for axis in HELPFUL_SAFE_AXES:
            if shown.get(axis) not in AXIS_CHOICES:
                problems[axis] = f"{AXIS_QUESTIONS[axis]} Choose A, B or tie."
        safe = shown.get("safe")
        if not isinstance(safe, list | tuple) or len(safe) != k or any(not isinstance(v, bool) for v in safe):
            problems["safe"] = "Mark each response safe or unsafe (true = safe), in display order."
            safe = None
        harm = shown.get("harm")
        if harm is None:
            harm = [None] * k
        categories = list(stream.harm_categories or [])
        if not isinstance(harm, list | tuple) or len(harm) != k:
            problems["harm"] = "Give one harm category or null per response, in display order."
        else:
            for position, category in enumerate(harm):
                if category in (None, ""):
                    continue
                if category not in categories:
                    allowed = ", ".join(categories) if categories else "none on this stream"
                    problems["harm"] = f"Unknown harm category {category!r} (categories: {allowed})."
                elif safe is not None and safe[position]:
                    problems["harm"] = f"Response {'AB'[position]} is marked safe: it takes no harm category."
    elif stream.task_kind == Stream.TaskKind.ATTRIBUTE_PAIRWISE:
        given = shown.get("attributes")
        given = given if isinstance(given, Mapping) else {}
        names = stream.axis_names()
        for name in names:
            if given.get(name) not in AXIS_CHOICES:
                problems[f"attributes.{name}"] = f"{name}: choose A, B or tie."
        unknown = [str(name) for name in given if name not in names]
        if unknown:
            problems["attributes"] = f"Not an attribute of this stream: {', '.join(unknown)}."
        minimum = stream.justification_min_words
        if minimum and word_count(rationale) < minimum:
            problems["rationale"] = (
                f"Write a justification of at least {minimum} words ({word_count(rationale)} so far)."
            )
    return problems


def choice_of(stream: Stream, axes: Mapping[str, Any]) -> str:
    """``Judgement.choice`` of a (valid, canonical) multi-axis answer: the helpful answer, or the
    answer on the stream's first attribute."""
    if stream.task_kind == Stream.TaskKind.HELPFUL_SAFE:
        return str(axes["helpful"])
    return str(axes["attributes"][stream.axis_names()[0]])


def any_unsafe(axes: Mapping[str, Any]) -> bool:
    """A helpful-and-safe answer flagged at least one response unsafe: the judgement's
    ``flag_harmful`` (what golden items marked harmful and the harmful-flag figures read)."""
    return any(value is False for value in axes.get("safe") or [])
