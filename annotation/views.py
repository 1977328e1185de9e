"""The annotator's pages: stream home, the item page (workspace), submit, skip, heartbeat.

With htmx a submit or skip answers with the next item's workspace fragment
(``"annotation/item.html#workspace"``) in the same response: one round trip per item. Without
JavaScript the same URLs take plain form posts and redirect (post/redirect/get).
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST
from django_htmx.middleware import HtmxDetails

from annotation import access, hooks, selectors, services
from annotation.forms import GuidelinesAckForm, HeartbeatForm, JudgementForm, SkipForm
from annotation.models import Assignment
from projects import selectors as project_selectors
from projects import services as project_services
from projects.models import Stream, StreamMembership
from projects.rendering import render_markdown
from projects.selectors import GuidelineChange


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


# --- Pages ------------------------------------------------------------------------------------
@require_GET
@login_required
def index(request: HttpRequest) -> HttpResponse:
    streams = selectors.labeling_streams_for(request.user)
    for stream in streams:
        stream.may_work = selectors.may_work(stream)  # type: ignore[attr-defined]
    return render(request, "annotation/index.html", {"streams": streams})


@require_GET
@login_required
def stream_home(request: HttpRequest, stream_id: int) -> HttpResponse:
    stream = access.get_stream_for_annotator(request, stream_id)
    _start_guidelines(request, stream)
    context = {
        "stream": stream,
        "eligible": selectors.may_work(stream),
        "guidelines": render_markdown(stream.guidelines),
        "progress": selectors.annotator_progress(stream=stream, annotator=request.user),
        "stream_progress": selectors.stream_progress(stream),
        "guidelines_change": guidelines_change(stream),
        # qualification: the user's standing in the stream's test (``test``).
        **hooks.stream_home_context.context(stream=stream, user=request.user),
    }
    return render(request, "annotation/stream_home.html", context)


@require_GET
@login_required
@never_cache
def work(request: HtmxHttpRequest, stream_id: int) -> HttpResponse:
    """The item page: resumes the annotator's lease or leases the next item (safe to reload)."""
    stream = access.get_stream_for_annotator(request, stream_id)
    if getattr(stream, "standing", None) == StreamMembership.Status.PAUSED:
        return render_paused(request, stream)
    access.require_eligible(stream)
    if stream.mode == Stream.Mode.DYNAMIC:
        return redirect("dynamic:converse", stream_id=stream.pk)
    _start_guidelines(request, stream)
    assignment = services.claim_next(stream=stream, annotator=request.user) if selectors.can_annotate(stream) else None
    warning = " ".join(filter(None, hooks.annotator_warning.call(stream=stream, annotator=request.user)))
    notice = ("warning", warning) if warning else None
    return _render_workspace(request, stream, assignment, notice=notice)


@require_POST
@login_required
def submit(request: HtmxHttpRequest, assignment_id: int) -> HttpResponse:
    assignment = access.get_assignment_for_annotator(request, assignment_id)
    stream = assignment.stream
    form = JudgementForm(request.POST, assignment=assignment, stream=stream)
    if not form.is_valid():
        return _render_workspace(request, stream, assignment, form=form, status=400)
    key = services.idempotency_key(assignment_id=assignment.pk, token=form.cleaned_data["token"])
    try:
        result = services.submit_judgement(assignment=assignment, idempotency_key=key, **form.answer())
    except services.AlreadySubmitted:
        notice = ("info", "That item had already been submitted; your first answer is kept.")
    except services.AssignmentClosed:
        notice = ("info", "You had skipped that item, so the answer was not stored.")
    else:
        if result.surplus:
            notice = (
                "warning",
                "Your lease on that item had expired and it already had enough judgements: "
                "your answer is saved but will not be counted.",
            )
        elif not result.created:
            notice = ("info", "That answer was already saved.")
        else:
            notice = ("success", "Saved.")
        if result.qc is not None and result.qc.paused:
            return render_paused(request, stream)
        if result.qc is not None and result.qc.explanation:
            return _next(request, stream, notice, explanation=result.qc.explanation)
    return _next(request, stream, notice)


@require_POST
@login_required
def skip(request: HtmxHttpRequest, assignment_id: int) -> HttpResponse:
    assignment = access.get_assignment_for_annotator(request, assignment_id)
    form = SkipForm(request.POST)
    if not form.is_valid():
        return _render_workspace(request, assignment.stream, assignment, skip_form=form, status=400)
    services.skip_assignment(assignment=assignment, reason=form.cleaned_data["reason"], note=form.cleaned_data["note"])
    return _next(request, assignment.stream, ("info", "Skipped. You will not see that item again."))


@require_POST
@login_required
def guidelines_acknowledge(request: HtmxHttpRequest, stream_id: int) -> HttpResponse:
    """The "guidelines changed" notice's button: the annotator read the changes up to the version
    the notice showed (``version``; a later change shows its own notice). htmx removes the notice;
    without JavaScript, back to where the notice was."""
    stream = access.get_stream_for_annotator(request, stream_id)
    form = GuidelinesAckForm(request.POST)
    if not form.is_valid():
        return HttpResponse("Which version did you read?", status=400, content_type="text/plain")
    project_services.acknowledge_guidelines(stream=stream, user=request.user, version=form.cleaned_data["version"])
    if request.htmx:
        return HttpResponse("")
    if form.cleaned_data["next"] == "home" or not selectors.can_annotate(stream):
        return redirect("annotation:stream_home", stream_id=stream.pk)
    return redirect("annotation:work", stream_id=stream.pk)


@require_POST
@login_required
def heartbeat(request: HttpRequest, assignment_id: int) -> HttpResponse:
    """Extends the lease while the page is open. ``{"live": false}`` when the lease has ended (the
    page says so; a late answer is still kept). Always 200: a heartbeat racing a submit is normal."""
    assignment = access.get_assignment_for_annotator(request, assignment_id)
    form = HeartbeatForm(request.POST)
    interacted = form.is_valid() and form.cleaned_data["interacted"]
    live = services.extend_lease(assignment=assignment, interacted=interacted)
    return JsonResponse({"live": live})


# --- Helpers ----------------------------------------------------------------------------------
def _start_guidelines(request: HttpRequest, stream: Stream) -> None:
    """A member who never acknowledged a version (0: invited before versions, or by a path that did
    not record one) starts under the current one: the notice is about changes after that."""
    if getattr(stream, "guidelines_acknowledged", None) == 0:
        project_services.acknowledge_guidelines(stream=stream, user=request.user, version=stream.guideline_version)
        stream.guidelines_acknowledged = stream.guideline_version  # type: ignore[attr-defined]


def guidelines_change(stream: Stream) -> GuidelineChange | None:
    """The "guidelines changed" notice for the user the stream was loaded for (its
    ``guidelines_acknowledged``): None, without a query, when they read the current version."""
    return project_selectors.guideline_change(stream, getattr(stream, "guidelines_acknowledged", None) or 0)


def _next(request: HtmxHttpRequest, stream: Stream, notice: tuple[str, str], explanation: str = "") -> HttpResponse:
    if request.htmx:
        assignment = (
            services.claim_next(stream=stream, annotator=request.user) if selectors.can_annotate(stream) else None
        )
        return _render_workspace(request, stream, assignment, notice=notice, explanation=explanation)
    level = {"success": messages.SUCCESS, "warning": messages.WARNING}.get(notice[0], messages.INFO)
    messages.add_message(request, level, notice[1])
    if explanation:
        messages.warning(request, f"The expected answer differs from yours on the item you just did: {explanation}")
    return redirect("annotation:work", stream_id=stream.pk)


def render_paused(request: HtmxHttpRequest, stream: Stream) -> HttpResponse:
    """A paused annotator gets a clear page instead of items (static and dynamic streams alike):
    why, since when, what next."""
    context = {"stream": stream, **hooks.paused_page_context.context(stream=stream, annotator=request.user)}
    template = "annotation/paused.html#workspace" if request.htmx else "annotation/paused.html"
    return render(request, template, context)


def _render_workspace(
    request: HtmxHttpRequest,
    stream: Stream,
    assignment: Assignment | None,
    *,
    form: JudgementForm | None = None,
    skip_form: SkipForm | None = None,
    notice: tuple[str, str] | None = None,
    explanation: str = "",
    status: int = 200,
) -> HttpResponse:
    context: dict[str, Any] = {
        "stream": stream,
        "assignment": assignment,
        "notice": notice,
        # Training mode: why the previous (golden) answer was wrong, as sanitised markdown.
        "golden_feedback": render_markdown(explanation) if explanation else None,
        "progress": selectors.annotator_progress(stream=stream, annotator=request.user),
        "eligible": selectors.can_annotate(stream),
        "guidelines_change": guidelines_change(stream),
    }
    if assignment is not None:
        context.update(
            form=form
            or JudgementForm(assignment=assignment, stream=stream, initial={"token": services.lease_token(assignment)}),
            skip_form=skip_form or SkipForm(),
            messages_in_context=selectors.context_messages(assignment.item),
            responses=selectors.shown_responses(assignment),
            is_ranking=stream.task_kind == Stream.TaskKind.RANKING,
            lease_seconds=stream.lease_minutes * 60,
            # A model judge's pick (the stream's suggest use), as the annotator sees the responses.
            suggestion=selectors.suggestion_as_shown(
                assignment, hooks.item_suggestion.first(assignment=assignment, stream=stream)
            ),
        )
    if not request.htmx:
        # The guidelines drawer lives outside the swapped workspace: drawn with the full page only.
        context["guidelines"] = render_markdown(stream.guidelines) if stream.guidelines else ""
    template = "annotation/item.html#workspace" if request.htmx else "annotation/item.html"
    return render(request, template, context, status=status)
