from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from projects.models import Membership, Project, Role
from tests.factories import StreamFactory, UserFactory
from tests.projects.web_helpers import annotator_in, member, outsider, project_with_pm

pytestmark = pytest.mark.django_db


# --- create ---
def test_it_lets_staff_create_a_project_and_become_its_pm(client: Client) -> None:
    staff = UserFactory.create(is_staff=True)
    client.force_login(staff)
    assert client.get("/projects/new/").status_code == 200
    response = client.post("/projects/new/", {"name": "Support copilot v3", "slug": "copilot-v3", "description": ""})
    assert response.status_code == 302
    assert response["Location"] == "/projects/copilot-v3/"
    project = Project.objects.get(slug="copilot-v3")
    assert Membership.objects.get(project=project, user=staff).role == Role.PM


def test_it_lets_users_with_the_add_project_permission_create_projects(client: Client) -> None:
    user = UserFactory.create()
    user.user_permissions.add(Permission.objects.get(codename="add_project"))
    client.force_login(user)
    response = client.post("/projects/new/", {"name": "P", "slug": "p"})
    assert response.status_code == 302


def test_it_refuses_project_creation_to_others(client: Client) -> None:
    client.force_login(UserFactory.create())
    assert client.get("/projects/new/").status_code == 403
    assert client.post("/projects/new/", {"name": "P", "slug": "p"}).status_code == 403
    assert not Project.objects.exists()


def test_it_rejects_a_taken_or_bad_slug_with_400(client: Client) -> None:
    _project, _ = project_with_pm(slug="taken")
    client.force_login(UserFactory.create(is_staff=True))
    response = client.post("/projects/new/", {"name": "P", "slug": "taken"})
    assert response.status_code == 400
    assert b"Project with this Slug already exists" in response.content
    response = client.post("/projects/new/", {"name": "P", "slug": "not a slug"})
    assert response.status_code == 400
    assert b"field-error" in response.content


def test_it_redirects_anonymous_users_from_project_create(client: Client) -> None:
    assert client.get("/projects/new/").status_code == 302


def test_it_refuses_other_methods_on_project_create(client: Client) -> None:
    client.force_login(UserFactory.create(is_staff=True))
    assert client.put("/projects/new/").status_code == 405


# --- detail ---
def test_it_shows_a_pm_streams_with_counts_and_members(client: Client) -> None:
    project, pm = project_with_pm(description="**Read** the <script>x</script> rules")
    stream = StreamFactory.create(project=project, name="Harmlessness")
    annotator_in(stream, "qualified")
    client.force_login(pm)
    response = client.get(f"/projects/{project.slug}/")
    assert response.status_code == 200
    body = response.content.decode()
    assert "Harmlessness" in body
    assert "<strong>Read</strong>" in body
    assert "<script>x" not in body
    assert "New stream" in body
    assert "1 annotator." in body


def test_it_shows_an_annotator_only_their_streams_and_no_pm_actions(client: Client) -> None:
    project, _ = project_with_pm()
    mine = StreamFactory.create(project=project, name="Mine")
    StreamFactory.create(project=project, name="Secret stream")
    user = annotator_in(mine)
    client.force_login(user)
    response = client.get(f"/projects/{project.slug}/")
    assert response.status_code == 200
    body = response.content.decode()
    assert "Mine" in body
    assert "Secret stream" not in body
    assert "New stream" not in body
    assert "Members" not in body


def test_it_hides_a_project_from_outsiders(client: Client) -> None:
    project, _ = project_with_pm()
    client.force_login(outsider())
    assert client.get(f"/projects/{project.slug}/").status_code == 404
    assert client.get("/projects/no-such-project/").status_code == 404


def test_it_shows_staff_any_project(client: Client) -> None:
    project, _ = project_with_pm()
    client.force_login(UserFactory.create(is_staff=True))
    response = client.get(f"/projects/{project.slug}/")
    assert response.status_code == 200
    assert b"New stream" in response.content


def test_it_redirects_anonymous_users_from_a_project(client: Client) -> None:
    project, _ = project_with_pm()
    assert client.get(f"/projects/{project.slug}/").status_code == 302


def test_it_refuses_post_on_project_detail(client: Client) -> None:
    project, pm = project_with_pm()
    client.force_login(pm)
    assert client.post(f"/projects/{project.slug}/").status_code == 405


# --- edit ---
def test_it_lets_a_pm_edit_a_project(client: Client) -> None:
    project, pm = project_with_pm()
    client.force_login(pm)
    assert client.get(f"/projects/{project.slug}/edit/").status_code == 200
    response = client.post(f"/projects/{project.slug}/edit/", {"name": "Renamed", "description": "New"})
    assert response.status_code == 302
    project.refresh_from_db()
    assert (project.name, project.description) == ("Renamed", "New")


def test_it_rejects_an_empty_name_with_400(client: Client) -> None:
    project, pm = project_with_pm()
    client.force_login(pm)
    assert client.post(f"/projects/{project.slug}/edit/", {"name": ""}).status_code == 400


@pytest.mark.parametrize("role", [Role.ANNOTATOR, Role.REVIEWER])
def test_it_refuses_project_edit_below_pm(client: Client, role: str) -> None:
    project, _ = project_with_pm()
    client.force_login(member(project, role))
    assert client.get(f"/projects/{project.slug}/edit/").status_code == 403
    assert client.post(f"/projects/{project.slug}/edit/", {"name": "X"}).status_code == 403


def test_it_hides_project_edit_from_outsiders(client: Client) -> None:
    project, _ = project_with_pm()
    client.force_login(outsider())
    assert client.get(f"/projects/{project.slug}/edit/").status_code == 404


def test_it_redirects_anonymous_users_from_project_edit(client: Client) -> None:
    project, _ = project_with_pm()
    assert client.post(f"/projects/{project.slug}/edit/").status_code == 302


def test_it_refuses_delete_on_project_edit(client: Client) -> None:
    project, pm = project_with_pm()
    client.force_login(pm)
    assert client.delete(f"/projects/{project.slug}/edit/").status_code == 405
