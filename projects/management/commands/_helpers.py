"""Shared lookups for the project commands: each turns a bad argument into a ``CommandError``
with a message an operator can act on."""

from __future__ import annotations

from django.core.management.base import CommandError

from projects.models import Project


def get_project(slug: str) -> Project:
    project = Project.objects.filter(slug=slug).first()
    if project is None:
        known = ", ".join(Project.objects.order_by("slug").values_list("slug", flat=True)[:20]) or "none yet"
        raise CommandError(f"No project with slug {slug!r}. Known projects: {known}.")
    return project
