"""``manage.py import_items --stream <id | slug | project/stream> FILE [--format auto|...] [--map t=s ...]
[--skip-invalid] [--on-mismatch full|skip]`` — see docs/import.md."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from annotation import selectors
from annotation.importing import (
    AUTO,
    FORMAT_CHOICES,
    MISMATCH_MODES,
    ImportOptionsError,
    ImportReport,
    InvalidImport,
    import_items,
)
from projects.models import Stream


def resolve_stream(ref: str) -> Stream:
    """A stream by id, by slug when only one project has it, or as ``project-slug/stream-slug``."""
    ref = ref.strip()
    streams = Stream.objects.select_related("project")
    if "/" in ref:
        project_slug, _, slug = ref.partition("/")
        stream = streams.filter(project__slug=project_slug, slug=slug).first()
        if stream is None:
            raise CommandError(f"No stream {slug!r} in a project {project_slug!r}.")
        return stream
    if ref.isdigit() and (stream := streams.filter(pk=int(ref)).first()) is not None:
        return stream
    matches = list(streams.filter(slug=ref)[:10])
    if not matches:
        raise CommandError(f"No stream with id or slug {ref!r}. Use an id, a slug, or project-slug/stream-slug.")
    if len(matches) > 1:
        names = ", ".join(str(s) for s in matches)
        raise CommandError(f"The slug {ref!r} is ambiguous ({names}): write it as project-slug/stream-slug.")
    return matches[0]


class Command(BaseCommand):
    help = "Imports preference items from a JSONL/CSV file (gzip or not) into a stream. See docs/import.md."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", metavar="FILE", help="The file to import (.jsonl, .csv, .tsv; .gz read as is).")
        parser.add_argument(
            "--stream", required=True, metavar="STREAM", help="Stream id, slug, or project-slug/stream-slug."
        )
        parser.add_argument(
            "--format",
            choices=FORMAT_CHOICES,
            default=AUTO,
            help="Source format (default auto: detected from the first lines; a --map implies mapped).",
        )
        parser.add_argument(
            "--map",
            action="append",
            default=[],
            metavar="TARGET=SOURCE",
            help="Field mapping for --format mapped, repeatable or comma-separated, e.g. "
            "--map prompt=instruction --map response_1=output_1. Without it, AlpacaEval's columns are recognised.",
        )
        parser.add_argument(
            "--skip-invalid",
            action="store_true",
            help="Import the valid lines and report the others (default: any invalid line imports nothing).",
        )
        parser.add_argument(
            "--on-mismatch",
            choices=MISMATCH_MODES,
            default="full",
            help="Pairs whose transcripts do not share their earlier turns: import them whole (full, the "
            "default) or leave them out (skip). Reported with their line numbers either way.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        stream = resolve_stream(options["stream"])
        path = Path(options["file"])
        if not path.is_file():
            raise CommandError(f"No such file: {path}")
        mapping = [part for value in options["map"] for part in value.split(",") if part.strip()]
        progress = self._progress if options["verbosity"] >= 2 else None
        try:
            report = import_items(
                stream=stream,
                source=path,
                fmt=options["format"],
                mapping=mapping or None,
                skip_invalid=options["skip_invalid"],
                on_mismatch=options["on_mismatch"],
                progress=progress,
            )
        except ImportOptionsError as exc:
            raise CommandError(str(exc)) from None
        except InvalidImport as exc:
            raise CommandError(self._rejection(exc.report, path)) from None
        except OSError as exc:
            raise CommandError(f"Cannot read {path}: {exc}") from None
        self._print(report, stream, path, options["on_mismatch"])

    def _progress(self, bytes_read: int, total: int, lines: int) -> None:
        share = f" ({100 * bytes_read / total:.0f}%)" if total else ""
        sys.stderr.write(f"  {lines:,} lines read{share}\n")

    def _rejection(self, report: ImportReport, path: Path) -> str:
        n = report.invalid
        lines = [
            f"Nothing imported: {n} invalid line{'s' if n != 1 else ''} in {path.name} "
            "(all-or-nothing; --skip-invalid imports the valid lines).",
        ]
        if report.hint:
            lines.append(f"Hint: {report.hint}.")
        lines.extend(f"  {line}" for line in report.error_lines(limit=5 if report.hint else 20))
        if report.report_file:
            lines.append(f"Report: {report.report_file}")
        return "\n".join(lines)

    def _print(self, report: ImportReport, stream: Stream, path: Path, on_mismatch: str) -> None:
        out = self.stdout
        preset = f", preset {report.preset}" if report.preset else ""
        if report.detected:
            preset += f", detected: {report.detected}"
        out.write(
            f"Imported {path.name} into {stream} (format {report.format}{preset}, batch {report.batch_id}): "
            f"{report.lines_read:,} lines in {report.seconds:.1f} s."
        )
        rows = [
            ("created", report.created, ""),
            ("updated", report.updated, ""),
            ("unchanged", report.unchanged, ""),
            ("skipped", report.skipped, "mismatched pairs, --on-mismatch skip" if report.skipped else ""),
            ("invalid", report.invalid, "not imported" if report.invalid else ""),
        ]
        if report.protected:
            rows.append(("protected", report.protected, "already being annotated: content kept"))
        for label, count, note in rows:
            out.write(f"  {label:<10}{count:>8,}" + (f"  ({note})" if note else ""))
        if report.mismatch_count:
            action = "left out" if on_mismatch == "skip" else "imported with the whole transcripts as candidates"
            lines = ", ".join(map(str, report.mismatches))
            more = "" if report.mismatch_count == len(report.mismatches) else ", ..."
            out.write(
                f"{report.mismatch_count} pair(s) whose transcripts do not share their earlier turns, {action}: "
                f"line{'s' if report.mismatch_count != 1 else ''} {lines}{more}"
            )
        if report.hint:
            out.write(f"Hint: {report.hint}.")
        if report.errors:
            out.write("Invalid lines:")
            for line in report.error_lines():
                out.write(f"  {line}")
        if report.warning_count:
            out.write(f"Warnings ({report.warning_count}):")
            for issue in report.warnings[:10]:
                out.write(f"  {issue}")
            if report.warning_count > 10:
                out.write(f"  ... and {report.warning_count - 10} more")
        if report.report_file:
            out.write(f"Report: {report.report_file}")
        golden = selectors.golden_strategy_check(stream)
        if golden.questions:
            out.write(f"Golden set: {golden.summary()}")
            for warning in golden.warnings:
                out.write(self.style.WARNING(f"Warning: the golden set can be passed without reading: {warning}."))
