"""Writes for projects, streams and memberships. Callers validate input (forms, serializers,
command arguments); these functions assume it is valid and keep the invariants."""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from projects import hooks
from projects.models import (
    GuidelineVersion,
    Membership,
    Project,
    Role,
    Stream,
    StreamMembership,
    StreamMembershipEvent,
)

User = get_user_model()


class TransitionError(ValueError):
    """A stream membership status change the state machine forbids."""


@transaction.atomic
def create_project(*, slug: str, name: str, description: str = "", created_by: Any = None) -> Project:
    project = Project.objects.create(slug=slug, name=name, description=description, created_by=created_by)
    if created_by is not None:
        Membership.objects.create(project=project, user=created_by, role=Role.PM, invited_by=created_by)
    return project


@transaction.atomic
def create_stream(*, project: Project, slug: str, name: str, author: Any = None, **fields: Any) -> Stream:
    """Creates the stream and its guidelines' version 1 (whatever the text, even empty)."""
    stream = Stream(project=project, slug=slug, name=name, guideline_version=1, **fields)
    stream.full_clean(exclude=["project"], validate_unique=False)
    stream.save()
    GuidelineVersion.objects.create(
        stream=stream, number=1, text=stream.guidelines, author=author, created_at=stream.created_at
    )
    return stream


@transaction.atomic
def update_stream(*, stream: Stream, author: Any = None, change_note: str = "", **fields: Any) -> Stream:
    """Saves ``fields`` on the stream. When the overlap or the adaptive overlap settings change,
    the items' targets and ``is_open`` flags (which the claim's index relies on) are recomputed in
    the background once this commits (``hooks.stream_overlap_changed``, filled by the annotation
    room): items closed under the old settings take annotators again, items full under the new
    ones leave the index.

    When ``guidelines`` is given and differs from the stored text, the text becomes the stream's
    next ``GuidelineVersion`` (number + 1, by ``author`` with ``change_note``) and
    ``stream.guideline_version`` moves to it. The stream row is locked first, so two saves at once
    get consecutive numbers. The edit page, ``PATCH /api/streams/<id>/`` and the ``update_stream``
    command all come here."""
    # The stored values, not the instance's: a ModelForm has already cleaned its input into it.
    watched = [name for name in _OVERLAP_FIELDS if name in fields]
    stored = (
        Stream.objects.select_for_update().filter(pk=stream.pk).values_list("guidelines", "guideline_version", *watched)
    )
    old_text, old_version, *old = stored.get()
    for key, value in fields.items():
        setattr(stream, key, value)
    stream.guideline_version = old_version
    if "guidelines" in fields and fields["guidelines"] != old_text:
        stream.guideline_version = old_version + 1
        GuidelineVersion.objects.create(
            stream=stream,
            number=stream.guideline_version,
            text=fields["guidelines"],
            change_note=change_note[:500],
            author=author,
        )
    stream.save()
    if watched and tuple(old) != tuple(getattr(stream, name) for name in watched):
        hooks.stream_overlap_changed.call(stream.pk)
    return stream


@transaction.atomic
def acknowledge_guidelines(*, stream: Stream, user: Any, version: int) -> bool:
    """Records that ``user`` read the stream's guidelines up to ``version`` (the notice's button).
    Never moves backwards, never beyond the current version. Returns False when nothing changed."""
    version = min(version, stream.guideline_version)
    return bool(
        StreamMembership.objects.filter(stream=stream, user=user, guidelines_acknowledged__lt=version).update(
            guidelines_acknowledged=version
        )
    )


# The settings that decide how many judgements an item collects.
_OVERLAP_FIELDS = ("overlap", "adaptive_overlap", "adaptive_min_agree")


@dataclass
class InviteResult:
    user: Any
    membership: Membership
    created_user: bool
    password: str | None  # set only when the account was created here; shown once
    streams_added: list[Stream]


def _new_password() -> str:
    return secrets.token_urlsafe(12)


@transaction.atomic
def add_member(
    *,
    project: Project,
    username: str,
    role: str,
    streams: Iterable[Stream] = (),
    create: bool = False,
    email: str = "",
    invited_by: Any = None,
) -> InviteResult:
    """Adds ``username`` to ``project`` with ``role`` (raising the role if the member already had a
    lower one; never lowering it) and invites them to ``streams``. With ``create``, a missing
    account is created with a generated password, returned once. Raises ``User.DoesNotExist`` when
    the account is missing and ``create`` is false."""
    created_user = False
    password = None
    try:
        user = User.objects.get(username=username)
    except User.DoesNotExist:
        if not create:
            raise
        password = _new_password()
        user = User.objects.create_user(username=username, email=email, password=password)
        created_user = True

    membership, created = Membership.objects.get_or_create(
        project=project, user=user, defaults={"role": role, "invited_by": invited_by}
    )
    rank = {Role.ANNOTATOR: 0, Role.REVIEWER: 1, Role.PM: 2}
    if not created and rank[Role(role)] > rank[Role(membership.role)]:
        membership.role = role
        membership.save(update_fields=["role"])

    added = [stream for stream in streams if invite_to_stream(stream=stream, user=user, actor=invited_by)]
    return InviteResult(user, membership, created_user, password, added)


def invite_to_stream(*, stream: Stream, user: Any, actor: Any = None, reason: str = "") -> bool:
    """Invites a project member to a stream. Returns False when already there (a removed member
    is invited again)."""
    sm, created = StreamMembership.objects.get_or_create(
        stream=stream, user=user, defaults={"guidelines_acknowledged": stream.guideline_version}
    )
    if created:
        StreamMembershipEvent.objects.create(
            stream_membership=sm, from_status="", to_status=sm.status, actor=actor, reason=reason or "invited"
        )
        return True
    if sm.status == StreamMembership.Status.REMOVED:
        transition_stream_membership(
            stream_membership=sm, to_status=StreamMembership.Status.INVITED, actor=actor, reason=reason or "re-invited"
        )
        return True
    return False


@transaction.atomic
def transition_stream_membership(
    *, stream_membership: StreamMembership, to_status: str, actor: Any = None, reason: str = "", action: str = ""
) -> StreamMembership:
    """Moves a stream membership along the state machine, storing who, when and why (and, for
    qualification, which ``action`` it was: ``waive``, ``test_passed``...). Raises
    ``TransitionError`` for a move ``StreamMembership.TRANSITIONS`` does not allow."""
    sm = StreamMembership.objects.select_for_update().get(pk=stream_membership.pk)
    if not sm.can_move_to(to_status):
        raise TransitionError(f"A membership cannot go from {sm.status} to {to_status}.")
    event = StreamMembershipEvent(
        stream_membership=sm, from_status=sm.status, to_status=to_status, actor=actor, reason=reason, action=action
    )
    fields = ["status", "status_reason", "updated_at"]
    if sm.peer_reviewer and to_status != StreamMembership.Status.QUALIFIED:
        # Peer review needs a qualified member in good standing: a pause or a removal ends it
        # (recorded before the status change, so the history reads in order).
        StreamMembershipEvent.objects.create(
            stream_membership=sm,
            from_status=sm.status,
            to_status=sm.status,
            actor=actor,
            reason=f"ended: {to_status}" + (f" ({reason})" if reason else ""),
            action=PEER_REVIEW_OFF,
        )
        sm.peer_reviewer, sm.peer_reviewer_since, sm.peer_reviewer_by = False, None, None
        fields += ["peer_reviewer", "peer_reviewer_since", "peer_reviewer_by"]
    sm.status = to_status
    sm.status_reason = reason
    sm.updated_at = timezone.now()
    sm.save(update_fields=fields)
    event.save()
    stream_membership.status, stream_membership.status_reason = sm.status, sm.status_reason
    stream_membership.peer_reviewer = sm.peer_reviewer
    return sm


PEER_REVIEW_ON = "peer_review_on"
PEER_REVIEW_OFF = "peer_review_off"


@transaction.atomic
def set_peer_reviewer(
    *, stream_membership: StreamMembership, peer_reviewer: bool, actor: Any = None, reason: str = ""
) -> bool:
    """Makes a qualified member a peer reviewer of the stream (or ends it), recording who, when
    and why as a ``StreamMembershipEvent`` (action ``peer_review_on`` / ``peer_review_off``).
    Whether the member *deserves* it is the caller's decision (``qc.peer_review``). Returns False
    when nothing changed; raises ``TransitionError`` when making a member who is not qualified a
    peer reviewer."""
    sm = StreamMembership.objects.select_for_update().get(pk=stream_membership.pk)
    if sm.peer_reviewer == peer_reviewer:
        return False
    if peer_reviewer and sm.status != StreamMembership.Status.QUALIFIED:
        raise TransitionError("Only a qualified member can be a peer reviewer.")
    now = timezone.now()
    sm.peer_reviewer = peer_reviewer
    sm.peer_reviewer_since = now if peer_reviewer else None
    sm.peer_reviewer_by = actor if peer_reviewer else None
    sm.updated_at = now
    sm.save(update_fields=["peer_reviewer", "peer_reviewer_since", "peer_reviewer_by", "updated_at"])
    StreamMembershipEvent.objects.create(
        stream_membership=sm,
        from_status=sm.status,
        to_status=sm.status,
        actor=actor,
        reason=reason[:500],
        action=PEER_REVIEW_ON if peer_reviewer else PEER_REVIEW_OFF,
        created_at=now,
    )
    stream_membership.peer_reviewer = sm.peer_reviewer
    stream_membership.peer_reviewer_since = sm.peer_reviewer_since
    stream_membership.peer_reviewer_by_id = sm.peer_reviewer_by_id
    return True


class LastProjectManagerError(ValueError):
    """The change would leave a project without a project manager."""


def _is_last_pm(membership: Membership) -> bool:
    if membership.role != Role.PM:
        return False
    others = Membership.objects.filter(project_id=membership.project_id, role=Role.PM).exclude(pk=membership.pk)
    return not others.exists()


@transaction.atomic
def add_members(
    *,
    project: Project,
    entries: Iterable[tuple[str, str]],
    role: str,
    streams: Iterable[Stream] = (),
    create: bool = False,
    invited_by: Any = None,
) -> list[InviteResult]:
    """``add_member`` for several ``(username, email)`` pairs, all or nothing: when one account is
    missing and ``create`` is false, ``User.DoesNotExist`` is raised and nothing is changed."""
    streams = list(streams)
    return [
        add_member(
            project=project,
            username=username,
            email=email,
            role=role,
            streams=streams,
            create=create,
            invited_by=invited_by,
        )
        for username, email in entries
    ]


@transaction.atomic
def change_member_role(*, membership: Membership, role: str, actor: Any = None) -> Membership:
    """Sets a member's project role, up or down (``add_member`` only ever raises it). Raises
    ``LastProjectManagerError`` when this would demote the project's only PM."""
    membership = Membership.objects.select_for_update().get(pk=membership.pk)
    if role != Role.PM and _is_last_pm(membership):
        raise LastProjectManagerError("A project needs at least one project manager.")
    if membership.role != role:
        membership.role = role
        membership.save(update_fields=["role"])
    return membership


@transaction.atomic
def remove_member(*, membership: Membership, actor: Any = None, reason: str = "") -> None:
    """Takes a member out of a project: every stream membership they hold in it moves to
    ``removed`` (kept, with its history, so their judgements stay attributable) and the project
    membership is deleted. Raises ``LastProjectManagerError`` for the project's only PM."""
    membership = Membership.objects.select_for_update().get(pk=membership.pk)
    if _is_last_pm(membership):
        raise LastProjectManagerError("A project needs at least one project manager.")
    live = StreamMembership.objects.filter(
        stream__project_id=membership.project_id, user_id=membership.user_id
    ).exclude(status=StreamMembership.Status.REMOVED)
    for sm in live:
        transition_stream_membership(
            stream_membership=sm,
            to_status=StreamMembership.Status.REMOVED,
            actor=actor,
            reason=reason or "removed from the project",
        )
    membership.delete()
