from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from projects.models import Membership, Role, StreamMembership, StreamMembershipEvent
from tests.factories import StreamFactory, StreamMembershipFactory, UserFactory
from tests.projects.web_helpers import HTMX, annotator_in, member, outsider, project_with_pm

pytestmark = pytest.mark.django_db


# --- list ---
def test_it_lists_members_with_role_and_stream_status(client: Client) -> None:
    project, pm = project_with_pm()
    stream = StreamFactory.create(project=project, name="German chat")
    StreamFactory.create(project=project, name="French chat")
    user = annotator_in(stream, "paused")
    StreamMembership.objects.filter(user=user).update(status_reason="rushing")
    client.force_login(pm)
    response = client.get(f"/projects/{project.slug}/members/")
    assert response.status_code == 200
    body = response.content.decode()
    assert user.username in body
    assert pm.username in body
    assert "German chat" in body
    assert "French chat" in body
    assert "Paused" in body
    assert "rushing" in body
    assert "Not invited" in body
    assert 'name="csrfmiddlewaretoken"' in body
    # The moves offered are the state machine's: from paused, back to qualified or removed.
    row = next(r for r in response.context["rows"] if r.membership.user == user)
    cells = {cell.stream.name: cell for cell in row.cells}
    assert [status for status, _ in cells["German chat"].moves] == ["qualified", "removed"]
    assert [status for status, _ in cells["French chat"].moves] == ["invited"]


@pytest.mark.parametrize("role", [Role.ANNOTATOR, Role.REVIEWER])
def test_it_refuses_the_members_page_below_pm(client: Client, role: str) -> None:
    project, _ = project_with_pm()
    client.force_login(member(project, role))
    assert client.get(f"/projects/{project.slug}/members/").status_code == 403


def test_it_hides_members_from_outsiders(client: Client) -> None:
    project, _ = project_with_pm()
    client.force_login(outsider())
    assert client.get(f"/projects/{project.slug}/members/").status_code == 404


def test_it_redirects_anonymous_users_from_members(client: Client) -> None:
    project, _ = project_with_pm()
    assert client.get(f"/projects/{project.slug}/members/").status_code == 302


def test_it_refuses_post_on_members(client: Client) -> None:
    project, pm = project_with_pm()
    client.force_login(pm)
    assert client.post(f"/projects/{project.slug}/members/").status_code == 405


# --- invite ---
def test_it_invites_existing_users_to_chosen_streams(client: Client) -> None:
    project, pm = project_with_pm()
    german, french = StreamFactory.create(project=project), StreamFactory.create(project=project)
    alice, bob = UserFactory.create(username="alice"), UserFactory.create(username="bob")
    client.force_login(pm)
    page = client.get(f"/projects/{project.slug}/members/invite/")
    assert page.status_code == 200
    response = client.post(
        f"/projects/{project.slug}/members/invite/",
        {"usernames": "alice\nbob", "role": "reviewer", "streams": [german.pk]},
    )
    assert response.status_code == 200
    assert b"Existing account" in response.content
    assert b"Copy the new passwords" not in response.content
    for user in (alice, bob):
        assert Membership.objects.get(project=project, user=user).role == Role.REVIEWER
        assert StreamMembership.objects.get(stream=german, user=user).status == "invited"
        assert not StreamMembership.objects.filter(stream=french, user=user).exists()


def test_it_creates_accounts_and_shows_each_password_once(client: Client) -> None:
    project, pm = project_with_pm()
    stream = StreamFactory.create(project=project)
    client.force_login(pm)
    response = client.post(
        f"/projects/{project.slug}/members/invite/",
        {"usernames": "carol carol@example.org\ndave", "role": "annotator", "streams": [stream.pk], "create": "on"},
    )
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    results = response.context["results"]
    carol = User.objects.get(username="carol")
    assert carol.email == "carol@example.org"
    password = next(r.password for r in results if r.user == carol)
    assert password
    assert password in response.content.decode()
    assert carol.check_password(password)
    assert password not in carol.password  # stored hashed
    assert StreamMembership.objects.get(stream=stream, user=carol).status == "invited"
    # Nothing keeps the password: the members page, and a new visit, never show it.
    assert password not in client.get(f"/projects/{project.slug}/members/").content.decode()
    assert password not in str(dict(client.session))


def test_it_refuses_unknown_usernames_without_create_and_changes_nothing(client: Client) -> None:
    project, pm = project_with_pm()
    UserFactory.create(username="alice")
    client.force_login(pm)
    response = client.post(
        f"/projects/{project.slug}/members/invite/", {"usernames": "alice\nnobody", "role": "annotator"}
    )
    assert response.status_code == 400
    assert b"No account named nobody" in response.content
    assert not User.objects.filter(username="nobody").exists()
    assert Membership.objects.filter(project=project).count() == 1


@pytest.mark.parametrize(
    "usernames", ["", "   ", "bad name!", "ok not-an-email", "x" * 151], ids=["empty", "blank", "bad", "email", "long"]
)
def test_it_rejects_bad_invite_lines_with_400(client: Client, usernames: str) -> None:
    project, pm = project_with_pm()
    client.force_login(pm)
    response = client.post(
        f"/projects/{project.slug}/members/invite/", {"usernames": usernames, "role": "annotator", "create": "on"}
    )
    assert response.status_code == 400
    assert User.objects.count() == 1


def test_it_refuses_streams_of_another_project(client: Client) -> None:
    project, pm = project_with_pm()
    foreign = StreamFactory.create()
    UserFactory.create(username="alice")
    client.force_login(pm)
    response = client.post(
        f"/projects/{project.slug}/members/invite/",
        {"usernames": "alice", "role": "annotator", "streams": [foreign.pk]},
    )
    assert response.status_code == 400
    assert not StreamMembership.objects.exists()


def test_it_never_lowers_a_role_through_invites(client: Client) -> None:
    project, pm = project_with_pm()
    reviewer = member(project, Role.REVIEWER)
    client.force_login(pm)
    client.post(f"/projects/{project.slug}/members/invite/", {"usernames": reviewer.username, "role": "annotator"})
    assert Membership.objects.get(project=project, user=reviewer).role == Role.REVIEWER


@pytest.mark.parametrize("role", [Role.ANNOTATOR, Role.REVIEWER])
def test_it_refuses_invites_below_pm(client: Client, role: str) -> None:
    project, _ = project_with_pm()
    client.force_login(member(project, role))
    response = client.post(
        f"/projects/{project.slug}/members/invite/", {"usernames": "eve", "role": "pm", "create": "on"}
    )
    assert response.status_code == 403
    assert not User.objects.filter(username="eve").exists()


def test_it_hides_invites_from_outsiders(client: Client) -> None:
    project, _ = project_with_pm()
    client.force_login(outsider())
    assert client.get(f"/projects/{project.slug}/members/invite/").status_code == 404


def test_it_redirects_anonymous_users_from_invites(client: Client) -> None:
    project, _ = project_with_pm()
    assert client.get(f"/projects/{project.slug}/members/invite/").status_code == 302


def test_it_refuses_put_on_invites(client: Client) -> None:
    project, pm = project_with_pm()
    client.force_login(pm)
    assert client.put(f"/projects/{project.slug}/members/invite/").status_code == 405


# --- role ---
def test_it_changes_a_role_up_and_down(client: Client) -> None:
    project, pm = project_with_pm()
    user = member(project, Role.ANNOTATOR)
    membership = Membership.objects.get(user=user)
    client.force_login(pm)
    url = f"/projects/{project.slug}/members/{membership.pk}/role/"
    assert client.post(url, {"role": "pm"}).status_code == 302
    membership.refresh_from_db()
    assert membership.role == Role.PM
    client.post(url, {"role": "annotator"})
    membership.refresh_from_db()
    assert membership.role == Role.ANNOTATOR


def test_it_returns_the_member_row_to_htmx(client: Client) -> None:
    project, pm = project_with_pm()
    user = member(project, Role.ANNOTATOR)
    membership = Membership.objects.get(user=user)
    client.force_login(pm)
    response = client.post(f"/projects/{project.slug}/members/{membership.pk}/role/", {"role": "reviewer"}, **HTMX)
    assert response.status_code == 200
    body = response.content.decode().strip()
    assert body.startswith(f'<tr id="member-{membership.pk}"')
    assert '<option value="reviewer" selected>' in body
    assert "<html" not in body


def test_it_keeps_the_last_pm(client: Client) -> None:
    project, pm = project_with_pm()
    membership = Membership.objects.get(user=pm)
    client.force_login(pm)
    url = f"/projects/{project.slug}/members/{membership.pk}/role/"
    response = client.post(url, {"role": "annotator"}, **HTMX)
    assert b"at least one project manager" in response.content
    response = client.post(url, {"role": "annotator"}, follow=True)
    assert b"at least one project manager" in response.content
    membership.refresh_from_db()
    assert membership.role == Role.PM


def test_it_rejects_an_unknown_role_with_400(client: Client) -> None:
    project, pm = project_with_pm()
    membership = Membership.objects.get(user=member(project))
    client.force_login(pm)
    assert client.post(f"/projects/{project.slug}/members/{membership.pk}/role/", {"role": "king"}).status_code == 400


def test_it_refuses_role_changes_below_pm_and_from_outsiders(client: Client) -> None:
    project, _ = project_with_pm()
    membership = Membership.objects.get(user=member(project))
    url = f"/projects/{project.slug}/members/{membership.pk}/role/"
    client.force_login(member(project, Role.REVIEWER))
    assert client.post(url, {"role": "pm"}).status_code == 403
    client.force_login(outsider())
    assert client.post(url, {"role": "pm"}).status_code == 404
    membership.refresh_from_db()
    assert membership.role == Role.ANNOTATOR


def test_it_hides_members_of_other_projects(client: Client) -> None:
    project, pm = project_with_pm()
    other_project, _ = project_with_pm()
    foreign = Membership.objects.get(user=member(other_project))
    client.force_login(pm)
    assert client.post(f"/projects/{project.slug}/members/{foreign.pk}/role/", {"role": "pm"}).status_code == 404
    assert client.post(f"/projects/{project.slug}/members/{foreign.pk}/remove/").status_code == 404


def test_it_refuses_get_on_member_actions(client: Client) -> None:
    project, pm = project_with_pm()
    stream = StreamFactory.create(project=project)
    membership = Membership.objects.get(user=pm)
    client.force_login(pm)
    base = f"/projects/{project.slug}/members/{membership.pk}"
    for url in (f"{base}/role/", f"{base}/remove/"):
        assert client.get(url).status_code == 405
    assert client.put(f"{base}/streams/{stream.pk}/").status_code == 405


def test_it_redirects_anonymous_users_from_member_actions(client: Client) -> None:
    project, pm = project_with_pm()
    membership = Membership.objects.get(user=pm)
    assert client.post(f"/projects/{project.slug}/members/{membership.pk}/remove/").status_code == 302
    assert Membership.objects.filter(pk=membership.pk).exists()


def test_it_needs_the_csrf_token_for_member_actions(client: Client) -> None:
    project, pm = project_with_pm()
    membership = Membership.objects.get(user=member(project))
    csrf_client = Client(enforce_csrf_checks=True)
    csrf_client.force_login(pm)
    assert csrf_client.post(f"/projects/{project.slug}/members/{membership.pk}/remove/").status_code == 403
    assert Membership.objects.filter(pk=membership.pk).exists()


# --- remove ---
def test_it_removes_a_member_from_the_project_and_its_streams(client: Client) -> None:
    project, pm = project_with_pm()
    stream = StreamFactory.create(project=project)
    user = annotator_in(stream, "qualified")
    membership = Membership.objects.get(user=user)
    client.force_login(pm)
    response = client.post(f"/projects/{project.slug}/members/{membership.pk}/remove/", **HTMX)
    assert response.status_code == 200
    assert response.content == b""
    assert not Membership.objects.filter(pk=membership.pk).exists()
    sm = StreamMembership.objects.get(stream=stream, user=user)
    assert sm.status == "removed"
    assert sm.events.last().actor == pm
    client.force_login(user)
    assert client.get(f"/streams/{stream.pk}/").status_code == 404


def test_it_redirects_after_removing_without_htmx(client: Client) -> None:
    project, pm = project_with_pm()
    membership = Membership.objects.get(user=member(project))
    client.force_login(pm)
    response = client.post(f"/projects/{project.slug}/members/{membership.pk}/remove/")
    assert response["Location"] == f"/projects/{project.slug}/members/"


def test_it_does_not_remove_the_last_pm(client: Client) -> None:
    project, pm = project_with_pm()
    membership = Membership.objects.get(user=pm)
    client.force_login(pm)
    response = client.post(f"/projects/{project.slug}/members/{membership.pk}/remove/", **HTMX)
    assert b"at least one project manager" in response.content
    assert Membership.objects.filter(pk=membership.pk).exists()


# --- per-stream status ---
def _status_url(project_slug: str, membership: Membership, stream_id: int) -> str:
    return f"/projects/{project_slug}/members/{membership.pk}/streams/{stream_id}/"


def test_it_pauses_and_resumes_a_member_in_a_stream_with_a_reason(client: Client) -> None:
    project, pm = project_with_pm()
    stream = StreamFactory.create(project=project)
    user = annotator_in(stream, "qualified")
    membership = Membership.objects.get(user=user)
    client.force_login(pm)
    response = client.post(
        _status_url(project.slug, membership, stream.pk), {"status": "paused", "reason": "too fast"}, **HTMX
    )
    assert response.status_code == 200
    assert b"Paused" in response.content
    assert b"too fast" in response.content
    sm = StreamMembership.objects.get(stream=stream, user=user)
    assert (sm.status, sm.status_reason) == ("paused", "too fast")
    event = StreamMembershipEvent.objects.filter(stream_membership=sm).last()
    assert (event.from_status, event.to_status, event.actor) == ("qualified", "paused", pm)
    client.post(_status_url(project.slug, membership, stream.pk), {"status": "qualified"})
    sm.refresh_from_db()
    assert sm.status == "qualified"


def test_it_invites_a_member_to_another_stream(client: Client) -> None:
    project, pm = project_with_pm()
    stream = StreamFactory.create(project=project)
    membership = Membership.objects.get(user=member(project))
    client.force_login(pm)
    response = client.post(_status_url(project.slug, membership, stream.pk), {"status": "invited"})
    assert response.status_code == 302
    assert StreamMembership.objects.get(stream=stream, user=membership.user).status == "invited"


def test_it_refuses_a_forbidden_transition(client: Client) -> None:
    project, pm = project_with_pm()
    stream = StreamFactory.create(project=project)
    user = annotator_in(stream, "invited")
    membership = Membership.objects.get(user=user)
    client.force_login(pm)
    response = client.post(_status_url(project.slug, membership, stream.pk), {"status": "paused"}, **HTMX)
    assert b"cannot go from invited to paused" in response.content
    assert StreamMembership.objects.get(stream=stream, user=user).status == "invited"
    # Not yet in a stream: only an invitation is possible.
    other = StreamFactory.create(project=project)
    response = client.post(_status_url(project.slug, membership, other.pk), {"status": "qualified"}, follow=True)
    assert b"invite them first" in response.content


def test_it_rejects_an_unknown_status_with_400(client: Client) -> None:
    project, pm = project_with_pm()
    stream = StreamFactory.create(project=project)
    membership = Membership.objects.get(user=annotator_in(stream))
    client.force_login(pm)
    assert client.post(_status_url(project.slug, membership, stream.pk), {"status": "boss"}).status_code == 400


def test_it_hides_streams_of_other_projects_from_status_changes(client: Client) -> None:
    project, pm = project_with_pm()
    membership = Membership.objects.get(user=member(project))
    foreign = StreamFactory.create()
    StreamMembershipFactory.create(stream=foreign, user=membership.user, status="qualified")
    client.force_login(pm)
    response = client.post(_status_url(project.slug, membership, foreign.pk), {"status": "paused"})
    assert response.status_code == 404
    assert StreamMembership.objects.get(stream=foreign).status == "qualified"


def test_it_refuses_status_changes_below_pm(client: Client) -> None:
    project, _ = project_with_pm()
    stream = StreamFactory.create(project=project)
    membership = Membership.objects.get(user=annotator_in(stream))
    client.force_login(member(project, Role.REVIEWER))
    assert client.post(_status_url(project.slug, membership, stream.pk), {"status": "paused"}).status_code == 403


# --- the status form (GET) and the page's weight ---
def test_it_shows_a_status_form_with_the_allowed_moves_only(client: Client) -> None:
    project, pm = project_with_pm()
    stream = StreamFactory.create(project=project, name="German chat")
    membership = Membership.objects.get(user=annotator_in(stream, "paused"))
    client.force_login(pm)
    url = _status_url(project.slug, membership, stream.pk)
    page = client.get(url)
    assert page.status_code == 200
    body = page.content.decode()
    assert "<h1>" in body
    assert '<option value="qualified">' in body
    assert '<option value="removed">' in body
    assert '<option value="invited">' not in body  # paused cannot go back to invited
    assert 'name="csrfmiddlewaretoken"' in body
    fragment = client.get(url, **HTMX).content.decode()
    assert "<h1>" not in fragment
    assert f'hx-target="#member-{membership.pk}"' in fragment


def test_it_hides_the_status_form_from_outsiders_and_refuses_it_below_pm(client: Client) -> None:
    project, _ = project_with_pm()
    stream = StreamFactory.create(project=project)
    membership = Membership.objects.get(user=annotator_in(stream))
    url = _status_url(project.slug, membership, stream.pk)
    client.force_login(outsider())
    assert client.get(url).status_code == 404
    client.force_login(member(project, Role.REVIEWER))
    assert client.get(url).status_code == 403


def test_the_members_page_costs_the_same_queries_and_little_html_per_member(
    client: Client, django_assert_num_queries: Any
) -> None:
    project, pm = project_with_pm()
    streams = [StreamFactory.create(project=project) for _ in range(7)]
    client.force_login(pm)
    url = f"/projects/{project.slug}/members/"
    client.get(url)
    for _ in range(2):
        annotator_in(streams[0])
    with django_assert_num_queries(9):  # 8, and the pager's count
        small = len(client.get(url).content)
    for _ in range(10):
        user = annotator_in(streams[0])
        for stream in streams[1:]:
            StreamMembershipFactory.create(stream=stream, user=user)
    with django_assert_num_queries(9):
        large = len(client.get(url).content)
    # The page carried a form per member and stream (about 12 KB a member with 7 streams: 153 KB
    # for the demo's 12); now a link per stream (about 5 KB a member), the form comes when asked.
    assert (large - small) / 10 < 6_000


def test_the_members_page_shows_a_page_of_members_and_finds_people(client: Client) -> None:
    """A program of hundreds of annotators: 50 members a page, PMs first, and a search box."""
    from projects.views import MEMBERS_PAGE_SIZE

    project, pm = project_with_pm()
    stream = StreamFactory.create(project=project)
    people = [annotator_in(stream) for _ in range(MEMBERS_PAGE_SIZE + 5)]
    client.force_login(pm)
    url = f"/projects/{project.slug}/members/"
    first = client.get(url)
    assert len(first.context["rows"]) == MEMBERS_PAGE_SIZE
    assert first.context["rows"][0].membership.user == pm  # role order: PMs before annotators
    body = first.content.decode()
    assert f"{MEMBERS_PAGE_SIZE + 6} members" in body
    assert "Page 1 of 2" in body
    assert 'rel="next"' in body
    second = client.get(url, {"page": 2})
    assert len(second.context["rows"]) == 6
    shown = {r.membership.user for r in first.context["rows"]} | {r.membership.user for r in second.context["rows"]}
    assert shown == {pm, *people}
    # The change link of a cell is the member's and the stream's.
    cell = second.context["rows"][0].cells[0]
    assert cell.change_url == (
        f"/projects/{project.slug}/members/{second.context['rows'][0].membership.pk}/streams/{stream.pk}/"
    )
    found = client.get(url, {"q": people[7].username.upper()})
    assert [r.membership.user for r in found.context["rows"]] == [people[7]]
    assert "1 member match" in found.content.decode()
    assert client.get(url, {"q": "<nobody>"}).context["rows"] == []
