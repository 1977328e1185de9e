"""Questions of a qualification test from a file: every line is an item in any ``import_items``
format (native, trl, hh, mapped — read by the same converters, sources and writer) plus its
acceptable answers and an explanation::

    {"id": "q1", "prompt": "2 + 2?", "responses": ["4", "5"], "answers": ["A"], "explanation": "4."}

- ``answers``: a letter, ``tie`` or ``both_bad`` (or a list of them: any is accepted), or a
  1-based response number; letters name the responses **in the file's order** and are remapped to
  the canonical order like golden answers. Without ``answers``, the line's golden answer (native
  ``golden.answers``, mapped ``--map golden=...``) is used.
- ``explanation``: shown after a wrong answer when the test allows it (else ``golden.explanation``).

Items are stored with ``pool=qualification`` (never served as work) and upserted on their external
id, so re-importing a file updates the questions instead of duplicating them. All or nothing: one
invalid line and nothing is written.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import IO, Any

from django.db import transaction
from django.utils import timezone

from annotation.importing import AUTO, FORMAT_CHOICES, ImportIssue, ImportOptionsError, choose_format, parse_mapping
from annotation.importing.formats import _label, check_candidate_count, converter_for
from annotation.importing.records import RecordError, finalise
from annotation.importing.service import SeenIds
from annotation.importing.sources import open_source
from annotation.importing.writer import writer_for
from annotation.models import ImportBatch, Item
from annotation.strategies import StrategyCheck
from projects.models import Stream
from qualification import selectors, services
from qualification.models import QualificationTest

ANSWER_FIELDS = ("answers", "explanation")
MAX_ERRORS = 100


@dataclass
class QuestionImport:
    test: QualificationTest
    batch_id: int
    format: str = ""  # the format read: the detected one with auto
    detected: str = ""  # with auto: what the file was recognised as
    lines_read: int = 0
    items_created: int = 0
    items_updated: int = 0
    items_unchanged: int = 0
    questions_created: int = 0
    questions_updated: int = 0
    # The trivial strategies against the test as it stands after the import (warnings to show).
    strategies: StrategyCheck | None = None


@dataclass
class InvalidQuestions(Exception):
    """Nothing imported: ``errors`` names each bad line and field."""

    errors: list[ImportIssue] = field(default_factory=list)
    lines_read: int = 0

    def __str__(self) -> str:
        return f"Nothing imported: {len(self.errors)} invalid line{'s' if len(self.errors) != 1 else ''}."


def _answers(raw: object, k: int) -> list[int | str]:
    values = raw if isinstance(raw, list) else [raw]
    if not values or any(v is None or v == "" for v in values):
        raise RecordError("answers", 'must be an answer or a non-empty list of answers, e.g. ["A"] or ["A", "tie"]')
    return [_label(v, f"answers[{i}]" if isinstance(raw, list) else "answers", k) for i, v in enumerate(values)]


def import_questions(
    *,
    stream: Stream,
    source: str | os.PathLike[str] | IO[bytes],
    fmt: str = AUTO,
    mapping: Mapping[str, str] | list[str] | str | None = None,
    filename: str = "",
    created_by: Any = None,
    test_settings: dict[str, Any] | None = None,
) -> QuestionImport:
    """Imports questions into ``stream``'s test (created with ``test_settings`` if missing; given
    settings are saved on an existing test). Raises ``InvalidQuestions`` (nothing written) for bad
    lines, ``ImportOptionsError`` for a bad format or mapping (``FormatNotDetected`` when ``auto``
    cannot tell the format: the message names what the file looks like), ``FileNotFoundError``."""
    if fmt not in FORMAT_CHOICES:
        raise ImportOptionsError(f"Unknown format {fmt!r} (formats: {', '.join(FORMAT_CHOICES)}).")
    if mapping and fmt == AUTO:
        fmt = "mapped"  # a mapping says which format it is for
    if mapping and fmt != "mapped":
        raise ImportOptionsError("A field mapping applies to the mapped format only.")
    fields = parse_mapping(mapping) if fmt == "mapped" else {}
    pairwise = stream.task_kind == Stream.TaskKind.PAIRWISE
    errors: list[ImportIssue] = []
    parsed: list[tuple[Any, list[str], str]] = []  # (item row, canonical answers, explanation)
    seen = SeenIds()
    with open_source(source, name=filename) as opened:
        asked = fmt
        src, fmt, detection = choose_format(opened, fmt)
        detected = detection.label if asked == AUTO else ""
        converter = converter_for(fmt, fields)
        name = src.name
        lines_read = 0
        for line, record in src.records():
            lines_read = line
            try:
                if isinstance(record, RecordError):
                    raise record
                record = dict(record)
                raw_answers = record.pop("answers", None)
                raw_explanation = record.pop("explanation", None)
                draft = converter(record)
                check_candidate_count(draft, pairwise=pairwise)
                k = len(draft.candidates)
                if raw_answers is not None:
                    draft.golden_answers = _answers(raw_answers, k)
                if not draft.golden_answers:
                    raise RecordError("answers", 'missing: give the acceptable answers, e.g. "answers": ["A"]')
                if raw_explanation is not None and not isinstance(raw_explanation, str):
                    raise RecordError("explanation", "must be a string")
                explanation = raw_explanation if raw_explanation is not None else draft.golden_explanation
                # The answers in canonical order, the way golden answers are remapped ...
                answers = finalise(draft, line=line).golden_answers
                # ... and the item itself without them: a question is not a golden item.
                draft.golden_answers, draft.golden_explanation, draft.golden_harmful = None, "", False
                draft.pool = Item.Pool.QUALIFICATION
                row = finalise(draft, line=line)
                first = seen.first_line(row.external_id, line)
                if first != line:
                    raise RecordError("id", f"duplicate id {row.external_id!r}: already used on line {first}")
                parsed.append((row, answers, explanation or ""))
            except RecordError as err:
                errors.append(ImportIssue(line, err.field, err.message))
                if len(errors) >= MAX_ERRORS:
                    break
    work_ids = set(
        Item.objects.filter(
            stream=stream, pool=Item.Pool.WORK, external_id__in=[row.external_id for row, _a, _e in parsed]
        ).values_list("external_id", flat=True)
    )
    for row, _a, _e in parsed:
        if row.external_id in work_ids:
            errors.append(
                ImportIssue(
                    row.line,
                    "id",
                    f"{row.external_id!r} is a work item of this stream: pick it on the test page instead",
                )
            )
    if errors:
        errors.sort(key=lambda issue: issue.line)
        raise InvalidQuestions(errors, lines_read)

    with transaction.atomic():
        test = QualificationTest.objects.filter(stream=stream).first()
        if test is None or test_settings:
            test = services.get_or_create_test(stream=stream, **(test_settings or {}))
        batch = ImportBatch.objects.create(
            stream=stream,
            created_by=created_by,
            filename=name[:300],
            format=fmt,
            options={"mapping": fields, "qualification": True},
            status=ImportBatch.Status.RUNNING,
        )
        writer = writer_for(stream=stream, batch=batch, now=timezone.now())
        try:
            result = writer.write([row for row, _a, _e in parsed]) if parsed else None
        except BaseException as exc:
            writer.close(exc)
            raise
        writer.close()
        report = QuestionImport(test=test, batch_id=batch.pk, format=fmt, detected=detected, lines_read=lines_read)
        if result is not None:
            report.items_created, report.items_updated = result.created, result.updated
            report.items_unchanged = result.unchanged
        items = {
            item.external_id: item
            for item in Item.objects.filter(stream=stream, external_id__in=[row.external_id for row, _a, _e in parsed])
        }
        existing = set(test.questions.values_list("item_id", flat=True))
        for row, answers, explanation in parsed:
            item = items[row.external_id]
            services.add_question(test=test, item=item, answers=answers, explanation=explanation)
            if item.pk in existing:
                report.questions_updated += 1
            else:
                report.questions_created += 1
        batch.status = ImportBatch.Status.DONE
        batch.lines_read = lines_read
        batch.created_count, batch.updated_count = report.items_created, report.items_updated
        batch.unchanged_count = report.items_unchanged
        batch.report = {"questions_created": report.questions_created, "questions_updated": report.questions_updated}
        batch.finished_at = timezone.now()
        batch.save()
    report.strategies = selectors.strategy_check(test)
    return report
