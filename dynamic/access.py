"""Scoped lookups of dynamic labeling: a PM's endpoints, an annotator's own turns and conversations."""

from __future__ import annotations

from django.http import Http404, HttpRequest

from annotation.access import get_stream_for_annotator, require_eligible
from dynamic.models import Conversation, ModelEndpoint, Turn
from projects.access import get_project_for_pm


def get_endpoint_for_pm(request: HttpRequest, slug: str, endpoint_id: int) -> ModelEndpoint:
    """A model endpoint of a project the user manages: 404 for outsiders and for another
    project's endpoint, 403 for members below PM."""
    project = get_project_for_pm(request, slug)
    endpoint = ModelEndpoint.objects.filter(project=project, pk=endpoint_id).select_related("project").first()
    if endpoint is None:
        raise Http404("No such endpoint.")
    return endpoint


def get_turn_for_annotator(request: HttpRequest, turn_id: int) -> Turn:
    """A turn of the user's own conversation (404 for anyone else's), with its conversation and
    stream, the user's role and standing annotated on the stream; 403 when they may not label."""
    turn = (
        Turn.objects.select_related("conversation").filter(pk=turn_id, conversation__annotator=request.user.pk).first()
    )
    if turn is None:
        raise Http404("No such turn.")
    turn.conversation.stream = get_stream_for_annotator(request, turn.conversation.stream_id)
    require_eligible(turn.conversation.stream)
    return turn


def get_conversation_for_annotator(request: HttpRequest, conversation_id: int) -> Conversation:
    """The user's own conversation (404 for anyone else's); 403 when they may not label."""
    conversation = Conversation.objects.filter(pk=conversation_id, annotator=request.user.pk).first()
    if conversation is None:
        raise Http404("No such conversation.")
    conversation.stream = get_stream_for_annotator(request, conversation.stream_id)
    require_eligible(conversation.stream)
    return conversation
