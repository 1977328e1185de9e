"""``manage.py update_stream <slug> --project <slug> [--overlap N] [--adaptive-overlap |
--no-adaptive-overlap] [--adaptive-min-agree N] [--golden-rate R] [--min-gold-accuracy R]
[--min-agreement R] [--min-seconds S] [--status ...] ...``: changes the settings given, validated
as the stream page validates them, through ``projects.services.update_stream`` (an overlap change
re-opens or closes items). Prints each change; the last line is ``stream id: <id>``."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from projects import services
from projects.management.commands._helpers import get_project
from projects.management.commands._stream_settings import add_setting_arguments, flag, given_settings, validate


class Command(BaseCommand):
    help = "Changes settings of a stream (only those given) and prints what changed."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("stream_slug", metavar="slug", help="The stream's slug.")
        parser.add_argument("--project", required=True, metavar="SLUG", help="The project's slug.")
        add_setting_arguments(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        project = get_project(options["project"])
        slug = options["stream_slug"]
        stream = project.streams.filter(slug=slug).first()
        if stream is None:
            known = ", ".join(project.streams.order_by("slug").values_list("slug", flat=True)[:20]) or "none yet"
            raise CommandError(f"Project {project.slug!r} has no stream {slug!r}. Its streams: {known}.")
        changes = given_settings(options)
        if not changes:
            raise CommandError("Nothing to change: give at least one setting, e.g. --overlap 5 (see --help).")
        cleaned = validate(project=project, stream=stream, changes=changes)
        before = {field: getattr(stream, field) for field in cleaned}
        services.update_stream(stream=stream, **cleaned)
        out = self.stdout
        out.write(f"Updated stream {project.slug}/{stream.slug} ({stream.name}):")
        for field, value in cleaned.items():
            old = before[field]
            shown = "(text changed)" if field == "guidelines" else f"{old!r} -> {value!r}"
            if old == value:
                shown = f"{value!r} (unchanged)" if field != "guidelines" else "(unchanged)"
            out.write(f"  {flag(field)[2:]}: {shown}")
        out.write(f"stream id: {stream.pk}")
