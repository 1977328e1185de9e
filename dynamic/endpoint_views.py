"""PM pages for model endpoints (dynamic labeling): list, create, edit, test connection.

PMs only: an outsider gets 404, a member below PM 403 (``projects.access``). No page ever shows an
API key: an endpoint names the environment variable that holds it, and the list says whether that
variable is set in the web process (not its value).
"""

from __future__ import annotations

import os

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.middleware import HtmxDetails

from dynamic import llm, services
from dynamic.access import get_endpoint_for_pm
from dynamic.forms import EndpointForm
from dynamic.models import Generation, ModelEndpoint
from projects.access import get_project_for_pm
from projects.models import Project


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


@require_GET
@login_required
def endpoints(request: HtmxHttpRequest, slug: str) -> HttpResponse:
    project = get_project_for_pm(request, slug)
    rows = []
    for endpoint in project.endpoints.order_by("name").prefetch_related("streams"):
        recent_errors = list(
            Generation.objects.filter(endpoint=endpoint, status=Generation.Status.ERROR)
            .order_by("-finished_at")
            .values("error_detail", "finished_at")[:3]
        )
        rows.append(
            {
                "endpoint": endpoint,
                "key_set": bool(endpoint.api_key_env and os.environ.get(endpoint.api_key_env)),
                "streams": list(endpoint.streams.all()),
                "recent_errors": recent_errors,
            }
        )
    return render(request, "dynamic/endpoints.html", {"project": project, "rows": rows})


@require_http_methods(["GET", "POST"])
@login_required
def endpoint_create(request: HtmxHttpRequest, slug: str) -> HttpResponse:
    project = get_project_for_pm(request, slug)
    form = EndpointForm(request.POST or None, project=project)
    if request.method == "POST":
        if form.is_valid():
            endpoint = services.create_endpoint(project=project, **form.endpoint_fields())
            messages.success(request, f"Endpoint “{endpoint.name}” saved. Test the connection below.")
            return redirect("dynamic:endpoint_edit", slug=project.slug, endpoint_id=endpoint.pk)
        return _form(request, project, form, None, status=400)
    return _form(request, project, form, None)


@require_http_methods(["GET", "POST"])
@login_required
def endpoint_edit(request: HtmxHttpRequest, slug: str, endpoint_id: int) -> HttpResponse:
    endpoint = get_endpoint_for_pm(request, slug, endpoint_id)
    form = EndpointForm(request.POST or None, project=endpoint.project, instance=endpoint)
    if request.method == "POST":
        if form.is_valid():
            services.update_endpoint(endpoint=endpoint, **form.endpoint_fields())
            messages.success(request, "Endpoint saved.")
            return redirect("dynamic:endpoint_edit", slug=endpoint.project.slug, endpoint_id=endpoint.pk)
        return _form(request, endpoint.project, form, endpoint, status=400)
    return _form(request, endpoint.project, form, endpoint)


@require_POST
@login_required
def endpoint_test(request: HtmxHttpRequest, slug: str, endpoint_id: int) -> HttpResponse:
    """Sends one short real request: latency and the model's reply, or the exact error."""
    endpoint = get_endpoint_for_pm(request, slug, endpoint_id)
    report = llm.check_connection(endpoint)
    if request.htmx:
        return render(request, "dynamic/endpoint_form.html#test-result", {"endpoint": endpoint, "report": report})
    form = EndpointForm(project=endpoint.project, instance=endpoint)
    return _form(request, endpoint.project, form, endpoint, report=report)


def _form(
    request: HtmxHttpRequest,
    project: Project,
    form: EndpointForm,
    endpoint: ModelEndpoint | None,
    *,
    report: llm.ConnectionReport | None = None,
    status: int = 200,
) -> HttpResponse:
    context = {"project": project, "form": form, "endpoint": endpoint, "report": report}
    return render(request, "dynamic/endpoint_form.html", context, status=status)
