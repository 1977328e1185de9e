"""What every page's navigation needs: which work entries (Labeling, Review, Quality) the user's
roles open, across all their projects."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from projects.models import Membership, Role


@dataclass(frozen=True)
class NavRoles:
    """``labeling``: an annotator in some project; ``review``: a reviewer or PM in some project
    (PMs review too); ``quality``: a PM in some project."""

    labeling: bool = False
    review: bool = False
    quality: bool = False


def nav_roles(user: Any) -> NavRoles:
    """One query: the distinct roles of the user's memberships."""
    if not getattr(user, "is_authenticated", False):
        return NavRoles()
    roles = set(Membership.objects.filter(user=user).values_list("role", flat=True).distinct())
    return NavRoles(
        labeling=Role.ANNOTATOR in roles,
        review=bool(roles & {Role.REVIEWER, Role.PM}),
        quality=Role.PM in roles,
    )


def navigation(request: HttpRequest) -> dict[str, object]:
    # Lazy: pages that do not draw the navigation (htmx fragments, the login page) cost no query.
    return {"nav": SimpleLazyObject(lambda: nav_roles(request.user))}
