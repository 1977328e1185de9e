"""Calibration rounds' pages (``qc.calibration``).

- PMs: the stream's rounds and the form that opens one (from the Quality page's tabs); a round's
  page with the progress while open, the results when closed, the expected answers, close, and the
  one-action promotions (golden item, guideline example).
- The stream's qualified annotators: the round's judging page (the item page's two columns and
  keys, A/B order drawn per annotator, a required rationale), linked from the stream's page; the
  results page after the round closed, without any name (``Annotator 1..k``).
"""

from __future__ import annotations

from datetime import UTC, timedelta
from typing import Any, cast

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.db.models import Count, Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect
from django_htmx.middleware import HtmxDetails

from annotation import selectors as annotation_selectors
from annotation.models import Assignment, Item
from projects.access import get_stream_for_pm, get_stream_for_user, viewer_role
from projects.models import Role, Stream
from projects.rendering import render_markdown
from qc import calibration, golden
from qc.forms import CalibrationAnswerForm, CalibrationExpectedForm, CalibrationOpenForm, CalibrationPromoteForm
from qc.models import CalibrationAnswer, CalibrationItem, CalibrationRound

LETTERS = "AB"


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


# --- Access ---------------------------------------------------------------------------------------
def _get_round(stream: Stream, round_id: int) -> CalibrationRound:
    return get_object_or_404(CalibrationRound.objects.select_related("stream"), stream=stream, pk=round_id)


def get_round_for_viewer(request: HttpRequest, stream_id: int, round_id: int) -> tuple[CalibrationRound, bool]:
    """The round and whether the viewer is the project's PM. Annotators see the rounds of streams
    they are qualified in, and the rounds they answered (a member paused since); anyone else 404."""
    stream = get_stream_for_user(request, stream_id)
    round_ = _get_round(stream, round_id)
    if viewer_role(request, stream.project) == Role.PM:
        return round_, True
    user = cast(User, request.user)  # login_required
    answered = CalibrationAnswer.objects.filter(
        round_item__round=round_, annotator=user, submitted_at__isnull=False
    ).exists()
    if not answered and not calibration.is_participant(stream, user):
        raise Http404("No such round.")
    return round_, False


def get_round_for_annotator(request: HttpRequest, stream_id: int, round_id: int) -> CalibrationRound:
    """A round the user may answer: they are qualified in its stream now; anyone else 404."""
    stream = get_stream_for_user(request, stream_id)
    round_ = _get_round(stream, round_id)
    if not calibration.is_participant(stream, request.user):
        raise Http404("No such round.")
    return round_


def _round_url(round_: CalibrationRound) -> str:
    return reverse("qc:calibration_round", args=[round_.stream_id, round_.pk])


def _get_round_item(round_: CalibrationRound, round_item_id: int) -> CalibrationItem:
    return get_object_or_404(CalibrationItem.objects.select_related("item", "round"), round=round_, pk=round_item_id)


# --- PMs: the rounds of a stream, opening one -------------------------------------------------------
def _item_choices(stream: Stream) -> list[tuple[int, str]]:
    """The Golden set page's most-disagreed items (``qc.golden.most_disagreed``) as choices."""
    rows = golden.most_disagreed(stream=stream, limit=30)
    return [
        (
            row.item.pk,
            f"{row.item.external_id} — majority {round(row.majority_share * 100)}% of {row.judgements}: "
            f"{row.item.prompt_text[:80]}",
        )
        for row in rows
    ]


def _resolve_refs(stream: Stream, refs: list[str]) -> tuple[list[int], list[str]]:
    """Item ids for ``refs`` (a number is an id or an external id; anything else an external id)."""
    ids, unknown = [], []
    for ref in refs:
        q = Q(external_id=ref) | (Q(pk=int(ref)) if ref.isdigit() else Q(pk__in=[]))
        found = Item.objects.filter(stream=stream).filter(q).order_by("pk").values_list("pk", flat=True).first()
        if found is None:
            unknown.append(ref)
        else:
            ids.append(found)
    return ids, unknown


@login_required
@require_http_methods(["GET", "POST"])
def calibration_rounds(request: HttpRequest, stream_id: int) -> HttpResponse:
    """The stream's rounds (newest first) and the form that opens a new one."""
    stream = get_stream_for_pm(request, stream_id)
    refusal = calibration.stream_refusal(stream)
    choices = [] if refusal else _item_choices(stream)
    initial = {"deadline": (timezone.now() + timedelta(days=3)).astimezone(UTC).replace(second=0, microsecond=0)}
    form = CalibrationOpenForm(request.POST or None, item_choices=choices, initial=initial)
    status = 200
    if request.method == "POST":
        status = 400
        if refusal:
            form.add_error(None, refusal)
        elif form.is_valid():
            ids, unknown = _resolve_refs(stream, form.extra_refs())
            if unknown:
                form.add_error("extra", f"No such item in this stream: {', '.join(unknown)}.")
            else:
                try:
                    round_ = calibration.open_round(
                        stream=stream,
                        title=form.cleaned_data["title"],
                        deadline=form.cleaned_data["deadline"],
                        item_ids=[*form.cleaned_data["items"], *ids],
                        created_by=request.user,
                        include_in_exports=form.cleaned_data["include_in_exports"],
                        min_rationale_words=form.cleaned_data["min_rationale_words"],
                    )
                except calibration.CalibrationError as exc:
                    form.add_error(None, str(exc))
                else:
                    messages.success(request, "Round opened: the stream's qualified annotators see it on its page.")
                    return redirect("qc:calibration_round", stream_id=stream.pk, round_id=round_.pk)
    rounds = CalibrationRound.objects.filter(stream=stream).annotate(
        n_items=Count("items", distinct=True),
        n_answers=Count("items__answers", filter=Q(items__answers__submitted_at__isnull=False), distinct=True),
    )
    context = {
        "stream": stream,
        "project": stream.project,
        "rounds": rounds,
        "form": form,
        "refusal": refusal,
        "participants": calibration.participants(stream).count(),
    }
    return render(request, "qc/calibration_rounds.html", context, status=status)


# --- A round's page -------------------------------------------------------------------------------
def _responses(item: Item) -> list[dict[str, Any]]:
    """The item's responses in its own (canonical) order, labelled A and B, as the gallery shows them."""
    out = []
    for index, response in enumerate(item.responses or []):
        text = str(response.get("text", "")) if isinstance(response, dict) else str(response)
        out.append({"label": LETTERS[index] if index < 2 else str(index + 1), "html": render_markdown(text)})
    return out


@login_required
@require_GET
def calibration_round(request: HttpRequest, stream_id: int, round_id: int) -> HttpResponse:
    """PMs: progress while open, results when closed, expected answers, close and promote.
    Annotators: their progress while open; the anonymised results once closed."""
    round_, is_pm = get_round_for_viewer(request, stream_id, round_id)
    stream = round_.stream
    closed = not round_.is_open
    context: dict[str, Any] = {"stream": stream, "project": stream.project, "round": round_, "is_pm": is_pm}
    if is_pm:
        result = calibration.results(round_)
        names = dict(User.objects.filter(pk__in=[a.user_id for a in result.alignments]).values_list("pk", "username"))
        context.update(
            result=result,
            names=names,
            progress=calibration.open_progress(round_) if not closed else None,
            answer_choices=golden.answer_choices(2),
            entries=[_entry(r, show=True) for r in result.items],
        )
        return render(request, "qc/calibration_round.html", context)
    done, total = calibration.progress(round_, request.user)
    context.update(done=done, total=total)
    if closed:
        result = calibration.results(round_)
        withheld = calibration.withheld([r.round_item for r in result.items], request.user)
        context.update(
            result=result,
            mine=result.alignment_of(cast(User, request.user).pk),
            entries=[_entry(r, show=r.round_item.pk not in withheld) for r in result.items],
        )
    return render(request, "qc/calibration_round.html", context)


def _entry(result: calibration.ItemResult, *, show: bool) -> dict[str, Any]:
    ri = result.round_item
    return {
        "result": result,
        "round_item": ri,
        "shown": show,
        "context": annotation_selectors.context_messages(ri.item) if show else [],
        "responses": _responses(ri.item) if show else [],
        "expected": calibration.ANSWER_TEXT.get(ri.expected_answer, ""),
        "explanation": render_markdown(ri.explanation) if ri.explanation else "",
        "bars": [
            {"answer": calibration.ANSWER_TEXT[a], "n": result.counts.get(a, 0), "expected": a == ri.expected_answer}
            for a in calibration.ANSWERS
        ],
    }


@login_required
@require_POST
def calibration_close(request: HttpRequest, stream_id: int, round_id: int) -> HttpResponse:
    stream = get_stream_for_pm(request, stream_id)
    round_ = _get_round(stream, round_id)
    if calibration.close_round(round_=round_, closed_by=request.user):
        messages.success(request, "Round closed: the annotators can read the results.")
    else:
        messages.info(request, "The round was already closed.")
    return redirect("qc:calibration_round", stream_id=stream.pk, round_id=round_.pk)


@login_required
@require_POST
def calibration_expected(request: HttpRequest, stream_id: int, round_id: int, round_item_id: int) -> HttpResponse:
    stream = get_stream_for_pm(request, stream_id)
    round_item = _get_round_item(_get_round(stream, round_id), round_item_id)
    form = CalibrationExpectedForm(request.POST)
    if not form.is_valid():
        problems = " ".join(str(e) for errors in form.errors.values() for e in errors)
        return HttpResponse(problems, status=400, content_type="text/plain")
    calibration.set_expected(
        round_item=round_item,
        expected_answer=form.cleaned_data["expected_answer"],
        explanation=form.cleaned_data["explanation"],
    )
    messages.success(request, f"Expected answer of {round_item.item.external_id} saved.")
    return redirect(_round_url(round_item.round) + f"#item-{round_item.pk}")


@login_required
@require_POST
def calibration_promote(request: HttpRequest, stream_id: int, round_id: int, round_item_id: int) -> HttpResponse:
    """One action: the expected answer becomes a golden item, or a guideline example."""
    stream = get_stream_for_pm(request, stream_id)
    round_item = _get_round_item(_get_round(stream, round_id), round_item_id)
    form = CalibrationPromoteForm(request.POST)
    if not form.is_valid():
        return HttpResponse("Promote to what: golden or guidelines?", status=400, content_type="text/plain")
    try:
        if form.cleaned_data["to"] == "golden":
            done = calibration.promote_to_golden(round_item=round_item)
        else:
            done = calibration.promote_to_guidelines(round_item=round_item, author=request.user)
    except calibration.CalibrationError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, done.message)
    return redirect(_round_url(round_item.round) + f"#item-{round_item.pk}")


# --- The annotator's judging page -----------------------------------------------------------------
@login_required
@never_cache
@require_http_methods(["GET", "POST"])
def calibration_take(request: HtmxHttpRequest, stream_id: int, round_id: int) -> HttpResponse:
    """The round's next unanswered item in the item page's layout and keys; POST stores the answer
    (once) and, with htmx, answers with the next item in place."""
    round_ = get_round_for_annotator(request, stream_id, round_id)
    if not round_.is_open or round_.deadline <= timezone.now():
        return _go(request, round_, "The round has closed.")
    if request.method == "GET":
        return _render_take(request, round_, calibration.next_for(round_=round_, annotator=request.user))
    token = request.POST.get("token", "")
    row = (
        CalibrationAnswer.objects.filter(round_item__round=round_, annotator_id=request.user.pk, idempotency_key=token)
        .select_related("round_item__item", "round_item__round")
        .first()
    )
    if row is None or row.submitted_at is not None:
        # An old page, or a second post of one already answered (double click, back button).
        notice = ("info", "That page was out of date; here is your next item.")
        if row is not None:
            notice = ("info", "That answer was already saved.")
        following = calibration.next_for(round_=round_, annotator=request.user)
        return _render_take(request, round_, following, notice=notice)
    form = CalibrationAnswerForm(request.POST, min_words=round_.min_rationale_words)
    if not form.is_valid():
        return _render_take(request, round_, row, form=form, status=400)
    shown = Assignment(item=row.round_item.item, display_order=row.display_order)
    try:
        submitted = calibration.submit_answer(
            answer=row,
            idempotency_key=token,
            choice=shown.canonical_choice(form.cleaned_data["choice"]),
            strength=form.cleaned_data["strength"],
            rationale=form.cleaned_data["rationale"],
        )
    except calibration.RoundClosed as exc:
        return _go(request, round_, str(exc))
    notice = ("success", "Saved.") if submitted.created else ("info", "That answer was already saved.")
    following = calibration.next_for(round_=round_, annotator=request.user)
    if request.htmx:
        return _render_take(request, round_, following, notice=notice)
    messages.success(request, notice[1])
    return redirect("qc:calibration_take", stream_id=round_.stream_id, round_id=round_.pk)


def _go(request: HtmxHttpRequest, round_: CalibrationRound, message: str) -> HttpResponse:
    messages.info(request, message)
    url = _round_url(round_)
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)


def _render_take(
    request: HtmxHttpRequest,
    round_: CalibrationRound,
    answer: CalibrationAnswer | None,
    *,
    form: CalibrationAnswerForm | None = None,
    notice: tuple[str, str] | None = None,
    status: int = 200,
) -> HttpResponse:
    stream = round_.stream
    done, total = calibration.progress(round_, request.user)
    context: dict[str, Any] = {
        "stream": stream,
        "round": round_,
        "answer": answer,
        "notice": notice,
        "done": done,
        "total": total,
    }
    if answer is not None:
        item = answer.round_item.item
        shown = Assignment(item=item, display_order=answer.display_order)
        context.update(
            number=answer.round_item.position + 1,
            form=form
            or CalibrationAnswerForm(initial={"token": answer.idempotency_key}, min_words=round_.min_rationale_words),
            messages_in_context=annotation_selectors.context_messages(item),
            responses=annotation_selectors.shown_responses(shown),
        )
    if not request.htmx:
        context["guidelines"] = render_markdown(stream.guidelines) if stream.guidelines else ""
    template = "qc/calibration_take.html#workspace" if request.htmx else "qc/calibration_take.html"
    return render(request, template, context, status=status)
