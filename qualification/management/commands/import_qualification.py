"""``manage.py import_qualification --stream <slug> FILE [--format ...] [--map t=s ...]
[--pass-mark P] [--attempts N] [--cooldown-hours H] [--time-limit-minutes M]`` — see docs/cli.md and
docs/qualification.md."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from annotation.importing import AUTO, FORMAT_CHOICES, ImportOptionsError
from annotation.management.commands.import_items import resolve_stream
from qualification.importing import InvalidQuestions, import_questions
from qualification.services import active_test


class Command(BaseCommand):
    help = (
        "Loads a stream's qualification questions from JSONL/CSV (any import_items format plus "
        '"answers" and "explanation" per line) and sets the test\'s pass mark, attempts and cool-down.'
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", metavar="FILE", help="The questions (.jsonl, .csv, .tsv; .gz read as is).")
        parser.add_argument(
            "--stream", required=True, metavar="STREAM", help="Stream id, slug, or project-slug/stream-slug."
        )
        parser.add_argument(
            "--format",
            choices=FORMAT_CHOICES,
            default=AUTO,
            help="Item format (default auto: detected from the first lines; a --map implies mapped).",
        )
        parser.add_argument(
            "--map", action="append", default=[], metavar="TARGET=SOURCE", help="Field mapping for --format mapped."
        )
        parser.add_argument("--pass-mark", type=float, metavar="P", help="Pass mark in percent, e.g. 80.")
        parser.add_argument("--attempts", type=int, metavar="N", help="Attempts allowed (at least 1).")
        parser.add_argument("--cooldown-hours", type=float, metavar="H", help="Hours between attempts (0 = none).")
        parser.add_argument(
            "--time-limit-minutes", type=int, metavar="M", help="Time limit per attempt in minutes (0 = none)."
        )

    def _settings(self, options: dict[str, Any]) -> dict[str, Any]:
        settings: dict[str, Any] = {}
        pass_mark = options["pass_mark"]
        if pass_mark is not None:
            if not 0 <= pass_mark <= 100:
                raise CommandError(f"--pass-mark is a percentage between 0 and 100, not {pass_mark:g}.")
            if 0 < pass_mark < 1:
                raise CommandError(
                    f"--pass-mark is a percentage: did you mean {pass_mark * 100:g} (not {pass_mark:g})?"
                )
            settings["pass_mark"] = pass_mark / 100
        if options["attempts"] is not None:
            if options["attempts"] < 1:
                raise CommandError("--attempts must be at least 1.")
            settings["max_attempts"] = options["attempts"]
        if options["cooldown_hours"] is not None:
            if options["cooldown_hours"] < 0:
                raise CommandError("--cooldown-hours cannot be negative.")
            settings["cooldown_hours"] = options["cooldown_hours"]
        limit = options["time_limit_minutes"]
        if limit is not None:
            if limit < 0:
                raise CommandError("--time-limit-minutes cannot be negative.")
            settings["time_limit_minutes"] = limit or None
        return settings

    def handle(self, *args: Any, **options: Any) -> None:
        stream = resolve_stream(options["stream"])
        path = Path(options["file"])
        if not path.is_file():
            raise CommandError(f"No such file: {path}")
        settings = self._settings(options)
        mapping = [part for value in options["map"] for part in value.split(",") if part.strip()]
        try:
            report = import_questions(
                stream=stream, source=path, fmt=options["format"], mapping=mapping or None, test_settings=settings
            )
        except ImportOptionsError as exc:
            raise CommandError(str(exc)) from None
        except InvalidQuestions as exc:
            lines = [
                f"Nothing imported: {len(exc.errors)} invalid line{'s' if len(exc.errors) != 1 else ''} in {path.name}."
            ]
            lines += [f"  {issue}" for issue in exc.errors[:20]]
            if len(exc.errors) > 20:
                lines.append(f"  ... and {len(exc.errors) - 20} more")
            raise CommandError("\n".join(lines)) from None
        except OSError as exc:
            raise CommandError(f"Cannot read {path}: {exc}") from None
        test = report.test
        count = test.questions.count()
        out = self.stdout
        out.write(
            f"Imported {path.name} into the qualification test of {stream} "
            f"(format {report.format}{', detected: ' + report.detected if report.detected else ''}, "
            f"batch {report.batch_id}): "
            f"{report.lines_read} lines; {report.questions_created} questions added, "
            f"{report.questions_updated} updated; the test has {count} question{'s' if count != 1 else ''}."
        )
        limit = f", time limit {test.time_limit_minutes} min" if test.time_limit_minutes else ", no time limit"
        out.write(
            f"Pass mark {test.pass_mark:.0%}, {test.max_attempts} attempt{'s' if test.max_attempts != 1 else ''}, "
            f"cool-down {test.cooldown_hours:g} h{limit}."
        )
        if report.strategies is not None:
            out.write(report.strategies.summary())
            for warning in report.strategies.warnings:
                out.write(self.style.WARNING(f"Warning: the test can be passed without reading: {warning}."))
        if active_test(stream) is None:
            out.write("The test is inactive: invited annotators receive items without taking it.")
        else:
            out.write("Invited annotators now take this test before they receive items.")
