"""What every page's navigation needs: which work entries (Labeling, Review, Quality) the user's
roles open, across all their projects."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import Exists, OuterRef
from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from projects.models import Membership, Role, StreamMembership


@dataclass(frozen=True)
class NavRoles:
    """``labeling``: an annotator in some project; ``review``: a reviewer or PM in some project
    (PMs review too), or a peer reviewer of some stream; ``quality``: a PM in some project."""

    labeling: bool = False
    review: bool = False
    quality: bool = False


def nav_roles(user: Any) -> NavRoles:
    """One query: the distinct roles of the user's memberships, and whether any is a peer reviewer's."""
    if not getattr(user, "is_authenticated", False):
        return NavRoles()
    # A peer reviewer of some stream (qc.peer_review) reviews too: in the same query.
    peer = StreamMembership.objects.filter(
        user=user, stream__project=OuterRef("project"), peer_reviewer=True, status=StreamMembership.Status.QUALIFIED
    )
    rows = set(Membership.objects.filter(user=user).annotate(peer=Exists(peer)).values_list("role", "peer"))
    roles = {role for role, _peer in rows}
    review = bool(roles & {Role.REVIEWER, Role.PM}) or any(is_peer for _role, is_peer in rows)
    return NavRoles(labeling=Role.ANNOTATOR in roles, review=review, quality=Role.PM in roles)


def navigation(request: HttpRequest) -> dict[str, object]:
    # Lazy: pages that do not draw the navigation (htmx fragments, the login page) cost no query.
    return {"nav": SimpleLazyObject(lambda: nav_roles(request.user))}
