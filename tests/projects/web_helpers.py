"""Helpers for the page tests (tests/projects/test_views_*.py)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User

from projects.models import Project, Role, Stream
from tests.factories import MembershipFactory, ProjectFactory, StreamFactory, StreamMembershipFactory, UserFactory

HTMX: dict[str, Any] = {"HTTP_HX_REQUEST": "true"}


def project_with_pm(**project_fields: object) -> tuple[Project, User]:
    project = ProjectFactory.create(**project_fields)
    pm = UserFactory.create()
    MembershipFactory.create(project=project, user=pm, role=Role.PM)
    return project, pm


def member(project: Project, role: str = Role.ANNOTATOR, **user_fields: object) -> User:
    user = UserFactory.create(**user_fields)
    MembershipFactory.create(project=project, user=user, role=role)
    return user


def annotator_in(stream: Stream, status: str = "qualified") -> User:
    user = member(stream.project, Role.ANNOTATOR)
    StreamMembershipFactory.create(stream=stream, user=user, status=status)
    return user


def outsider() -> User:
    return UserFactory.create()


def stream_in(project: Project, **fields: object) -> Stream:
    return StreamFactory.create(project=project, **fields)
