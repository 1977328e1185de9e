"""The annotator's qualification test: start, one question at a time on the item page (same
template, same keyboard flow), the result at once.

The question page shows the item exactly as a work item is shown — context and responses in the
order drawn for this attempt — and nothing else: the acceptable answers and explanations stay on
the server until the attempt is scored. With htmx an answer brings the next question into the same
page; the last one sends the browser to the result. Without JavaScript the forms post and redirect.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseClientRedirect
from django_htmx.middleware import HtmxDetails

from annotation import access, selectors
from annotation.forms import QuestionForm
from annotation.models import Assignment
from projects.models import Stream
from qualification import selectors as qualification_selectors
from qualification import services as qualification
from qualification.models import QualificationAttempt


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


def _token(attempt: QualificationAttempt, slot: qualification.Slot) -> str:
    return f"{attempt.pk}.{slot.question.pk}"


def _result_url(stream: Stream, attempt: QualificationAttempt) -> str:
    return reverse("qualification:test_result", args=[stream.pk, attempt.number])


def _go(request: HtmxHttpRequest, url: str) -> HttpResponse:
    """A redirect that also works when the request came from htmx (a full page change)."""
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)


@require_POST
@login_required
def test_start(request: HtmxHttpRequest, stream_id: int) -> HttpResponse:
    stream = access.get_stream_for_annotator(request, stream_id)
    try:
        qualification.start_attempt(stream=stream, user=request.user)
    except qualification.QualificationError as exc:
        messages.error(request, str(exc))
        return redirect("annotation:stream_home", stream_id=stream.pk)
    return redirect("qualification:test", stream_id=stream.pk)


@require_GET
@login_required
@never_cache
def test_page(request: HtmxHttpRequest, stream_id: int) -> HttpResponse:
    """The current question of the attempt in progress (safe to reload: same question, same order)."""
    stream = access.get_stream_for_annotator(request, stream_id)
    attempt = qualification.open_attempt_for(stream=stream, user=request.user)
    if attempt is None:
        return _after_attempt(request, stream)
    return _render_question(request, stream, attempt)


@require_POST
@login_required
def test_answer(request: HtmxHttpRequest, stream_id: int) -> HttpResponse:
    stream = access.get_stream_for_annotator(request, stream_id)
    attempt = qualification.open_attempt_for(stream=stream, user=request.user)
    if attempt is None:  # time ran out (scored just now) or already finished
        return _after_attempt(request, stream)
    slot = qualification.current_slot(attempt)
    if slot is None:
        attempt = qualification.finish_attempt(attempt=attempt)
        return _go(request, _result_url(stream, attempt))
    if request.POST.get("token") != _token(attempt, slot):
        # A repeated post (double click, back button) for a question already answered.
        return _render_question(request, stream, attempt, notice=("info", "That answer was already saved."))
    form = QuestionForm(request.POST, assignment=_shown(slot), stream=stream)
    if not form.is_valid():
        return _render_question(request, stream, attempt, form=form, status=400)
    result = qualification.answer_question(
        attempt=attempt, question_id=slot.question.pk, answer=qualification.answer_from_judgement(form.answer())
    )
    if result.finished:
        return _go(request, _result_url(stream, result.attempt))
    if request.htmx:
        return _render_question(request, stream, result.attempt)
    return redirect("qualification:test", stream_id=stream.pk)


@require_GET
@login_required
def test_result(request: HttpRequest, stream_id: int, number: int) -> HttpResponse:
    """Score, pass or fail and, after a failure, when the next attempt opens. The questions
    answered wrong — prompt, both responses as shown, the answer given, the expected one and the
    explanation — once the member cannot take the test again (passed, qualified, or no attempt
    left): before that they would be the answer key of the retake, and only their number shows."""
    stream = access.get_stream_for_annotator(request, stream_id)
    attempt = (
        QualificationAttempt.objects.select_related("test")
        .filter(test__stream=stream, user=request.user.pk, number=number)
        .first()
    )
    if attempt is None:
        raise Http404("No such attempt.")
    if attempt.submitted_at is None:
        return redirect("qualification:test", stream_id=stream.pk)
    standing = qualification_selectors.standing_in_test(stream=stream, user=request.user)
    reveal = not standing.may_retake
    wrong = qualification_selectors.wrong_count(attempt)
    context = {
        "stream": stream,
        "attempt": attempt,
        "test": attempt.test,
        "total": len(attempt.question_order),
        "correct": len(attempt.question_order) - wrong,
        "wrong": wrong,
        "reveal": reveal,
        "review": qualification_selectors.attempt_review(attempt) if reveal and wrong else [],
        "standing": standing,
        "eligible": selectors.may_work(stream),
    }
    return render(request, "qualification/test_result.html", context)


# --- Helpers ----------------------------------------------------------------------------------
def _shown(slot: qualification.Slot) -> Assignment:
    """An unsaved stand-in for an assignment: the page and the form only need the item and the
    response order (``canonical_choice`` turns the shown letter into the canonical one)."""
    return Assignment(item=slot.question.item, display_order=slot.display_order)


def _after_attempt(request: HtmxHttpRequest, stream: Stream) -> HttpResponse:
    last = (
        QualificationAttempt.objects.filter(test__stream=stream, user=request.user.pk, submitted_at__isnull=False)
        .order_by("-number")
        .first()
    )
    if last is None:
        return _go(request, reverse("annotation:stream_home", args=[stream.pk]))
    return _go(request, _result_url(stream, last))


def _render_question(
    request: HtmxHttpRequest,
    stream: Stream,
    attempt: QualificationAttempt,
    *,
    form: QuestionForm | None = None,
    notice: tuple[str, str] | None = None,
    status: int = 200,
) -> HttpResponse:
    slot = qualification.current_slot(attempt)
    if slot is None:
        attempt = qualification.finish_attempt(attempt=attempt)
        return _go(request, _result_url(stream, attempt))
    shown = _shown(slot)
    context: dict[str, Any] = {
        "stream": stream,
        "assignment": shown,
        "notice": notice,
        "eligible": True,
        "question": {
            "key": f"q{attempt.pk}-{slot.question.pk}",
            "number": slot.index + 1,
            "total": len(attempt.question_order),
            "deadline": attempt.deadline_at,
        },
        "form": form or QuestionForm(assignment=shown, stream=stream, initial={"token": _token(attempt, slot)}),
        "messages_in_context": selectors.context_messages(slot.question.item),
        "responses": selectors.shown_responses(shown),
        "is_ranking": stream.task_kind == Stream.TaskKind.RANKING,
    }
    template = "annotation/item.html#workspace" if request.htmx else "annotation/item.html"
    return render(request, template, context, status=status)
