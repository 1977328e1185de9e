"""Access helpers of the annotator's page and API (STYLE 2), shared by ``views`` and ``api`` so both
apply one rule: someone outside the project or not invited to the stream gets 404 (the stream's
existence is not revealed); so does a member who has not qualified (invited to a stream with a
qualification test, testing, failed) on the item pages and the API; a paused member gets 403; an
assignment is visible to its own annotator only (404 for anyone else)."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest

from annotation import selectors
from annotation.models import Assignment
from projects.models import Stream, StreamMembership


def get_stream_for_annotator(request: HttpRequest, stream_id: int) -> Stream:
    """The stream with the user's role and standing annotated. 404 for anyone outside the project
    or not invited to the stream; callers that hand out work check ``require_eligible`` (404 for
    members who have not qualified, 403 for paused ones)."""
    stream = selectors.stream_with_standing(request.user, stream_id)
    if stream is None or stream.role is None or stream.standing in (None, StreamMembership.Status.REMOVED):  # type: ignore[attr-defined]
        raise Http404("No such stream.")
    return stream


def require_eligible(stream: Stream) -> None:
    """Members who have not qualified (invited to a stream with a test, testing, failed) get 404:
    the items are not theirs to see, and the stream's home page offers the test instead. A paused
    member gets 403 (they were qualified; the page says why they cannot label now)."""
    standing = getattr(stream, "standing", None)
    if selectors.may_receive_items(standing, bool(getattr(stream, "has_test", False))):
        return
    if standing in selectors.NOT_QUALIFIED_STATUSES:
        raise Http404("Qualify for this stream first.")
    raise PermissionDenied(f"You cannot label in this stream at the moment ({standing}).")


def get_assignment_for_annotator(request: HttpRequest, assignment_id: int) -> Assignment:
    """The user's own assignment (404 for anyone else's), with its item, its stream and the user's
    standing in it; 403 when the user may no longer label there. One query."""
    assignment = selectors.assignment_with_standing(request.user, assignment_id)
    if assignment is None or assignment.stream.role is None:  # type: ignore[attr-defined]
        raise Http404("No such assignment.")
    require_eligible(assignment.stream)
    return assignment
