"""One access helper per object kind (STYLE 2). Someone outside the project gets 404 — the object's
existence is not revealed; a member without the needed role gets 403."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest

from projects.models import Membership, Project, Role, Stream, StreamMembership

_RANK = {Role.ANNOTATOR: 0, Role.REVIEWER: 1, Role.PM: 2}


def membership_for(user: object, project: Project) -> Membership | None:
    if not getattr(user, "is_authenticated", False):
        return None
    return Membership.objects.filter(project=project, user=user).first()  # type: ignore[misc]


def viewer_role(request: HttpRequest, project: Project) -> str:
    """The role pages are drawn for: the member's role, or PM for staff who are not members (as
    ``_check_role`` lets them act)."""
    membership = membership_for(request.user, project)
    if membership is not None:
        return str(membership.role)
    return Role.PM if getattr(request.user, "is_staff", False) else ""


def _check_role(
    request: HttpRequest, project: Project, minimum: str, *, missing: str = "No such project."
) -> Membership | None:
    """Returns the membership (None for staff who are not members). Raises 404 for outsiders —
    with ``missing``, the very message of an object that does not exist, so the two cannot be
    told apart — and 403 for members below ``minimum``."""
    membership = membership_for(request.user, project)
    if membership is None:
        if request.user.is_staff:
            return None
        raise Http404(missing)
    if _RANK[Role(membership.role)] < _RANK[Role(minimum)]:
        raise PermissionDenied("Your role in this project does not allow this.")
    return membership


def check_project_role(request: HttpRequest, project: Project, minimum: str, *, missing: str) -> Membership | None:
    """``_check_role`` for objects of a project found by id elsewhere (exports...): 404 with
    ``missing`` for outsiders, 403 below ``minimum``."""
    return _check_role(request, project, minimum, missing=missing)


def get_project_for_user(request: HttpRequest, slug: str, *, role: str = Role.ANNOTATOR) -> Project:
    project = Project.objects.filter(slug=slug).first()
    if project is None:
        raise Http404("No such project.")
    _check_role(request, project, role)
    return project


def get_project_for_pm(request: HttpRequest, slug: str) -> Project:
    return get_project_for_user(request, slug, role=Role.PM)


def get_stream_for_user(request: HttpRequest, stream_id: int, *, role: str = Role.ANNOTATOR) -> Stream:
    stream = Stream.objects.select_related("project").filter(pk=stream_id).first()
    if stream is None:
        raise Http404("No such stream.")
    _check_role(request, stream.project, role, missing="No such stream.")
    return stream


def get_stream_for_pm(request: HttpRequest, stream_id: int) -> Stream:
    return get_stream_for_user(request, stream_id, role=Role.PM)


def get_stream_for_reviewer(request: HttpRequest, stream_id: int) -> tuple[Stream, bool]:
    """The stream for its review queue, and whether the user reviews it *as a peer*: the
    project's reviewers and PMs (and staff) review every stream of the project; an annotator only
    a stream where a PM made them a peer reviewer and they are still qualified — checked on every
    request, so a pause, a removal or "Stop peer review" takes the queue away at once. Outsiders
    get 404, other members 403."""
    stream = Stream.objects.select_related("project").filter(pk=stream_id).first()
    if stream is None:
        raise Http404("No such stream.")
    membership = _check_role(request, stream.project, Role.ANNOTATOR, missing="No such stream.")
    if membership is None or membership.can_review:
        return stream, False
    user_id = membership.user_id  # the signed-in member's
    peer = StreamMembership.objects.filter(
        stream=stream, user_id=user_id, peer_reviewer=True, status=StreamMembership.Status.QUALIFIED
    ).exists()
    if not peer:
        raise PermissionDenied("Your role in this project does not allow this.")
    return stream, True
