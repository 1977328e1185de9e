"""The navigation's Labeling, Review and Quality entries follow the user's roles, and each page's
controls are drawn only for the roles that may use them."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from annotation.models import ImportBatch
from projects.context_processors import nav_roles
from projects.models import ApiToken, Role
from tests.factories import MembershipFactory, ProjectFactory, StreamFactory
from tests.projects.web_helpers import annotator_in, member, outsider, project_with_pm

pytestmark = pytest.mark.django_db

NAV = {"Labeling": '/annotate/">Labeling</a>', "Review": '/review/">Review</a>', "Quality": '/quality/">Quality</a>'}


def _entries(client: Client) -> set[str]:
    body = client.get("/").content.decode()
    return {name for name, html in NAV.items() if html in body}


def test_it_shows_each_role_its_navigation_entries(client: Client) -> None:
    project, pm = project_with_pm()
    stream = StreamFactory.create(project=project)
    annotator = annotator_in(stream)
    reviewer = member(project, Role.REVIEWER)
    expected = [(pm, {"Review", "Quality"}), (reviewer, {"Review"}), (annotator, {"Labeling"}), (outsider(), set())]
    for user, entries in expected:
        client.force_login(user)
        assert _entries(client) == entries, user.username


def test_it_unites_the_roles_of_every_project() -> None:
    project, _pm = project_with_pm()
    other = ProjectFactory.create()
    member_of_both = member(project, Role.ANNOTATOR)
    MembershipFactory.create(project=other, user=member_of_both, role=Role.PM)
    roles = nav_roles(member_of_both)
    assert (roles.labeling, roles.review, roles.quality) == (True, True, True)


def test_it_costs_one_query_and_none_on_a_page_without_navigation(
    client: Client, django_assert_num_queries: Any
) -> None:
    _project, pm = project_with_pm()
    with django_assert_num_queries(1):
        nav_roles(pm)
    client.logout()
    with django_assert_num_queries(1):  # "are there any accounts?"; the navigation is not drawn
        assert client.get("/login/").status_code == 200


def test_it_lists_the_streams_to_review_with_what_waits_for_the_reviewer(client: Client) -> None:
    project, _pm = project_with_pm()
    stream = StreamFactory.create(project=project, name="Harmless pairs")
    reviewer = member(project, Role.REVIEWER)
    StreamFactory.create(name="Not mine")
    client.force_login(reviewer)
    body = client.get("/review/").content.decode()
    assert "Harmless pairs" in body
    assert "Not mine" not in body
    assert f"/streams/{stream.pk}/review/" in body


def test_it_lists_quality_pages_only_for_the_pm(client: Client) -> None:
    project, pm = project_with_pm()
    stream = StreamFactory.create(project=project, name="Harmless pairs")
    reviewer = member(project, Role.REVIEWER)
    client.force_login(pm)
    assert f"/streams/{stream.pk}/qc/" in client.get("/quality/").content.decode()
    client.force_login(reviewer)
    assert f"/streams/{stream.pk}/qc/" not in client.get("/quality/").content.decode()


def test_it_links_exports_from_the_project_and_stream_pages_for_pms_only(client: Client) -> None:
    project, pm = project_with_pm()
    stream = StreamFactory.create(project=project)
    reviewer = member(project, Role.REVIEWER)
    exports = f"/projects/{project.slug}/exports/"
    client.force_login(pm)
    assert exports in client.get(f"/projects/{project.slug}/").content.decode()
    assert f"{exports}?stream={stream.pk}" in client.get(f"/streams/{stream.pk}/").content.decode()
    page = client.get(f"{exports}?stream={stream.pk}")
    assert page.context["form"]["streams"].value() == [stream.pk]
    client.force_login(reviewer)
    assert exports not in client.get(f"/projects/{project.slug}/").content.decode()
    assert exports not in client.get(f"/streams/{stream.pk}/").content.decode()


def test_it_hides_the_import_form_from_reviewers_but_shows_them_the_imports(client: Client) -> None:
    project, pm = project_with_pm()
    stream = StreamFactory.create(project=project)
    ImportBatch.objects.create(stream=stream, filename="hh.jsonl", format="hh", status="done", created_count=5)
    reviewer = member(project, Role.REVIEWER)
    form = f'action="/streams/{stream.pk}/import/"'
    client.force_login(reviewer)
    body = client.get(f"/streams/{stream.pk}/").content.decode()
    assert form not in body
    assert "hh.jsonl" in body
    # ... because the import itself refuses them.
    assert client.post(f"/streams/{stream.pk}/import/").status_code == 403
    client.force_login(pm)
    assert form in client.get(f"/streams/{stream.pk}/").content.decode()


def test_it_lists_the_users_api_tokens_by_their_first_characters(client: Client) -> None:
    user = outsider()
    _token, key = ApiToken.generate(user=user, name="labeling script")
    ApiToken.generate(user=outsider(), name="someone else's")
    client.force_login(user)
    body = client.get("/account/profile/").content.decode()
    assert f"<code>{key[:12]}…</code>" in body
    assert "labeling script" in body
    assert "someone else" not in body


def test_it_links_a_qualified_annotator_straight_to_the_first_item(client: Client) -> None:
    project, _pm = project_with_pm()
    ready = StreamFactory.create(project=project, status="active")
    waiting = StreamFactory.create(project=project, status="active")
    annotator = annotator_in(ready)
    from tests.factories import StreamMembershipFactory

    StreamMembershipFactory.create(stream=waiting, user=annotator, status="invited")
    client.force_login(annotator)
    body = client.get("/").content.decode()
    assert f'href="/annotate/streams/{ready.pk}/work/">Label →' in body
    assert f"/annotate/streams/{waiting.pk}/work/" not in body
    assert f'href="/annotate/streams/{waiting.pk}/">Start →' in body
    labeling = client.get("/annotate/").content.decode()
    assert f'href="/annotate/streams/{ready.pk}/work/">Label →' in labeling
