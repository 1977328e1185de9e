"""``manage.py streams_from_eval FILE --project SLUG``: the categories of an evaluation file ranked
weakest first (``--list``), and one dynamic stream per chosen category with its prompts as
conversation starters — the same checks and the same service as the web page (docs/import.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from dynamic import evalfile, services
from projects.models import Project


class Command(BaseCommand):
    help = "Opens one dynamic stream per weak category of an evaluation JSONL (prompts with per-category scores)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="The evaluation JSONL (docs/import.md).")
        parser.add_argument("--project", required=True, help="The project's slug.")
        chosen = parser.add_mutually_exclusive_group(required=True)
        chosen.add_argument("--list", action="store_true", help="Only print the categories, weakest first.")
        chosen.add_argument("--weakest", type=int, help="Open streams for the N weakest categories.")
        chosen.add_argument("--categories", help="Open streams for these categories (comma-separated).")
        parser.add_argument(
            "--no-endpoints", action="store_true", help="Do not attach the project's active model endpoints."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        project = Project.objects.filter(slug=options["project"]).first()
        if project is None:
            raise CommandError(f"No project {options['project']!r}.")
        path = Path(options["file"])
        if not path.is_file():
            raise CommandError(f"No such file: {path}")
        with path.open("rb") as handle:
            evaluation = evalfile.read_eval_lines(handle)
        if not evaluation.ok:
            for error in evaluation.errors:
                self.stderr.write(str(error))
            raise CommandError(
                f"{path.name}: {evaluation.error_count} error{'s' if evaluation.error_count != 1 else ''}; "
                "nothing was created."
            )
        ranking = evaluation.ranking()
        self.stdout.write(f"{'category':<40} {'mean':>7} {'n':>6}")
        for row in ranking:
            self.stdout.write(f"{row.category:<40} {row.mean:>7.3f} {row.n:>6}")
        if options["list"]:
            return
        if options["weakest"] is not None:
            if options["weakest"] < 1:
                raise CommandError("--weakest needs a positive number.")
            categories = [row.category for row in ranking[: options["weakest"]]]
        else:
            categories = [name.strip() for name in options["categories"].split(",") if name.strip()]
            unknown = sorted(set(categories) - {row.category for row in ranking})
            if unknown:
                raise CommandError(f"Not in the file: {', '.join(unknown)}.")
        streams = services.create_streams_from_eval(
            project=project,
            evaluation=evaluation,
            categories=categories,
            source=path.name,
            use_endpoints=not options["no_endpoints"],
        )
        for stream in streams:
            self.stdout.write(
                f"opened {stream.slug} (id {stream.pk}, draft): {stream.starters.count()} starters — {stream.purpose}"
            )
