from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User

from annotation import services as engine
from annotation.models import Item
from projects import services
from projects.models import Membership, Project, Role, Stream, StreamMembership, StreamMembershipEvent
from tests.annotation.conftest import make_annotator
from tests.factories import (
    ItemFactory,
    MembershipFactory,
    ProjectFactory,
    StreamFactory,
    StreamMembershipFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


# --- create_project / create_stream / update_stream ---
def test_it_makes_the_creator_the_projects_pm() -> None:
    user = UserFactory.create()
    project = services.create_project(slug="p", name="P", created_by=user)
    assert Membership.objects.get(project=project, user=user).role == Role.PM


def test_it_creates_a_project_without_an_owner() -> None:
    project = services.create_project(slug="p", name="P")
    assert not project.memberships.exists()


def test_it_creates_and_updates_a_stream() -> None:
    project = ProjectFactory.create()
    stream = services.create_stream(project=project, slug="s", name="S", overlap=5, rubric=["helpfulness"])
    assert (stream.overlap, stream.rubric, stream.status) == (5, ["helpfulness"], Stream.Status.DRAFT)
    services.update_stream(stream=stream, status=Stream.Status.ACTIVE, golden_rate=0.2)
    stream.refresh_from_db()
    assert (stream.status, stream.golden_rate) == ("active", 0.2)


def test_changing_the_overlap_reopens_and_closes_items(django_capture_on_commit_callbacks: Any) -> None:
    stream = StreamFactory.create(overlap=1)
    item = ItemFactory.create(stream=stream)
    alice, bob = make_annotator(stream), make_annotator(stream)
    lease = engine.claim_next(stream=stream, annotator=alice)
    assert lease is not None
    engine.submit_judgement(assignment=lease, idempotency_key="k", choice="tie")
    assert engine.claim_next(stream=stream, annotator=bob) is None  # closed under overlap 1

    with django_capture_on_commit_callbacks(execute=True):
        services.update_stream(stream=stream, overlap=2)
    item.refresh_from_db()
    assert item.is_open
    second = engine.claim_next(stream=stream, annotator=bob)
    assert second is not None
    assert second.item_id == item.pk

    other = ItemFactory.create(stream=stream, claim_count=1)
    with django_capture_on_commit_callbacks(execute=True):
        services.update_stream(stream=stream, overlap=1)
    assert not Item.objects.filter(pk__in=[item.pk, other.pk], is_open=True).exists()


def test_other_changes_leave_items_alone(django_capture_on_commit_callbacks: Any) -> None:
    stream = StreamFactory.create(overlap=2)
    with django_capture_on_commit_callbacks() as callbacks:
        services.update_stream(stream=stream, overlap=2, priority=5)
    assert callbacks == []


# --- add_member: roles raise, never lower ---
@pytest.mark.parametrize(
    ("before", "asked", "after"),
    [
        (Role.ANNOTATOR, Role.REVIEWER, Role.REVIEWER),
        (Role.ANNOTATOR, Role.PM, Role.PM),
        (Role.REVIEWER, Role.ANNOTATOR, Role.REVIEWER),
        (Role.PM, Role.ANNOTATOR, Role.PM),
        (Role.PM, Role.REVIEWER, Role.PM),
    ],
)
def test_it_raises_roles_but_never_lowers_them(before: str, asked: str, after: str) -> None:
    membership = MembershipFactory.create(role=before)
    result = services.add_member(project=membership.project, username=membership.user.username, role=asked)
    membership.refresh_from_db()
    assert membership.role == after == result.membership.role
    assert not result.created_user
    assert result.password is None


def test_it_refuses_a_missing_account_without_create() -> None:
    with pytest.raises(User.DoesNotExist):
        services.add_member(project=ProjectFactory.create(), username="ghost", role=Role.ANNOTATOR)


def test_it_creates_an_account_with_a_generated_password_returned_once() -> None:
    project = ProjectFactory.create()
    result = services.add_member(
        project=project, username="newbie", role=Role.ANNOTATOR, create=True, email="n@example.org"
    )
    user = User.objects.get(username="newbie")
    assert result.created_user
    assert result.password
    assert len(result.password) >= 12
    assert user.check_password(result.password)
    assert result.password not in user.password
    assert user.email == "n@example.org"


def test_it_invites_to_streams_and_records_the_event() -> None:
    project = ProjectFactory.create()
    stream = StreamFactory.create(project=project)
    inviter = UserFactory.create()
    user = UserFactory.create()
    result = services.add_member(
        project=project, username=user.username, role="annotator", streams=[stream], invited_by=inviter
    )
    sm = StreamMembership.objects.get(stream=stream, user=user)
    assert sm.status == "invited"
    assert result.streams_added == [stream]
    event = sm.events.get()
    assert (event.from_status, event.to_status, event.actor) == ("", "invited", inviter)


# --- invite_to_stream ---
def test_it_does_not_invite_twice() -> None:
    stream = StreamFactory.create()
    user = UserFactory.create()
    assert services.invite_to_stream(stream=stream, user=user) is True
    assert services.invite_to_stream(stream=stream, user=user) is False
    assert StreamMembershipEvent.objects.count() == 1


@pytest.mark.parametrize("status", ["testing", "qualified", "failed", "paused"])
def test_it_leaves_a_current_member_where_they_are(status: str) -> None:
    sm = StreamMembershipFactory.create(status=status)
    assert services.invite_to_stream(stream=sm.stream, user=sm.user) is False
    sm.refresh_from_db()
    assert sm.status == status


def test_it_re_invites_a_removed_member() -> None:
    sm = StreamMembershipFactory.create(status="removed")
    assert services.invite_to_stream(stream=sm.stream, user=sm.user) is True
    sm.refresh_from_db()
    assert sm.status == "invited"
    assert sm.events.get().reason == "re-invited"


# --- transitions ---
ALLOWED = [(a, b) for a, targets in StreamMembership.TRANSITIONS.items() for b in sorted(targets)]
FORBIDDEN = [
    (a, b)
    for a in StreamMembership.Status.values
    for b in StreamMembership.Status.values
    if b not in StreamMembership.TRANSITIONS[a]
]


@pytest.mark.parametrize(("from_status", "to_status"), ALLOWED)
def test_it_allows_the_state_machines_moves(from_status: str, to_status: str) -> None:
    sm = StreamMembershipFactory.create(status=from_status)
    actor = UserFactory.create()
    services.transition_stream_membership(stream_membership=sm, to_status=to_status, actor=actor, reason="why")
    sm.refresh_from_db()
    assert (sm.status, sm.status_reason) == (to_status, "why")
    event = sm.events.get()
    assert (event.from_status, event.to_status, event.actor, event.reason) == (from_status, to_status, actor, "why")


@pytest.mark.parametrize(("from_status", "to_status"), FORBIDDEN)
def test_it_refuses_other_moves(from_status: str, to_status: str) -> None:
    sm = StreamMembershipFactory.create(status=from_status)
    with pytest.raises(services.TransitionError):
        services.transition_stream_membership(stream_membership=sm, to_status=to_status)
    sm.refresh_from_db()
    assert sm.status == from_status
    assert not sm.events.exists()


def test_it_covers_the_whole_lifecycle() -> None:
    sm = StreamMembershipFactory.create(status="invited")
    for status in ["testing", "failed", "testing", "qualified", "paused", "qualified", "removed", "invited"]:
        services.transition_stream_membership(stream_membership=sm, to_status=status)
        assert sm.status == status
    assert sm.events.count() == 8


# --- add_members ---
def test_it_adds_several_members_all_or_nothing() -> None:
    project = ProjectFactory.create()
    UserFactory.create(username="alice")
    with pytest.raises(User.DoesNotExist):
        services.add_members(project=project, entries=[("alice", ""), ("ghost", "")], role=Role.ANNOTATOR)
    assert not Membership.objects.filter(project=project).exists()
    results = services.add_members(
        project=project, entries=[("alice", ""), ("ghost", "g@example.org")], role=Role.ANNOTATOR, create=True
    )
    assert [r.created_user for r in results] == [False, True]
    assert Membership.objects.filter(project=project).count() == 2


# --- change_member_role / remove_member ---
def test_it_changes_a_role_down_as_well_as_up() -> None:
    project = ProjectFactory.create()
    MembershipFactory.create(project=project, role=Role.PM)
    membership = MembershipFactory.create(project=project, role=Role.PM)
    services.change_member_role(membership=membership, role=Role.ANNOTATOR)
    membership.refresh_from_db()
    assert membership.role == Role.ANNOTATOR


def test_it_keeps_at_least_one_pm() -> None:
    membership = MembershipFactory.create(role=Role.PM)
    MembershipFactory.create(project=membership.project, role=Role.REVIEWER)
    with pytest.raises(services.LastProjectManagerError):
        services.change_member_role(membership=membership, role=Role.REVIEWER)
    with pytest.raises(services.LastProjectManagerError):
        services.remove_member(membership=membership)
    membership.refresh_from_db()
    assert membership.role == Role.PM


def test_it_removes_a_member_and_their_stream_memberships_keeping_history() -> None:
    project: Project = ProjectFactory.create()
    streams = StreamFactory.create_batch(3, project=project)
    other_project_stream = StreamFactory.create()
    membership = MembershipFactory.create(project=project)
    user = membership.user
    StreamMembershipFactory.create(stream=streams[0], user=user, status="qualified")
    StreamMembershipFactory.create(stream=streams[1], user=user, status="removed")
    StreamMembershipFactory.create(stream=other_project_stream, user=user, status="qualified")
    actor = UserFactory.create()
    services.remove_member(membership=membership, actor=actor)
    assert not Membership.objects.filter(pk=membership.pk).exists()
    statuses = dict(StreamMembership.objects.filter(user=user).values_list("stream_id", "status"))
    assert statuses == {streams[0].pk: "removed", streams[1].pk: "removed", other_project_stream.pk: "qualified"}
    event = StreamMembership.objects.get(stream=streams[0], user=user).events.get()
    assert (event.from_status, event.to_status, event.actor) == ("qualified", "removed", actor)
