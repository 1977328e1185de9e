"""``manage.py create_stream --project <slug> <stream-slug> [...]``; the last line of output is
``stream id: <id>``, the id the REST API uses, so scripts can read it with ``tail -n1``. Every
setting of the stream form has a flag (QC thresholds, adaptive overlap, rates...; see
``_stream_settings``), validated by that form."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.core.validators import validate_slug

from projects import services
from projects.management.commands._helpers import get_project
from projects.management.commands._stream_settings import add_setting_arguments, given_settings, validate
from projects.models import Stream


class Command(BaseCommand):
    help = "Creates a stream in a project and prints its id on the last line."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug", help="Stream slug, unique within the project.")
        parser.add_argument("--project", required=True, metavar="SLUG", help="The project's slug.")
        parser.add_argument("--name", default="", help="Display name (default: from the slug).")
        parser.add_argument("--kind", choices=Stream.TaskKind.values, default=Stream.TaskKind.PAIRWISE)
        parser.add_argument("--mode", choices=Stream.Mode.values, default=Stream.Mode.STATIC)
        parser.add_argument("--overlap", type=int, default=3, help="Distinct annotators per item (default 3).")
        parser.add_argument("--golden-rate", type=float, default=0.05, help="Share of golden items, 0–1.")
        parser.add_argument("--status", choices=Stream.Status.values, default=Stream.Status.DRAFT)
        parser.add_argument("--guidelines-file", default="", metavar="PATH", help="Markdown file with guidelines.")
        add_setting_arguments(
            parser, skip=("name", "task_kind", "mode", "overlap", "golden_rate", "status", "guidelines")
        )

    def handle(self, *args: Any, **options: Any) -> None:
        project = get_project(options["project"])
        slug: str = options["slug"]
        try:
            validate_slug(slug)
        except ValidationError:
            raise CommandError(f"{slug!r} is not a valid slug: use letters, digits, hyphens and underscores.") from None
        if Stream.objects.filter(project=project, slug=slug).exists():
            raise CommandError(f"Project {project.slug!r} already has a stream {slug!r}.")
        if not 1 <= options["overlap"] <= 50:
            raise CommandError("--overlap must be between 1 and 50.")
        if not 0.0 <= options["golden_rate"] <= 1.0:
            raise CommandError("--golden-rate must be between 0 and 1 (a share, e.g. 0.05).")
        guidelines = ""
        if options["guidelines_file"]:
            try:
                with open(options["guidelines_file"], encoding="utf-8") as fh:
                    guidelines = fh.read()
            except (OSError, UnicodeDecodeError) as exc:
                raise CommandError(f"Cannot read {options['guidelines_file']}: {exc}") from None
        name = options["name"].strip() or slug.replace("-", " ").replace("_", " ").capitalize()
        changes = given_settings({k: v for k, v in options.items() if k not in ("name", "guidelines")})
        changes.update(
            slug=slug,
            name=name,
            task_kind=options["kind"],
            mode=options["mode"],
            overlap=options["overlap"],
            golden_rate=options["golden_rate"],
            status=options["status"],
            guidelines=guidelines,
        )
        cleaned = validate(project=project, changes=changes)
        try:
            stream = services.create_stream(project=project, **cleaned)
        except ValidationError as exc:
            details = "; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in exc.message_dict.items())
            raise CommandError(f"Invalid stream: {details}") from None
        self.stdout.write(
            f"Created stream {project.slug}/{stream.slug} ({stream.name}): {stream.get_task_kind_display()}, "
            f"{stream.mode}, overlap {stream.overlap}, golden rate {stream.golden_rate:g}, status {stream.status}."
        )
        adaptive = f"on (stop when {stream.adaptive_min_agree} agree)" if stream.adaptive_overlap else "off"
        self.stdout.write(
            f"QC thresholds: gold accuracy {stream.min_gold_accuracy:g} (acts after {stream.min_gold_count} golden "
            f"answers), agreement {stream.min_agreement:g}, seconds per item {stream.min_seconds:g}; "
            f"adaptive overlap {adaptive}."
        )
        self.stdout.write(f"stream id: {stream.pk}")
