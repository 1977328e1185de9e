from __future__ import annotations

import pytest
from django.test import Client

from projects.models import Role
from tests.factories import ProjectFactory, StreamFactory, StreamMembershipFactory, UserFactory
from tests.projects.web_helpers import member, project_with_pm

pytestmark = pytest.mark.django_db


def test_it_lists_my_projects_with_my_role(client: Client) -> None:
    project, pm = project_with_pm(name="Support copilot")
    StreamFactory.create(project=project, name="German chat")
    ProjectFactory.create(name="Someone else's project")
    client.force_login(pm)
    response = client.get("/")
    assert response.status_code == 200
    body = response.content.decode()
    assert "Support copilot" in body
    assert "Project manager" in body
    assert "German chat" in body
    assert "Someone else&#x27;s project" not in body
    assert "New project" not in body  # only staff create projects


def test_it_shows_annotators_only_their_streams(client: Client) -> None:
    project, _ = project_with_pm()
    mine = StreamFactory.create(project=project, name="Mine")
    StreamFactory.create(project=project, name="Not mine")
    removed = StreamFactory.create(project=project, name="Left this one")
    user = member(project, Role.ANNOTATOR)
    StreamMembershipFactory.create(stream=mine, user=user, status="testing")
    StreamMembershipFactory.create(stream=removed, user=user, status="removed")
    client.force_login(user)
    body = client.get("/").content.decode()
    assert "Mine" in body
    assert "Taking the test" in body
    assert "Not mine" not in body
    assert "Left this one" not in body


def test_it_shows_staff_every_project(client: Client) -> None:
    ProjectFactory.create(name="Alpha")
    ProjectFactory.create(name="Beta")
    client.force_login(UserFactory.create(is_staff=True))
    body = client.get("/").content.decode()
    assert "Alpha" in body
    assert "Beta" in body
    assert "New project" in body


def test_it_has_a_helpful_empty_state(client: Client) -> None:
    client.force_login(UserFactory.create())
    response = client.get("/")
    assert b"When a project manager invites you" in response.content


def test_it_redirects_anonymous_users(client: Client) -> None:
    assert client.get("/")["Location"] == "/login/?next=/"


def test_it_refuses_post(client: Client) -> None:
    client.force_login(UserFactory.create())
    assert client.post("/").status_code == 405


def test_it_hides_archived_projects_from_annotators_but_not_from_pms(client: Client) -> None:
    project, pm = project_with_pm(name="Old program", archived=True)
    annotator = member(project, Role.ANNOTATOR)
    client.force_login(annotator)
    assert b"Old program" not in client.get("/").content
    client.force_login(pm)
    assert b"Archived" in client.get("/").content
