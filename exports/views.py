"""Export pages (PMs): start an export, follow it, download its files."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from exports import services as exporting
from exports import tasks as export_tasks
from exports.forms import ExportForm
from exports.models import Export
from projects.access import get_project_for_pm


def _get_export_for_pm(request: HttpRequest, slug: str, export_id: int) -> Export:
    project = get_project_for_pm(request, slug)
    return get_object_or_404(Export.objects.select_related("project", "created_by"), project=project, pk=export_id)


@login_required
@require_http_methods(["GET", "POST"])
def exports(request: HttpRequest, slug: str) -> HttpResponse:
    project = get_project_for_pm(request, slug)
    # From a stream page (?stream=<id>): that stream is ticked; the form limits it to the project.
    chosen = request.GET.get("stream", "")
    initial = {"streams": [int(chosen)]} if chosen.isdigit() else {}
    form = ExportForm(request.POST or None, project=project, initial=initial)
    if request.method == "POST" and form.is_valid():
        export = exporting.create_export(project=project, spec=form.spec(), created_by=request.user)
        export_tasks.queue_export(export.pk)
        return redirect("exports:export_detail", slug=project.slug, export_id=export.pk)
    past = Export.objects.filter(project=project).select_related("created_by").prefetch_related("streams")[:50]
    return render(request, "exports/exports.html", {"project": project, "form": form, "exports": past})


@login_required
@require_GET
def export_detail(request: HttpRequest, slug: str, export_id: int) -> HttpResponse:
    export = _get_export_for_pm(request, slug, export_id)
    context = {"project": export.project, "export": export, "files": _files(export), "since": export.since_export}
    template = "exports/export_detail.html#status" if getattr(request, "htmx", False) else "exports/export_detail.html"
    return render(request, template, context)


@login_required
@require_GET
def export_file(request: HttpRequest, slug: str, export_id: int, name: str) -> FileResponse:
    export = _get_export_for_pm(request, slug, export_id)
    path = exporting.export_file_path(export, name)
    if path is None:
        raise Http404("No such file.")
    return FileResponse(open(path, "rb"), as_attachment=True, filename=name, content_type=exporting.content_type(name))


def _files(export: Export) -> list[dict[str, Any]]:
    names = [f for f in export.files if f.get("role") in ("data", "meta")] + [{"name": "manifest.json"}]
    return [f for f in names if exporting.export_file_path(export, f["name"])]
