"""``manage.py add_members --project <slug> --role annotator|reviewer|pm [--stream <slug>]...
[--create] USERNAME...``. All or nothing: a bad argument changes nothing."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from projects import services
from projects.management.commands._helpers import get_project
from projects.models import Role

_validate_username = UnicodeUsernameValidator()


class Command(BaseCommand):
    help = (
        "Adds users to a project with a role (raising, never lowering, an existing role) and invites them "
        "to streams. With --create, missing accounts are created and their passwords printed once."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("usernames", nargs="+", metavar="USERNAME")
        parser.add_argument("--project", required=True, metavar="SLUG")
        parser.add_argument("--role", required=True, choices=Role.values)
        parser.add_argument(
            "--stream", action="append", default=[], metavar="SLUG", help="Invite to this stream (repeatable)."
        )
        parser.add_argument("--create", action="store_true", help="Create missing accounts with generated passwords.")

    def handle(self, *args: Any, **options: Any) -> None:
        project = get_project(options["project"])
        streams = []
        for slug in dict.fromkeys(options["stream"]):
            stream = project.streams.filter(slug=slug).first()
            if stream is None:
                known = ", ".join(project.streams.order_by("slug").values_list("slug", flat=True)) or "none yet"
                raise CommandError(f"Project {project.slug!r} has no stream {slug!r}. Its streams: {known}.")
            streams.append(stream)
        entries: list[tuple[str, str]] = []
        for username in dict.fromkeys(options["usernames"]):
            try:
                _validate_username(username)
            except ValidationError:
                raise CommandError(
                    f"{username!r} is not a valid username: letters, digits and @ . + - _ only."
                ) from None
            entries.append((username, ""))
        if not options["create"]:
            wanted = [username for username, _ in entries]
            existing = set(get_user_model().objects.filter(username__in=wanted).values_list("username", flat=True))
            missing = [username for username in wanted if username not in existing]
            if missing:
                raise CommandError(f"No account named {', '.join(missing)}. Use --create to create missing accounts.")

        results = services.add_members(
            project=project, entries=entries, role=options["role"], streams=streams, create=options["create"]
        )
        for result in results:
            name = result.user.get_username()
            line = f"{name}: {Role(result.membership.role).label.lower()} in {project.slug}"
            if result.membership.role != options["role"]:
                line += f" (kept: a role is never lowered here; asked for {options['role']})"
            if result.streams_added:
                line += "; invited to " + ", ".join(stream.slug for stream in result.streams_added)
            elif streams:
                line += "; already in the requested streams"
            self.stdout.write(line)
            if result.created_user:
                self.stdout.write(f"  created account {name}, password: {result.password}")
        created = sum(1 for result in results if result.created_user)
        if created:
            self.stdout.write(
                f"{created} account{'s' if created != 1 else ''} created. "
                "The passwords above are shown only now and stored hashed: pass them on securely."
            )
