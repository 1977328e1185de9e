"""The stream settings the commands take (``create_stream``, ``update_stream``): one flag per field
of the stream form (``projects.forms.StreamForm``), validated by that form, so a setting is
refused on the command line exactly when the stream page would refuse it. Errors name the flag."""

from __future__ import annotations

import argparse
from typing import Any

from django.core.management.base import CommandError, CommandParser

from projects.forms import StreamForm, bound_stream_form
from projects.models import Project, Stream

# field -> flag, where the flag is not simply --field-with-hyphens.
FLAG_NAMES = {"task_kind": "--kind", "guidelines": "--guidelines-file"}


def flag(field: str) -> str:
    return FLAG_NAMES.get(field, "--" + field.replace("_", "-"))


def add_setting_arguments(parser: CommandParser, *, skip: tuple[str, ...] = ()) -> None:
    """Flags for the stream form's settings (all default to "not given"); ``skip`` leaves out
    those the command declares itself."""

    def add(field: str, **kwargs: Any) -> None:
        if field not in skip:
            parser.add_argument(flag(field), dest=field, default=None, **kwargs)

    add("name", help="Display name.")
    add("priority", type=int, metavar="N", help="Higher streams are offered first.")
    add("status", choices=Stream.Status.values)
    add("task_kind", choices=Stream.TaskKind.values, help="pairwise, ranking, helpful_safe or attribute_pairwise.")
    add("mode", choices=Stream.Mode.values)
    add("rubric", metavar="A,B", help=f"Attributes rated 0-4, comma-separated ({', '.join(Stream.RUBRIC_CHOICES)}).")
    add(
        "attributes",
        metavar="A,B",
        help="Per-attribute pairwise streams: the attributes judged A/B/tie, comma-separated, most important first.",
    )
    add("justification_min_words", type=int, metavar="N", help="Per-attribute pairwise: words a justification needs.")
    add("harm_categories", metavar="A,B", help="Helpful-and-safe streams: harm categories, comma-separated.")
    add("guidelines", metavar="PATH", help="Markdown file with the guidelines.")
    add("overlap", type=int, metavar="N", help="Distinct annotators per item (1-50).")
    add("adaptive_overlap", action=argparse.BooleanOptionalAction, help="Stop early when the first judgements agree.")
    add("adaptive_min_agree", type=int, metavar="N", help="Stop early when this many agree (at most the overlap).")
    add("order", choices=Stream.Order.values, help="depth (finish items first) or breadth.")
    add("lease_minutes", type=int, metavar="M", help="Minutes an annotator holds an item.")
    add("golden_rate", type=float, metavar="R", help="Share of served items that are golden, 0-1.")
    add(
        "show_golden_explanation",
        action=argparse.BooleanOptionalAction,
        help="Training mode: show the explanation after a wrong golden answer.",
    )
    add("review_rate", type=float, metavar="R", help="Share of judgements sampled for review, 0-1.")
    add("min_gold_accuracy", type=float, metavar="R", help="Gold accuracy below which annotators are paused, 0-1.")
    add("min_gold_count", type=int, metavar="N", help="Golden answers before gold accuracy acts.")
    add("min_agreement", type=float, metavar="R", help="Krippendorff's alpha below which the stream alerts, -1 to 1.")
    add("min_seconds", type=float, metavar="S", help="A median time per item below this flags rushing.")
    add("min_sample", type=int, metavar="N", help="Judgements before a bias indicator flags anyone.")
    add(
        "min_confidence",
        type=float,
        metavar="R",
        help="Exports drop pairs whose label is less sure than this (vote share or posterior), 0-1.",
    )
    add("max_turns", type=int, metavar="N", help="Dynamic streams: turns per conversation.")
    add(
        "truncated_answers",
        choices=Stream.TruncatedAnswers.values,
        help="Dynamic streams: answers cut off at the token limit may be judged and continued (allow), "
        "judged only (judge_only, the default) or neither (block).",
    )
    # A setting added to the form later still gets a flag: its text goes to the form as typed.
    declared = {action.dest for action in parser._actions}
    for field in StreamForm.Meta.fields:
        if field not in declared and field != "slug":
            add(field, metavar="VALUE", help=f"{StreamForm.base_fields[field].label or field} (as on the stream page).")


def given_settings(options: dict[str, Any]) -> dict[str, Any]:
    """The settings given on the command line, as the stream form's data (files read, lists split)."""
    changes: dict[str, Any] = {}
    for field in StreamForm.Meta.fields:
        value = options.get(field)
        if value is None:
            continue
        if field == "guidelines":
            try:
                with open(value, encoding="utf-8") as fh:
                    value = fh.read()
            except (OSError, UnicodeDecodeError) as exc:
                raise CommandError(f"Cannot read {value}: {exc}") from None
        elif field in ("rubric", "attributes", "harm_categories"):
            value = [part.strip() for part in str(value).split(",") if part.strip()]
        changes[field] = value
    return changes


def validate(*, project: Project, changes: dict[str, Any], stream: Stream | None = None) -> dict[str, Any]:
    """The cleaned values of ``changes`` (on top of the stream's current settings, or a new
    stream's defaults), or a ``CommandError`` naming each refused flag and why."""
    form = bound_stream_form(project=project, stream=stream, changes=changes)
    if not form.is_valid():
        problems = []
        for field, messages in form.errors.items():
            name = "settings" if field == "__all__" else flag(field) if field != "slug" else "slug"
            problems.append(f"{name}: {' '.join(str(m) for m in messages)}")
        raise CommandError("Invalid stream settings: " + "; ".join(problems))
    cleaned = form.stream_fields()
    return {field: cleaned[field] for field in changes}
