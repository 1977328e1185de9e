"""``manage.py update_stream <slug> --project <slug> [--overlap N] [--adaptive-overlap |
--no-adaptive-overlap] [--adaptive-min-agree N] [--golden-rate R] [--min-gold-accuracy R]
[--min-agreement R] [--min-seconds S] [--status ...] [--guidelines-file FILE [--change-note TEXT]]
...``: changes the settings given, validated as the stream page validates them, through
``projects.services.update_stream`` (an overlap change re-opens or closes items; a changed
guidelines text becomes the next guideline version, with the change note). Prints each change;
the last line is ``stream id: <id>``."""

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
        parser.add_argument(
            "--change-note",
            default="",
            metavar="TEXT",
            help="With --guidelines-file: what changed and why, kept with the new guideline version "
            "(at most 500 characters).",
        )

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
        note = options["change_note"].strip()
        if note and "guidelines" not in changes:
            raise CommandError("--change-note goes with --guidelines-file: it describes a change of the guidelines.")
        if len(note) > 500:
            raise CommandError(f"--change-note: at most 500 characters (it has {len(note)}).")
        cleaned = validate(project=project, stream=stream, changes=changes)
        before = {field: getattr(stream, field) for field in cleaned}
        services.update_stream(stream=stream, change_note=note, **cleaned)
        out = self.stdout
        out.write(f"Updated stream {project.slug}/{stream.slug} ({stream.name}):")
        for field, value in cleaned.items():
            old = before[field]
            shown = f"{old!r} -> {value!r}"
            if field == "guidelines":
                shown = f"(text changed: version {stream.guideline_version})"
            if old == value:
                shown = f"{value!r} (unchanged)" if field != "guidelines" else "(unchanged)"
            out.write(f"  {flag(field)[2:]}: {shown}")
        out.write(f"stream id: {stream.pk}")
