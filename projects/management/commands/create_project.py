"""``manage.py create_project <slug> [--name ...] [--description ...] [--owner USERNAME]``."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.core.validators import validate_slug

from projects import services
from projects.models import Project


class Command(BaseCommand):
    help = "Creates a project. With --owner, that user becomes its project manager."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug", help="Short name for URLs and scripts, e.g. support-copilot-v3.")
        parser.add_argument("--name", default="", help="Display name (default: from the slug).")
        parser.add_argument("--description", default="", help="Markdown shown on the project page.")
        parser.add_argument("--owner", default="", metavar="USERNAME", help="Existing user who becomes PM.")

    def handle(self, *args: Any, **options: Any) -> None:
        slug: str = options["slug"]
        try:
            validate_slug(slug)
        except ValidationError:
            raise CommandError(f"{slug!r} is not a valid slug: use letters, digits, hyphens and underscores.") from None
        if len(slug) > 64:
            raise CommandError("The slug is longer than 64 characters.")
        if Project.objects.filter(slug=slug).exists():
            raise CommandError(f"A project with slug {slug!r} already exists.")
        owner = None
        if options["owner"]:
            owner = get_user_model().objects.filter(username=options["owner"]).first()
            if owner is None:
                raise CommandError(f"No user named {options['owner']!r} (create one with add_members --create).")
        name = options["name"].strip() or slug.replace("-", " ").replace("_", " ").capitalize()
        if len(name) > 200:
            raise CommandError("The name is longer than 200 characters.")
        project = services.create_project(slug=slug, name=name, description=options["description"], created_by=owner)
        self.stdout.write(f"Created project {project.slug!r} ({project.name}), id {project.pk}.")
        if owner is not None:
            self.stdout.write(f"{owner.get_username()} is its project manager.")
