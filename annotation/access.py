"""Access helpers of the annotator's page and API (STYLE 2), shared by ``views`` and ``api`` so both
apply one rule: someone outside the project or not invited to the stream gets 404 (the stream's
existence is not revealed); a member who may not label at the moment (paused, failed, testing,
removed) gets 403; an assignment is visible to its own annotator only (404 for anyone else)."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.db.models import OuterRef, Subquery
from django.http import Http404, HttpRequest

from annotation import selectors
from annotation.models import Assignment
from projects.models import Membership, Stream, StreamMembership


def get_stream_for_annotator(request: HttpRequest, stream_id: int) -> Stream:
    """The stream with the user's role and standing annotated. 404 for anyone outside the project
    or not invited to the stream; callers that hand out work check ``require_eligible`` (403 for
    paused, failed or removed members)."""
    stream = selectors.streams_with_standing(request.user).filter(pk=stream_id).first()
    if stream is None or stream.role is None or stream.standing in (None, StreamMembership.Status.REMOVED):  # type: ignore[attr-defined]
        raise Http404("No such stream.")
    return stream


def require_eligible(stream: Stream) -> None:
    standing = getattr(stream, "standing", None)
    if standing not in selectors.ELIGIBLE_STATUSES:
        raise PermissionDenied(f"You cannot label in this stream at the moment ({standing}).")


def get_assignment_for_annotator(request: HttpRequest, assignment_id: int) -> Assignment:
    """The user's own assignment (404 for anyone else's), with its item, its stream and the user's
    standing in it; 403 when the user may no longer label there. One query."""
    assignment = (
        Assignment.objects.select_related("item", "stream__project")
        .annotate(
            role=Subquery(
                Membership.objects.filter(project=OuterRef("stream__project"), user=request.user.pk).values("role")[:1]
            ),
            standing=Subquery(
                StreamMembership.objects.filter(stream=OuterRef("stream"), user=request.user.pk).values("status")[:1]
            ),
        )
        .filter(pk=assignment_id, annotator=request.user.pk)
        .first()
    )
    if assignment is None or assignment.role is None:
        raise Http404("No such assignment.")
    # Callers' checks (``require_eligible``, ``selectors.can_annotate``) read role and standing
    # from the stream.
    assignment.stream.role = assignment.role  # type: ignore[attr-defined]
    assignment.stream.standing = assignment.standing  # type: ignore[attr-defined]
    require_eligible(assignment.stream)
    return assignment
