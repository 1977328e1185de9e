from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from rest_framework.test import APIClient

from projects.models import ApiToken, Project, Role, Stream
from tests.factories import MembershipFactory, ProjectFactory, StreamFactory, UserFactory


@dataclass
class World:
    project: Project
    stream: Stream
    other_stream: Stream  # in another project
    pm: Any
    reviewer: Any
    annotator: Any
    outsider: Any

    def client(self, user: Any) -> APIClient:
        _token, key = ApiToken.generate(user=user, name="test")
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
        return client


@pytest.fixture
def world(db: Any, settings: Any, tmp_path: Path) -> World:
    settings.MEDIA_ROOT = tmp_path / "media"
    project = ProjectFactory.create()
    users = {}
    for role in (Role.PM, Role.REVIEWER, Role.ANNOTATOR):
        users[role] = MembershipFactory.create(project=project, role=role).user
    other_project = ProjectFactory.create()
    outsider = MembershipFactory.create(project=other_project, role=Role.PM).user
    return World(
        project=project,
        stream=StreamFactory.create(project=project),
        other_stream=StreamFactory.create(project=other_project),
        pm=users[Role.PM],
        reviewer=users[Role.REVIEWER],
        annotator=users[Role.ANNOTATOR],
        outsider=outsider,
    )


@pytest.fixture
def stranger(db: Any) -> Any:
    return UserFactory.create()
