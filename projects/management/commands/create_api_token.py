"""``manage.py create_api_token <username> [--name ...]``: prints a new API token once. Only its
sha256 is stored; use it as ``Authorization: Token <key>``."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from projects.models import ApiToken


class Command(BaseCommand):
    help = "Creates an API token for a user and prints it once (the last line of output)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--name", default="", help="A label to tell tokens apart, e.g. 'trainer-ci'.")

    def handle(self, *args: Any, **options: Any) -> None:
        user = get_user_model().objects.filter(username=options["username"]).first()
        if user is None:
            raise CommandError(f"No user named {options['username']!r}.")
        if not user.is_active:
            raise CommandError(f"User {options['username']!r} is inactive; a token for them would not work.")
        if len(options["name"]) > 100:
            raise CommandError("--name is longer than 100 characters.")
        token, key = ApiToken.generate(user=user, name=options["name"])
        label = f" {token.name!r}" if token.name else ""
        self.stdout.write(
            f"Created API token{label} for {user.get_username()} (prefix {token.key_prefix}). "
            "It is shown only now and stored hashed; use it as 'Authorization: Token <key>':"
        )
        self.stdout.write(key)
