"""The judge's page under a stream (PMs): attach or edit the judge, start and stop runs, follow
the spend and the verdicts. An outsider gets 404, a member below PM 403 (``judging.access``)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST
from django_htmx.middleware import HtmxDetails

from judging import prompting, selectors, services, tasks
from judging.access import get_judge_for_pm, get_open_run_for_pm, get_stream_and_judge_for_pm
from judging.forms import JudgeForm
from judging.models import Judge
from projects.models import Stream


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


@require_http_methods(["GET", "POST"])
@login_required
def judge(request: HtmxHttpRequest, stream_id: int) -> HttpResponse:
    """GET: the judge's settings and figures (the attach form when the stream has none). POST:
    attach or save. ``HX-Request``: only the status part (the page polls it during a run)."""
    stream, found = get_stream_and_judge_for_pm(request, stream_id)
    if request.htmx and request.method == "GET" and found is not None:
        return render(request, "judging/judge.html#status", _context(stream, found, None))
    form = JudgeForm(request.POST or None, stream=stream, instance=found)
    if request.method == "POST":
        if not form.is_valid():
            return render(request, "judging/judge.html", _context(stream, found, form), status=400)
        endpoint = form.cleaned_data["endpoint"]
        if found is None:
            services.attach_judge(stream=stream, endpoint=endpoint, created_by=request.user, **form.judge_settings())
            messages.success(request, "Judge attached. Start a run to judge the stream's items.")
        else:
            services.update_judge(judge=found, endpoint=endpoint, **form.judge_settings())
            messages.success(request, "Judge saved.")
        return redirect("judging:judge", stream_id=stream.pk)
    return render(request, "judging/judge.html", _context(stream, found, form))


@require_POST
@login_required
def run(request: HtmxHttpRequest, stream_id: int) -> HttpResponse:
    """Starts a run over the items without a verdict (or shows the one in progress)."""
    found = get_judge_for_pm(request, stream_id)
    if not found.budget_left:
        messages.error(request, "The budget is used up: raise it below to judge more items.")
        return redirect("judging:judge", stream_id=stream_id)
    started, created = services.start_run(judge=found, created_by=request.user)
    if created:
        tasks.queue_run(started.pk)
        messages.success(request, f"Run #{started.pk} started over {started.items_total} items.")
    else:
        messages.info(request, f"Run #{started.pk} is already in progress.")
    return redirect("judging:judge", stream_id=stream_id)


@require_POST
@login_required
def stop(request: HtmxHttpRequest, stream_id: int) -> HttpResponse:
    open_run = get_open_run_for_pm(request, stream_id)
    services.stop_run(run=open_run)
    messages.success(request, f"Run #{open_run.pk} stopped; the items in flight are written first.")
    return redirect("judging:judge", stream_id=stream_id)


@require_POST
@login_required
def retry(request: HtmxHttpRequest, stream_id: int) -> HttpResponse:
    """Asks again about the items whose verdict was an error (a new run)."""
    found = get_judge_for_pm(request, stream_id)
    forgotten = services.retry_errors(judge=found)
    started, created = services.start_run(judge=found, created_by=request.user)
    if created:
        tasks.queue_run(started.pk)
    messages.success(request, f"{forgotten} failed item{'s' if forgotten != 1 else ''} will be asked again.")
    return redirect("judging:judge", stream_id=stream_id)


def _context(stream: Stream, found: Judge | None, form: JudgeForm | None) -> dict[str, object]:
    context: dict[str, object] = {
        "stream": stream,
        "project": stream.project,
        "judge": found,
        "form": form,
        "placeholders": prompting.PLACEHOLDERS,
        "has_endpoints": stream.project.endpoints.exists(),
    }
    if found is not None:
        context.update(selectors.page_context(found))
    return context
