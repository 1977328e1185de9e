"""Export pages (PMs) and the server-rendered API docs page."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Count, Prefetch
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from annotation import access as annotation_access
from annotation import selectors as annotation_selectors
from annotation.models import Item, Judgement
from projects.access import get_stream_for_pm, get_stream_for_reviewer
from projects.models import Role, Stream, StreamMembership
from projects.rendering import render_markdown
from qc import calibration, golden, peer_review, review, rules
from qc import charts as qc_charts
from qc import selectors as qc_selectors
from qc import services as qc_services
from qc.forms import GoldenForm, NoteForm, PriorGoldenForm, ReasonForm, ReviewForm
from qc.model_comparison import compare_models
from qc.models import Alert, CalibrationRound, Review, ReviewTask

User = get_user_model()


# --- QC: the stream's page, an annotator's page, actions (PMs) ----------------------------------
def _get_annotator_in_stream(stream: Stream, user_id: int) -> Any:
    """A user who is in the stream or has judgements in it; 404 otherwise."""
    in_stream = StreamMembership.objects.filter(stream=stream, user_id=user_id).exists()
    if not in_stream and not Judgement.objects.filter(stream=stream, annotator_id=user_id).exists():
        raise Http404("No such annotator in this stream.")
    return get_object_or_404(User, pk=user_id)


@login_required
@require_GET
def stream_qc(request: HttpRequest, stream_id: int) -> HttpResponse:
    """The stream's QC page: summary, open alerts, the sortable annotator table (from snapshots)."""
    stream = get_stream_for_pm(request, stream_id)
    window = "recent" if request.GET.get("window") == "recent" else "all"
    snapshots = qc_selectors.latest_metrics(stream)
    run = qc_selectors.last_run(stream)
    stream_figures, rows = qc_selectors.qc_overview(stream, window=window, snapshots=snapshots)
    # Every reviewer's reliability, peer reviewers included (qc.peer_review.reviewer_table).
    reviewers = peer_review.reviewer_table(stream)
    sort = request.GET.get("sort", "")
    descending = request.GET.get("order") == "desc"
    if sort in {metric for metric, _h, _f in qc_selectors.TABLE_COLUMNS}:
        present = [r for r in rows if r.value(sort) is not None]
        missing = [r for r in rows if r.value(sort) is None]
        present.sort(key=lambda r: r.value(sort) or 0.0, reverse=descending)
        rows = present + missing
    elif sort == "flags":
        rows.sort(key=lambda r: (len(r.flagged), r.open_alerts), reverse=True)
    context = {
        "stream": stream,
        "project": stream.project,
        "window": window,
        "figures": stream_figures,
        "rows": rows,
        "columns": qc_selectors.TABLE_COLUMNS,
        "groups": qc_selectors.TABLE_GROUPS,
        "charts": _with_history_urls(
            stream, qc_charts.quality_charts(stream, snapshots, run_details=run[1] if run else None)
        ),
        "sort": sort,
        "descending": descending,
        "progress": annotation_selectors.stream_progress(stream),
        "throughput": qc_selectors.throughput(stream),
        "alerts": list(rules.open_alerts(stream)[:100]),
        "review_counts": review.queue_counts(stream),
        "computed_at": run[0].isoformat() if run else None,
        "golden_count": Item.objects.filter(stream=stream, pool=Item.Pool.WORK, is_golden=True).count(),
        "simulated": Judgement.objects.filter(stream=stream, source=Judgement.Source.SIMULATED).count(),
        # Dynamic streams: which model the annotators preferred (names are shown: this page is PM-only).
        "comparison": compare_models(stream) if stream.mode == Stream.Mode.DYNAMIC else None,
        "periodic_health": qc_selectors.periodic_health(),
        # The stream's model judge, measured like a person and shown apart from the people.
        "judge": qc_selectors.judge_overview(stream, stream_figures),
        "reviewers": reviewers,
        "peer_ids": {row.user_id for row in reviewers if row.kind == peer_review.PEER_KIND},
        # ?split=version: the figures per guideline version, computed now (None: not asked for).
        "version_split": qc_services.figures_by_guideline_version(stream=stream)
        if request.GET.get("split") == "version"
        else None,
        # Calibration rounds: the stream's figures before and after each closed round, computed now
        # when asked for (?split=calibration; None: not asked for).
        "calibration_rounds": CalibrationRound.objects.filter(stream=stream).count(),
        "calibration_split": calibration.before_and_after(stream=stream)
        if request.GET.get("split") == "calibration"
        else None,
        "calibration_window_days": calibration.WINDOW_DAYS,
    }
    return render(request, "qc/stream_qc.html", context)


def _with_history_urls(stream: Stream, charts: dict[str, Any]) -> dict[str, Any]:
    """Where the chart of one annotator over time fetches each person's whole series."""
    base = reverse("qc:annotator_history", args=[stream.pk, 987654321])
    for person in charts["history"]["annotators"]:
        person["url"] = base.replace("987654321", str(person["id"]))
    return charts


@login_required
@require_GET
def annotator_history(request: HttpRequest, stream_id: int, user_id: int) -> HttpResponse:
    """One annotator's gold accuracy and agreement over time, as JSON, for the Quality page's
    chart of one annotator (PMs only; the page carries the first one's series and everyone's
    latest points)."""
    stream = get_stream_for_pm(request, stream_id)
    annotator = _get_annotator_in_stream(stream, user_id)
    return JsonResponse(qc_charts.annotator_history(stream, annotator.pk))


@login_required
@require_POST
def stream_recompute(request: HttpRequest, stream_id: int) -> HttpResponse:
    """The Quality page's "Recompute now" button (PMs): the stream's figures and QC rules at once
    (``qc.services.recompute_now``), then back to the page."""
    stream = get_stream_for_pm(request, stream_id)
    done = qc_services.recompute_now(stream=stream)
    if done.queued:
        messages.success(request, "Recompute queued: the figures refresh when a worker has run it.")
    else:
        messages.success(request, "QC figures recomputed and the QC rules run.")
    return redirect("qc:stream_qc", stream_id=stream.pk)


ANNOTATOR_PAGE_SIZE = 50
ANNOTATOR_PAGE_FIELDS = (
    "id",
    "item_id",
    "choice",
    "axes",
    "strength",
    "ranking",
    "display_order",
    "submitted_at",
    "active_seconds",
    "flag_harmful",
    "flag_pii",
    "flag_cannot_judge",
    "gold_correct",
    "source",
    "item__id",
    "item__external_id",
    "item__context",
)


@login_required
@require_GET
def annotator_qc(request: HttpRequest, stream_id: int, user_id: int) -> HttpResponse:
    """One annotator in one stream, for the PM: figures, alerts, judgements, pause/resume/review."""
    stream = get_stream_for_pm(request, stream_id)
    annotator = _get_annotator_in_stream(stream, user_id)
    figures = qc_selectors.latest_metrics(stream, annotator_id=annotator.pk)
    # A page of judgements, newest first, with only the columns shown: the items' responses (most
    # of a row's bytes) stay in the database. 200 full rows took most of this page's 433 ms.
    judgements = (
        Judgement.objects.filter(stream=stream, annotator=annotator, is_current=True)
        .select_related("item")
        .only(*ANNOTATOR_PAGE_FIELDS)
        .prefetch_related(Prefetch("reviews", queryset=Review.objects.only("judgement_id", "decision", "reason")))
        .order_by("-submitted_at", "-id")
    )
    page = Paginator(judgements, ANNOTATOR_PAGE_SIZE).get_page(request.GET.get("page"))
    # Peer review: may they be made a reviewer of this stream, and why (qc.peer_review); it
    # reads their stream membership too.
    peer = peer_review.eligibility(stream=stream, user=annotator)
    context = {
        "stream": stream,
        "project": stream.project,
        "annotator": annotator,
        "membership": peer.membership,
        "figures": figures,
        "alerts": Alert.objects.filter(stream=stream, annotator=annotator)[:50],
        "judgements": [(j, describe_judgement(j)) for j in page],
        "page": page,
        "reason_form": ReasonForm(),
        "peer": peer,
    }
    return render(request, "qc/annotator_qc.html", context)


@login_required
@require_POST
def annotator_pause(request: HttpRequest, stream_id: int, user_id: int) -> HttpResponse:
    stream = get_stream_for_pm(request, stream_id)
    annotator = _get_annotator_in_stream(stream, user_id)
    form = ReasonForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Give a reason to pause.")
    elif rules.pause_annotator(
        stream=stream, annotator_id=annotator.pk, reason=form.cleaned_data["reason"], actor=request.user
    ):
        messages.success(request, f"{annotator} is paused in {stream.name}.")
    else:
        messages.error(request, f"{annotator} cannot be paused from their current status.")
    return redirect("qc:annotator_qc", stream_id=stream.pk, user_id=annotator.pk)


@login_required
@require_POST
def annotator_resume(request: HttpRequest, stream_id: int, user_id: int) -> HttpResponse:
    stream = get_stream_for_pm(request, stream_id)
    annotator = _get_annotator_in_stream(stream, user_id)
    form = ReasonForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Give a reason to resume.")
    elif rules.resume_annotator(
        stream=stream, annotator_id=annotator.pk, reason=form.cleaned_data["reason"], actor=request.user
    ):
        messages.success(request, f"{annotator} can label in {stream.name} again.")
    else:
        messages.error(request, f"{annotator} is not paused.")
    return redirect("qc:annotator_qc", stream_id=stream.pk, user_id=annotator.pk)


@login_required
@require_POST
def annotator_send_review(request: HttpRequest, stream_id: int, user_id: int) -> HttpResponse:
    stream = get_stream_for_pm(request, stream_id)
    annotator = _get_annotator_in_stream(stream, user_id)
    form = NoteForm(request.POST)
    note = form.cleaned_data["note"] if form.is_valid() else ""
    sent = review.send_recent_work(
        stream=stream, annotator=annotator, reason=ReviewTask.Reason.PM, note=note or "Sent by a project manager"
    )
    messages.success(request, f"{sent} of {annotator}'s latest judgements sent to review.")
    return redirect("qc:annotator_qc", stream_id=stream.pk, user_id=annotator.pk)


@login_required
@require_POST
def alert_close(request: HttpRequest, stream_id: int, alert_id: int) -> HttpResponse:
    stream = get_stream_for_pm(request, stream_id)
    alert = get_object_or_404(Alert, stream=stream, pk=alert_id)
    form = NoteForm(request.POST)
    rules.close_alert(alert=alert, actor=request.user, note=form.cleaned_data["note"] if form.is_valid() else "")
    if request.POST.get("next_page") == "annotator" and alert.annotator_id:
        return redirect("qc:annotator_qc", stream_id=stream.pk, user_id=alert.annotator_id)
    return redirect(reverse("qc:stream_qc", args=[stream.pk]) + "#alerts")


# --- Entry pages of the navigation: every stream one may review / watch -------------------------
def _streams_with_role(user: Any, roles: list[str]) -> Any:
    return (
        Stream.objects.filter(project__memberships__user=user, project__memberships__role__in=roles)
        .select_related("project")
        .order_by("project__name", "-priority", "name")
        .distinct()
    )


@login_required
@require_GET
def review_home(request: HttpRequest) -> HttpResponse:
    """The navigation's Review entry: each stream the user reviews (as reviewer or PM, or as a
    peer reviewer of that stream), with the open tasks left for them."""
    streams = list(_streams_with_role(request.user, [Role.REVIEWER, Role.PM]))
    left = dict(
        review.open_for_reviewer(reviewer=request.user)
        .filter(stream__in=[s.pk for s in streams])
        .values_list("stream")
        .annotate(n=Count("id"))
    )
    rows = [{"stream": s, "left": left.get(s.pk, 0), "as_peer": False} for s in streams]
    rows += [
        {"stream": s, "left": peer_review.peer_tasks(stream=s, reviewer=request.user).count(), "as_peer": True}
        for s in peer_review.peer_streams(request.user)
    ]
    return render(request, "qc/streams_home.html", {"rows": rows, "page": "review"})


@login_required
@require_GET
def quality_home(request: HttpRequest) -> HttpResponse:
    """The navigation's Quality entry: each stream of the projects the user manages, with its open
    alerts."""
    streams = list(_streams_with_role(request.user, [Role.PM]))
    alerts = dict(
        Alert.objects.filter(stream__in=[s.pk for s in streams], acknowledged_at__isnull=True)
        .values_list("stream")
        .annotate(n=Count("id"))
    )
    rows = [{"stream": s, "alerts": alerts.get(s.pk, 0)} for s in streams]
    return render(request, "qc/streams_home.html", {"rows": rows, "page": "quality"})


# --- Review queue (reviewers and PMs) ----------------------------------------------------------
@login_required
@require_GET
def review_queue(request: HttpRequest, stream_id: int) -> HttpResponse:
    """The reviewer's page: the next judgement to review, shown as the annotator saw it (the
    annotator is not named: reviews are blind). Keyboard-first (static/js/review.js): a accept,
    r reject, 1-9 a canned reason, n the note, Enter saves; the next judgement replaces this one
    in place (htmx) and the page works as plain forms without JavaScript. A peer reviewer of the
    stream (``qc.peer_review``) gets the same page over their own queue: others' sampled work only."""
    stream, as_peer = get_stream_for_reviewer(request, stream_id)
    task = _next_task(stream, request.user, as_peer)
    return render(request, "qc/review.html", _review_context(request, stream, task, ReviewForm(), as_peer=as_peer))


def _next_task(stream: Stream, user: Any, as_peer: bool) -> ReviewTask | None:
    """A peer reviewer's next task comes from the sample only (``qc.peer_review.peer_tasks``)."""
    if as_peer:
        return peer_review.next_peer_task(stream=stream, reviewer=user)
    return review.next_task(stream=stream, reviewer=user)


# The annotator's answer in the terms they saw it ("chose the response shown first (B in the file)").
describe_judgement = annotation_selectors.answer_as_seen


def _review_context(
    request: HttpRequest,
    stream: Stream,
    task: ReviewTask | None,
    form: ReviewForm,
    *,
    saved: str = "",
    as_peer: bool = False,
) -> dict[str, Any]:
    context: dict[str, Any] = {"stream": stream, "project": stream.project, "task": task, "form": form, "saved": saved}
    context["as_peer"] = as_peer
    context["counts"] = review.queue_counts(stream)
    if as_peer:
        done, left = peer_review.peer_progress(stream=stream, reviewer=request.user)
    else:
        done, left = review.reviewer_progress(stream=stream, reviewer=request.user)
    context["progress"] = {"done": done, "left": left, "total": done + left, "position": done + 1}
    if task is not None:
        judgement = task.judgement
        item = judgement.item
        context["messages_in_context"] = annotation_selectors.context_messages(item)
        letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
        order = list(judgement.display_order or range(len(item.responses)))
        # In the order the annotator saw them, each with its letter in the file.
        context["responses"] = [
            {
                "file_label": letters[index],
                "shown": annotation_selectors.shown_place(place + 1),
                "chosen": judgement.choice == letters[index],
                "html": render_markdown(str(r.get("text", "")) if isinstance(r, dict) else str(r)),
            }
            for place, index in enumerate(order)
            if index < len(item.responses)
            for r in [item.responses[index]]
        ]
        context["judgement"] = judgement
        context["answer"] = describe_judgement(judgement)
    return context


def _review_page(request: HttpRequest, context: dict[str, Any], status: int = 200) -> HttpResponse:
    template = "qc/review.html#review" if getattr(request, "htmx", False) else "qc/review.html"
    return render(request, template, context, status=status)


@login_required
@require_POST
def review_submit(request: HttpRequest, stream_id: int, task_id: int) -> HttpResponse:
    """Saves a decision. Without JavaScript: redirect to the queue. With htmx: the next judgement's
    part of the page, in place (an invalid form comes back with its errors, in place too)."""
    stream, as_peer = get_stream_for_reviewer(request, stream_id)
    tasks = ReviewTask.objects.select_related("judgement__item", "judgement__assignment", "stream")
    if as_peer:  # a peer reviewer sees only the others' sampled work: any other id is a 404
        tasks = tasks.filter(reason=ReviewTask.Reason.SAMPLE).exclude(judgement__annotator_id=request.user.pk)
    task = get_object_or_404(tasks, stream=stream, pk=task_id)
    form = ReviewForm(request.POST)
    if not form.is_valid():
        # 400 for a plain POST; htmx swaps only 2xx, so it gets the form with its errors as 200.
        status = 200 if getattr(request, "htmx", False) else 400
        return _review_page(request, _review_context(request, stream, task, form, as_peer=as_peer), status=status)
    try:
        if as_peer:
            peer_review.submit_peer_review(
                task=task,
                reviewer=request.user,
                decision=form.cleaned_data["decision"],
                reason=form.cleaned_data["reason"],
            )
        else:
            review.submit_review(
                judgement=task.judgement,
                reviewer=request.user,
                decision=form.cleaned_data["decision"],
                reason=form.cleaned_data["reason"],
            )
    except review.OwnWork as exc:
        raise PermissionDenied(str(exc)) from exc
    except review.AlreadyReviewed:
        saved = "You had already reviewed that judgement."
    except peer_review.NotInQueue:
        saved = "Another reviewer took that judgement meanwhile: nothing was saved."
    else:
        saved = "Accepted." if form.cleaned_data["decision"] == "accept" else "Rejected; the annotator will read why."
    if getattr(request, "htmx", False):
        following = _next_task(stream, request.user, as_peer)
        return _review_page(
            request, _review_context(request, stream, following, ReviewForm(), saved=saved, as_peer=as_peer)
        )
    messages.success(request, saved)
    return redirect("qc:review_queue", stream_id=stream.pk)


# --- Golden set (PMs) ----------------------------------------------------------------------------
def _warn_trivial(request: HttpRequest, stream: Stream) -> None:
    """After a change to the golden set: one warning per trivial strategy that would never be paused."""
    for warning in golden.strategy_check(stream).warnings:
        messages.warning(request, f"The golden set can be passed without reading: {warning}.")


@login_required
@require_GET
def golden_set(request: HttpRequest, stream_id: int) -> HttpResponse:
    stream = get_stream_for_pm(request, stream_id)
    run = qc_selectors.last_run(stream)
    stored = run[1].get("disagreed") if run else None
    context = {
        "stream": stream,
        "project": stream.project,
        "golden": golden.golden_set(stream),
        # As of the last QC run (its row keeps the list), like every figure of the Quality page.
        "disagreed": golden.most_disagreed(stream=stream, limit=30, stored=stored),
        "disagreed_as_of": run[0] if run and stored is not None else None,
        "strategies": golden.strategy_check(stream),
        "prior_form": PriorGoldenForm(),
        "golden_form": GoldenForm(),
        "prior_available": Item.objects.filter(
            stream=stream, pool=Item.Pool.WORK, is_golden=False, prior_label__isnull=False
        ).count(),
    }
    return render(request, "qc/golden.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def golden_item(request: HttpRequest, stream_id: int, item_id: int) -> HttpResponse:
    """Make one item golden (or change / remove its golden answer)."""
    stream = get_stream_for_pm(request, stream_id)
    item = get_object_or_404(Item, stream=stream, pool=Item.Pool.WORK, pk=item_id)
    if request.method == "POST" and request.POST.get("remove"):
        golden.unset_golden(item=item)
        messages.success(request, f"{item.external_id} is an ordinary item again.")
        return redirect("qc:golden_set", stream_id=stream.pk)
    initial = {"answers": item.golden_answers, "explanation": item.golden_explanation, "harmful": item.golden_harmful}
    form = GoldenForm(request.POST or None, initial=initial, num_responses=item.num_responses)
    if request.method == "POST" and form.is_valid():
        golden.set_golden(
            item=item,
            answers=form.cleaned_data["answers"],
            explanation=form.cleaned_data["explanation"],
            harmful=form.cleaned_data["harmful"],
        )
        messages.success(request, f"{item.external_id} is golden.")
        _warn_trivial(request, stream)
        return redirect("qc:golden_set", stream_id=stream.pk)
    context = {
        "stream": stream,
        "project": stream.project,
        "item": item,
        "form": form,
        "messages_in_context": annotation_selectors.context_messages(item),
        "responses": [
            {"label": "ABCDEFGHIJKLMNOPQRSTUVWXYZ"[i], "html": render_markdown(str(r.get("text", "")))}
            for i, r in enumerate(item.responses)
            if isinstance(r, dict)
        ],
        "counts": Judgement.objects.filter(item=item, is_current=True)
        .exclude(source=Judgement.Source.MODEL)
        .values("choice")
        .annotate(n=Count("id")),
    }
    return render(request, "qc/golden_item.html", context, status=400 if request.method == "POST" else 200)


@login_required
@require_POST
def golden_from_prior(request: HttpRequest, stream_id: int) -> HttpResponse:
    stream = get_stream_for_pm(request, stream_id)
    form = PriorGoldenForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Say how many items (1–5000).")
    else:
        made = golden.golden_from_prior_labels(
            stream=stream, limit=form.cleaned_data["limit"], explanation=form.cleaned_data["explanation"]
        )
        messages.success(request, f"{made} item{'s' if made != 1 else ''} made golden from their prior labels.")
        _warn_trivial(request, stream)
    return redirect("qc:golden_set", stream_id=stream.pk)


# --- The annotator's own quality page ------------------------------------------------------------
@login_required
@require_GET
def my_quality(request: HttpRequest, stream_id: int) -> HttpResponse:
    """The annotator's own figures in plain words, the golden items they missed with their
    explanations, and reviewers' reasons on their rejected work."""
    stream = annotation_access.get_stream_for_annotator(request, stream_id)
    figures = {(r.metric, r.window): r for r in qc_selectors.latest_metrics(stream, annotator_id=request.user.pk)}
    missed = (
        Judgement.objects.filter(stream=stream, annotator_id=request.user.pk, is_current=True, gold_correct=False)
        .select_related("item")
        .order_by("-submitted_at")[:30]
    )
    rejected = (
        Review.objects.filter(
            judgement__stream=stream, judgement__annotator_id=request.user.pk, decision=Review.Decision.REJECT
        )
        .select_related("judgement__item")
        .order_by("-created_at")[:30]
    )
    context = {
        "stream": stream,
        "plain": qc_selectors.plain_words(stream, figures),
        "missed": [
            {
                "judgement": j,
                "explanation": render_markdown(j.item.golden_explanation or "No explanation was given."),
                "prompt": j.item.prompt_text,
            }
            for j in missed
        ],
        "rejected": rejected,
        "warning": qc_selectors.open_warning(stream=stream, annotator=request.user),
        "standing": getattr(stream, "standing", ""),
        "pause": qc_selectors.pause_for(stream=stream, annotator=request.user),
        "recorded": qc_selectors.RECORDED,
        "not_recorded": qc_selectors.NOT_RECORDED,
        "calibration_results": calibration.my_results(stream=stream, user=request.user),
        "calibration_pending": calibration.pending_for(stream=stream, user=request.user),
    }
    return render(request, "qc/my_quality.html", context)
