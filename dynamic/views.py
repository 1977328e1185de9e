"""The dynamic-labeling page: chat with two anonymous models, judge every turn.

One page (``dynamic/conversation.html``) and its parts: the ``workspace`` (the conversation,
the current turn, the composer or the judgement controls) and ``live`` (the current turn's answers
while they stream). While answers stream, the page polls ``turn_poll`` (htmx, a few times a second;
plain requests, so it works behind any number of gunicorn workers); when the turn is ready or
failed the poll answers with the whole workspace instead (``HX-Retarget``). Without JavaScript
the same URLs take plain form posts and redirect back to the page.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import prefetch_related_objects
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.safestring import SafeString
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import reswap, retarget

from annotation import access, selectors
from annotation.forms import MAX_MESSAGE_CHARS, JudgementForm, MessageForm
from annotation.models import Assignment
from annotation.views import HtmxHttpRequest, render_paused
from dynamic import access as dynamic_access
from dynamic import services, tasks
from dynamic.models import Conversation, Generation, Turn
from projects.models import Stream, StreamMembership
from projects.rendering import render_markdown
from quorum import jobs


@dataclass(frozen=True)
class ShownAnswer:
    """One candidate's answer as the annotator sees it: by display label, never by model."""

    label: str
    status: str
    html: SafeString
    text: str
    error: str
    stalled: bool
    truncated: bool  # stopped at the model's token limit: shown as cut off
    # A streaming answer's worker liveness (quorum/jobs.py): silent for how long, and when the
    # server asks again by itself (or gives up); ``lost_runs``: earlier runs whose worker died.
    liveness: jobs.Liveness | None = None
    lost_runs: int = 0


@dataclass(frozen=True)
class ShownTurn:
    turn: Turn
    user_html: SafeString
    answers: list[ShownAnswer]
    chosen_label: str  # judged turns: the label whose answer continued the conversation
    retryable: bool  # failed, an answer stopped moving, or cut off where that blocks judging
    blocked: bool  # a cut-off answer in a stream that does not judge them: ask again or end


# --- Pages ------------------------------------------------------------------------------------
@require_GET
@login_required
@never_cache
def converse(request: HtmxHttpRequest, stream_id: int) -> HttpResponse:
    """The conversation page: resumes the open conversation (safe to reload, nothing is lost)."""
    stream = access.get_stream_for_annotator(request, stream_id)
    if getattr(stream, "standing", None) == StreamMembership.Status.PAUSED:
        return render_paused(request, stream)
    access.require_eligible(stream)
    if stream.mode != Stream.Mode.DYNAMIC:
        return redirect("annotation:work", stream_id=stream.pk)
    conversation = services.open_conversation(stream=stream, annotator=request.user)
    return _render_workspace(request, stream, conversation)


@require_POST
@login_required
def send(request: HtmxHttpRequest, stream_id: int) -> HttpResponse:
    stream = access.get_stream_for_annotator(request, stream_id)
    access.require_eligible(stream)
    form = MessageForm(request.POST)
    conversation = services.open_conversation(stream=stream, annotator=request.user)
    if not services.can_converse(stream):
        return _render_workspace(
            request, stream, conversation, notice=("warning", "This stream is not open."), status=409
        )
    if not form.is_valid():
        return _render_workspace(request, stream, conversation, message_form=form, status=400)
    try:
        turn = services.send_message(
            stream=stream,
            annotator=request.user,
            text=form.cleaned_data["message"],
            starter_id=_starter_id(request.POST.get("starter", "")),
        )
    except services.ConversationError as exc:
        return _after(request, stream, conversation, ("warning", str(exc)), status=409)
    tasks.queue_turn(turn.pk)
    return _after(request, stream, turn.conversation, None)


@require_GET
@login_required
@never_cache
def turn_poll(request: HtmxHttpRequest, turn_id: int) -> HttpResponse:
    """The current turn's answers so far; the whole workspace once the turn is ready or failed."""
    turn = dynamic_access.get_turn_for_annotator(request, turn_id)
    stream = turn.conversation.stream
    if turn.status == Turn.Status.GENERATING and request.htmx:
        prefetch_related_objects([turn], services.generations_prefetch())
        current = _shown_turn(turn, turn.conversation)
        context = {"stream": stream, "current": current, "answer_rows": [(a, []) for a in current.answers]}
        return render(request, "dynamic/conversation.html#live", context)
    response = _render_workspace(request, stream, turn.conversation)
    if request.htmx:
        retarget(response, "#workspace")
        reswap(response, "outerHTML")
    return response


@require_POST
@login_required
def judge(request: HtmxHttpRequest, turn_id: int) -> HttpResponse:
    turn = dynamic_access.get_turn_for_annotator(request, turn_id)
    conversation, stream = turn.conversation, turn.conversation.stream
    form = JudgementForm(request.POST, assignment=_shown_order(conversation), stream=_pairwise(stream))
    if not form.is_valid():
        return _render_workspace(request, stream, conversation, form=form, status=400)
    try:
        result = services.judge_turn(turn=turn, answer=form.answer())
    except services.ConversationError as exc:
        return _after(request, stream, conversation, ("warning", str(exc)), status=409)
    qc = getattr(result, "qc", None)
    if qc is not None and getattr(qc, "paused", False):
        return render_paused(request, stream)
    notice = ("success", "Saved.") if result.created else ("info", "That turn was already judged.")
    conversation.refresh_from_db(fields=["status"])  # judging the last turn ends the conversation
    if conversation.status == Conversation.Status.ENDED and result.created:
        if turn.index + 1 >= stream.max_turns:
            notice = (
                "success",
                f"Saved. That was turn {stream.max_turns} of {stream.max_turns}: the conversation is complete.",
            )
        else:
            notice = (
                "success",
                "Saved. The answer to continue with was cut off at the token limit, so the conversation ends "
                "here. Start a new one when you are ready.",
            )
    return _after(request, stream, conversation, notice)


@require_POST
@login_required
def retry(request: HtmxHttpRequest, turn_id: int) -> HttpResponse:
    turn = dynamic_access.get_turn_for_annotator(request, turn_id)
    queued = services.retry_generations(turn=turn)
    if queued:
        tasks.queue_turn(turn.pk)
    notice = ("info", "Asked the model again.") if queued else None
    # The stream as the access check annotated it (role, standing): ``_after`` re-reads the
    # conversation, which would drop that cached stream.
    return _after(request, turn.conversation.stream, turn.conversation, notice)


@require_POST
@login_required
def end(request: HtmxHttpRequest, conversation_id: int) -> HttpResponse:
    conversation = dynamic_access.get_conversation_for_annotator(request, conversation_id)
    services.end_conversation(conversation=conversation)
    return _after(
        request, conversation.stream, conversation, ("info", "Conversation ended. Start a new one when you are ready.")
    )


# --- Helpers ----------------------------------------------------------------------------------
def _pairwise(stream: Stream) -> Stream:
    """The stream as the judgement form sees it on a dynamic turn: two models answer, so the
    answer is pairwise whatever the stream's task kind (ranking needs k > 2 answers)."""
    if stream.task_kind == Stream.TaskKind.PAIRWISE:
        return stream
    pairwise = copy.copy(stream)
    pairwise.task_kind = Stream.TaskKind.PAIRWISE
    return pairwise


def _shown_order(conversation: Conversation) -> Assignment:
    """An unsaved assignment carrying the conversation's display order: what ``JudgementForm``
    needs to turn "A"/"B" as shown into canonical answers."""
    return Assignment(display_order=list(conversation.display_order))


def _shown_turn(turn: Turn, conversation: Conversation) -> ShownTurn:
    generations = {g.position: g for g in turn.generations.all()}  # prefetched with their endpoints
    now = timezone.now()
    answers = []
    for label_index, canonical in enumerate(conversation.display_order):
        g: Generation | None = generations.get(canonical)
        if g is None:
            continue
        answers.append(
            ShownAnswer(
                label=chr(ord("A") + label_index),
                status=g.status,
                html=render_markdown(g.text),
                text=g.text,
                error=g.error,
                stalled=services.is_stalled(g, g.endpoint, now),
                truncated=g.truncated,
                liveness=g.liveness(),
                lost_runs=g.lost_runs,
            )
        )
    chosen_label = ""
    if turn.chosen_position is not None and turn.chosen_position in conversation.display_order:
        chosen_label = chr(ord("A") + list(conversation.display_order).index(turn.chosen_position))
    blocked = services.must_ask_again(turn, conversation.stream)
    retryable = (
        turn.status == Turn.Status.FAILED
        or (turn.status == Turn.Status.GENERATING and any(answer.stalled for answer in answers))
        or blocked
    )
    return ShownTurn(
        turn=turn,
        user_html=render_markdown(turn.user_message),
        answers=answers,
        chosen_label=chosen_label,
        retryable=retryable,
        blocked=blocked,
    )


def _after(
    request: HtmxHttpRequest,
    stream: Stream,
    conversation: Conversation | None,
    notice: tuple[str, str] | None,
    *,
    status: int = 200,
) -> HttpResponse:
    """After a write: the fresh workspace for htmx, else a redirect to the page (PRG)."""
    if request.htmx:
        if conversation is not None:
            conversation.refresh_from_db()
        return _render_workspace(request, stream, conversation, notice=notice, status=status)
    if notice:
        level = {"success": messages.SUCCESS, "warning": messages.WARNING}.get(notice[0], messages.INFO)
        messages.add_message(request, level, notice[1])
    return redirect("dynamic:converse", stream_id=stream.pk)


def _starter_id(value: str) -> int | None:
    """The offered starter's id from the message form (anything else: none; the service checks the
    starter is the stream's)."""
    return int(value) if value.isdigit() and len(value) < 12 else None


def _render_workspace(
    request: HtmxHttpRequest,
    stream: Stream,
    conversation: Conversation | None,
    *,
    form: JudgementForm | None = None,
    message_form: MessageForm | None = None,
    notice: tuple[str, str] | None = None,
    status: int = 200,
) -> HttpResponse:
    turns = list(services.turns_of(conversation)) if conversation is not None else []
    shown = [_shown_turn(turn, conversation) for turn in turns] if conversation is not None else []
    current = shown[-1] if shown and shown[-1].turn.status != Turn.Status.JUDGED else None
    history = shown[:-1] if current is not None else shown
    is_open = conversation is not None and conversation.status == Conversation.Status.OPEN
    can_send = services.can_converse(stream) and current is None and (conversation is None or is_open)
    # A new conversation starts from the stream's next prompt (streams opened from an evaluation
    # file): it waits in the message box, to send as it is or adapt.
    starter = services.next_starter(stream=stream, annotator=request.user) if can_send and not is_open else None
    if message_form is None and starter is not None:
        message_form = MessageForm(initial={"message": starter.text})
    context: dict[str, Any] = {
        "stream": stream,
        "conversation": conversation,
        "history": history,
        "current": current,
        "is_open": is_open,
        "can_send": can_send,
        "starter": starter,
        "turn_number": len(turns) + (0 if current else 1),
        "notice": notice,
        "progress": selectors.annotator_progress(stream=stream, annotator=request.user),
        "message_form": message_form or MessageForm(),
        "max_message_chars": MAX_MESSAGE_CHARS,
        "enough_endpoints": len(services.stream_endpoints(stream)) >= services.CANDIDATES,
        "is_ranking": False,
        "answer_rows": [(answer, []) for answer in current.answers] if current is not None else [],
    }
    if (
        current is not None
        and current.turn.status == Turn.Status.READY
        and not current.blocked
        and conversation is not None
    ):
        judge_form = form or JudgementForm(
            assignment=_shown_order(conversation), stream=_pairwise(stream), initial={"token": str(current.turn.pk)}
        )
        context["form"] = judge_form
        # Rubric ratings sit in each answer's card (outside the form element: form="judge-form").
        rubric = judge_form.rubric_fields()
        context["answer_rows"] = [
            (answer, [(name, fields[position]) for name, fields in rubric])
            for position, answer in enumerate(current.answers)
        ]
    template = "dynamic/conversation.html#workspace" if request.htmx else "dynamic/conversation.html"
    return render(request, template, context, status=status)
