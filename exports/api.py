"""Export API: start and list export runs, download their files, stream one stream's pairs."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.http import FileResponse, Http404, StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from exports import services as exporting
from exports import tasks as export_tasks
from exports.models import Export
from exports.serializers import ExportCreateSerializer, ExportOptionsSerializer, ExportSerializer
from projects import access
from projects.api import stream_for
from projects.models import Role


def _pm_exports(user: Any) -> QuerySet[Export]:
    qs = Export.objects.select_related("project").prefetch_related("streams")
    if user.is_staff:
        return qs
    return qs.filter(project__memberships__user=user, project__memberships__role=Role.PM)


def export_for_pm(request: Request, export_id: int) -> Export:
    """The export, for a PM of its project (or staff). 404 with one message whether it does not
    exist or belongs to a project the user is not in; 403 for members below PM."""
    export = Export.objects.select_related("project").filter(pk=export_id).first()
    if export is None:
        raise Http404("No such export.")
    access.check_project_role(request, export.project, Role.PM, missing="No such export.")
    return export


class ExportList(generics.ListCreateAPIView[Export]):
    """Exports of the projects you manage; POST starts one (a background job)."""

    serializer_class = ExportSerializer

    def get_queryset(self) -> QuerySet[Export]:
        return _pm_exports(self.request.user).order_by("-created_at", "-id")

    @extend_schema(request=ExportCreateSerializer, responses={202: ExportSerializer})
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        options = ExportCreateSerializer(data=request.data)
        options.is_valid(raise_exception=True)
        streams = [stream_for(request, pk, Role.PM) for pk in dict.fromkeys(options.validated_data["streams"])]
        if len({s.project_id for s in streams}) > 1:
            return Response({"streams": ["All streams of one export must belong to one project."]}, status=400)
        try:
            spec = options.to_spec(tuple(s.pk for s in streams))
            if spec.since_export_id is not None:
                exporting.check_since_export(spec.since_export_id, project_id=streams[0].project_id)
        except exporting.ExportError as exc:
            return Response({"detail": str(exc)}, status=400)
        export = exporting.create_export(project=streams[0].project, spec=spec, created_by=request.user)
        export_tasks.queue_export(export.pk)
        export.refresh_from_db()
        return Response(ExportSerializer(export).data, status=status.HTTP_202_ACCEPTED)


class ExportDetail(generics.RetrieveAPIView[Export]):
    serializer_class = ExportSerializer

    def get_object(self) -> Export:
        return export_for_pm(self.request, self.kwargs["export_id"])


class ExportFile(APIView):
    @extend_schema(
        responses={(200, "application/jsonl"): OpenApiResponse(OpenApiTypes.BINARY, description="A JSONL file.")}
    )
    def get(self, request: Request, export_id: int, name: str) -> FileResponse:
        """One file of a finished export (data files and manifest.json)."""
        export = export_for_pm(request, export_id)
        path = exporting.export_file_path(export, name)
        if path is None:
            raise Http404("No such file.")
        return FileResponse(
            open(path, "rb"), as_attachment=True, filename=name, content_type=exporting.content_type(name)
        )


class _IgnoreFormatParam(DefaultContentNegotiation):
    """``?format=`` names the export format here, not DRF's renderer override."""

    def select_renderer(self, request: Request, renderers: Any, format_suffix: str | None = None) -> Any:
        return super().select_renderer(request, renderers, format_suffix or "json")


class StreamExport(APIView):
    content_negotiation_class = _IgnoreFormatParam

    @extend_schema(
        parameters=[ExportOptionsSerializer],
        responses={
            (200, "application/jsonl"): OpenApiResponse(OpenApiTypes.BINARY, description="JSON Lines, one row each."),
        },
    )
    def get(self, request: Request, stream_id: int) -> Any:
        """The stream's export as JSON Lines, streamed as it is made (both splits; no files are
        kept). Takes the same options as POST /api/exports/ as query parameters."""
        stream = stream_for(request, stream_id, Role.PM)
        options = ExportOptionsSerializer(data=request.query_params.dict())
        options.is_valid(raise_exception=True)
        try:
            spec = options.to_spec((stream.pk,))
            if spec.since_export_id is not None:
                exporting.check_since_export(spec.since_export_id, project_id=stream.project_id)
        except exporting.ExportError as exc:
            return Response({"detail": str(exc)}, status=400)
        response = StreamingHttpResponse(exporting.stream_lines(spec), content_type="application/jsonl; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{stream.slug}-{spec.format}.jsonl"'
        response["X-Accel-Buffering"] = "no"  # let a proxy pass rows on as they come
        return response
