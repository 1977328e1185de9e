"""The PM's model-comparison page of a dynamic stream (``/streams/<id>/models/``): which endpoints
the stream draws from (with weights) and how annotators rated them (``qc.model_comparison``).
PMs only — model names are revealed to nobody else: an outsider gets 404, anyone below PM 403.
The stream's QC page includes ``qc/_model_comparison.html`` with the same ``comparison``."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods
from django_htmx.middleware import HtmxDetails

from dynamic import services as dynamic_services
from dynamic.forms import StreamEndpointsForm
from dynamic.models import StreamEndpoint
from projects.access import get_stream_for_pm
from qc.model_comparison import compare_models, model_history


@require_http_methods(["GET", "POST"])
@login_required
def stream_models(request: HttpRequest, stream_id: int) -> HttpResponse:
    stream = get_stream_for_pm(request, stream_id)
    endpoints = list(stream.project.endpoints.order_by("name"))
    current = dict(StreamEndpoint.objects.filter(stream=stream).values_list("endpoint_id", "weight"))
    form = StreamEndpointsForm(request.POST or None, endpoints=endpoints, current=current)
    if request.method == "POST":
        if form.is_valid():
            dynamic_services.set_stream_endpoints(stream=stream, weights=form.weights())
            messages.success(request, "The stream's endpoints were saved; new conversations use them.")
            return redirect("qc:stream_models", stream_id=stream.pk)
        status = 400
    else:
        status = 200
    context = {"stream": stream, "project": stream.project, "form": form, "comparison": compare_models(stream)}
    return render(request, "qc/stream_models.html", context, status=status)


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


@require_GET
@login_required
def stream_model_history(request: HtmxHttpRequest, stream_id: int) -> HttpResponse:
    """Each model version's win rate per week and Bradley–Terry rating over time
    (``qc.model_comparison.model_history``). The project page loads the ``history`` part into each
    dynamic stream's row with htmx; without JavaScript its link opens this page. PMs only."""
    stream = get_stream_for_pm(request, stream_id)
    context = {
        "stream": stream,
        "project": stream.project,
        "history": model_history(stream),
        "history_id": f"model-history-data-{stream.pk}",
    }
    template = "qc/model_history.html#history" if request.htmx else "qc/model_history.html"
    return render(request, template, context)
