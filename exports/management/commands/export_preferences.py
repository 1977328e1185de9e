"""``manage.py export_preferences``: a training-ready export written to a directory.

The export is recorded like one made on the export page (so a later ``--since-export`` can
continue from it); its files stay in ``--out``.
"""

from __future__ import annotations

import json
from argparse import ArgumentParser, ArgumentTypeError, BooleanOptionalAction
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from exports import services as exporting
from exports.models import Export


def _when(value: str) -> datetime:
    parsed = parse_datetime(value)
    if parsed is None:
        day = parse_date(value)
        if day is None:
            raise ArgumentTypeError(f"not an ISO date or date-time: {value!r}")
        parsed = datetime(day.year, day.month, day.day)
    return parsed if timezone.is_aware(parsed) else timezone.make_aware(parsed, UTC)


def _fraction(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise ArgumentTypeError(f"not a number: {value!r}") from None
    if not 0.0 <= number <= 1.0:
        raise ArgumentTypeError("must be between 0 and 1")
    return number


class Command(BaseCommand):
    help = "Export preference data (TRL, reward, KTO, OpenRLHF, LLaMA-Factory, RewardBench, HelpSteer, "
    "PKU-SafeRLHF or raw) with a manifest and a dataset card."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument(
            "--stream", action="append", required=True, help="Stream id, slug or project/stream; repeatable."
        )
        parser.add_argument("--format", choices=exporting.FORMATS, default="trl")
        parser.add_argument("--aggregate", choices=exporting.AGGREGATIONS, default="majority")
        parser.add_argument("--out", required=True, type=Path, help="Directory for the files and manifest.json.")
        parser.add_argument("--min-agreement", type=_fraction, default=0.0, help="Per comparison, 0..1.")
        parser.add_argument("--min-judgements", type=int, default=1)
        parser.add_argument("--include-golden", action="store_true", help="Golden items are left out by default.")
        parser.add_argument(
            "--include-inactive-annotators", action="store_true", help="Keep work of paused/failed/removed annotators."
        )
        parser.add_argument("--include-flagged", action="store_true", help="Keep flagged judgements and items.")
        parser.add_argument("--include-rejected", action="store_true", help="Keep judgements a reviewer rejected.")
        parser.add_argument(
            "--exclude-model-judgements",
            action="store_true",
            help="Leave the streams' model judges out of Dawid–Skene even where their vote use is on.",
        )
        parser.add_argument("--from", dest="submitted_from", type=_when, help="Submitted at or after (ISO).")
        parser.add_argument("--to", dest="submitted_to", type=_when, help="Submitted before (ISO).")
        parser.add_argument("--since-export", type=int, help="Only items not delivered by this export (id).")
        parser.add_argument("--test-fraction", type=_fraction, default=0.0)
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument(
            "--margin",
            action=BooleanOptionalAction,
            default=True,
            help="A margin column on every pair row: (2 × confidence − 1) × strength (--no-margin: leave it out).",
        )
        parser.add_argument(
            "--min-confidence",
            type=_fraction,
            default=None,
            help="Drop pairs whose label is less sure than this (vote share or Dawid–Skene posterior, 0–1); "
            "default: each stream's min_confidence.",
        )
        parser.add_argument(
            "--confidence",
            action=BooleanOptionalAction,
            default=True,
            help="A confidence column on every pair row (--no-confidence: leave it out).",
        )
        parser.add_argument(
            "--ties",
            choices=exporting.TIES,
            default="drop",
            help="Tied comparisons: drop them (default) or write both orders with margin 0.",
        )
        parser.add_argument("--licence", default="", help="The licence line of the manifest and dataset card.")
        parser.add_argument("--file-format", choices=exporting.FILE_FORMATS, default="jsonl")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            streams = exporting.resolve_streams(options["stream"])
            spec = exporting.ExportSpec(
                stream_ids=tuple(s.pk for s in streams),
                format=options["format"],
                aggregation=options["aggregate"],
                min_agreement=options["min_agreement"],
                min_judgements=options["min_judgements"],
                include_golden=options["include_golden"],
                exclude_inactive_annotators=not options["include_inactive_annotators"],
                exclude_flagged=not options["include_flagged"],
                exclude_rejected=not options["include_rejected"],
                exclude_model_judgements=options["exclude_model_judgements"],
                submitted_from=options["submitted_from"],
                submitted_to=options["submitted_to"],
                since_export_id=options["since_export"],
                test_fraction=options["test_fraction"],
                seed=options["seed"],
                margin=options["margin"],
                min_confidence=options["min_confidence"],
                confidence=options["confidence"],
                ties=options["ties"],
                licence=options["licence"],
                file_format=options["file_format"],
            )
            if spec.since_export_id is not None:
                exporting.check_since_export(spec.since_export_id, project_id=streams[0].project_id)
        except exporting.ExportError as exc:
            raise CommandError(str(exc)) from None
        out: Path = options["out"]
        if out.exists() and not out.is_dir():
            raise CommandError(f"--out {out} exists and is not a directory.")
        export = exporting.create_export(project=streams[0].project, spec=spec, queued=False)
        export = exporting.run_export(export_id=export.pk, out_dir=out.resolve())
        if export.status != Export.Status.DONE:
            raise CommandError(f"Export {export.pk} failed: {export.error}")
        self.stdout.write(json.dumps(export.manifest, indent=2, ensure_ascii=False))
