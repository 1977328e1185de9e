"""REST API of QC (PMs): a stream's figures, "Recompute now", and pausing or resuming an annotator
with a reason; and the stream's example gallery (its annotators, reviewers and PMs).

Every endpoint but the gallery needs the PM role in the stream's project: an outsider gets 404, a
reviewer or an annotator 403.
"""

from __future__ import annotations

from typing import Any

from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation.models import Judgement
from annotation.serializers import ConflictSerializer
from projects.api import parse_query, stream_for
from projects.models import Role, Stream, StreamMembership
from qc import gallery, rules
from qc import selectors as qc_selectors
from qc import services as qc_services
from qc.gallery_views import get_stream_for_gallery
from qc.models import MetricSnapshot
from qc.serializers import (
    AnnotatorStandingSerializer,
    GalleryEntrySerializer,
    MetricsReportSerializer,
    ReasonSerializer,
    RecomputeSerializer,
)


class _MetricQuery(serializers.Serializer[Any]):
    metric = serializers.CharField(required=False, max_length=64)
    window = serializers.ChoiceField(choices=MetricSnapshot.Window.choices, required=False)
    annotator = serializers.IntegerField(required=False, min_value=1)


class MetricList(APIView):
    """A stream's newest QC figures, for the stream and each annotator (PMs, by session or API
    token; reviewers review blind, so colleagues' figures by name are not theirs): the document
    ``manage.py qc_report --json`` prints (fields in docs/qc.md). Filters narrow ``results``."""

    @extend_schema(
        parameters=[
            OpenApiParameter("metric", OpenApiTypes.STR),
            OpenApiParameter("window", OpenApiTypes.STR, enum=MetricSnapshot.Window.values),
            OpenApiParameter("annotator", OpenApiTypes.INT),
        ],
        responses=MetricsReportSerializer,
    )
    def get(self, request: Request, stream_id: int) -> Response:
        stream = stream_for(request, stream_id, Role.PM)
        filters = parse_query(request, _MetricQuery)
        report = qc_selectors.metrics_report(
            stream, metric=filters.get("metric"), window=filters.get("window"), annotator_id=filters.get("annotator")
        )
        return Response(report)


# --- Pausing and resuming an annotator (PMs) -------------------------------------------------------
def _annotator_in_stream(stream: Stream, user_id: int) -> None:
    """404 unless the user is in the stream or has judgements in it (as the annotator's QC page)."""
    if not (
        StreamMembership.objects.filter(stream=stream, user_id=user_id).exists()
        or Judgement.objects.filter(stream=stream, annotator_id=user_id).exists()
    ):
        raise Http404("No such annotator in this stream.")


def _standing(stream: Stream, user_id: int, reason: str) -> dict[str, Any]:
    status = StreamMembership.objects.filter(stream=stream, user_id=user_id).values_list("status", flat=True).first()
    return {"annotator": user_id, "stream": stream.pk, "status": status or "", "reason": reason}


_CHANGE_RESPONSES = {
    200: AnnotatorStandingSerializer,
    409: OpenApiResponse(ConflictSerializer, description="The annotator's status does not allow it."),
}


class AnnotatorPause(APIView):
    @extend_schema(operation_id="qc_annotator_pause", request=ReasonSerializer, responses=_CHANGE_RESPONSES)
    def post(self, request: Request, stream_id: int, user_id: int) -> Response:
        """Pauses the annotator in the stream with a reason (PMs), as the annotator's QC page does
        (``qc.rules.pause_annotator``): their live lease ends and they receive no items until
        resumed. 409 when they cannot be paused from their status (not qualified, already paused)."""
        stream = stream_for(request, stream_id, Role.PM)
        _annotator_in_stream(stream, user_id)
        body = ReasonSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        reason = body.validated_data["reason"]
        if not rules.pause_annotator(stream=stream, annotator_id=user_id, reason=reason, actor=request.user):
            current = _standing(stream, user_id, reason)["status"] or "not a member"
            detail = f"This annotator cannot be paused from their current status ({current})."
            return Response({"detail": detail}, status=status.HTTP_409_CONFLICT)
        return Response(_standing(stream, user_id, reason))


class AnnotatorResume(APIView):
    @extend_schema(operation_id="qc_annotator_resume", request=ReasonSerializer, responses=_CHANGE_RESPONSES)
    def post(self, request: Request, stream_id: int, user_id: int) -> Response:
        """Resumes a paused annotator with a reason (PMs; ``qc.rules.resume_annotator``): the alerts
        that paused them are closed with it. 409 when they are not paused."""
        stream = stream_for(request, stream_id, Role.PM)
        _annotator_in_stream(stream, user_id)
        body = ReasonSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        reason = body.validated_data["reason"]
        if not rules.resume_annotator(stream=stream, annotator_id=user_id, reason=reason, actor=request.user):
            return Response({"detail": "This annotator is not paused."}, status=status.HTTP_409_CONFLICT)
        return Response(_standing(stream, user_id, reason))


class MetricRecompute(APIView):
    """Recompute a stream's QC figures now and run its QC rules on them (PMs): what the periodic
    recompute does every minute for streams with new work, for this stream at once. 200 with the
    new run's time when it ran in the request (no broker: the embedded mode); 202 when it was
    queued for a Celery worker (``GET .../metrics/`` shows the figures once it is done)."""

    @extend_schema(request=None, responses={200: RecomputeSerializer, 202: RecomputeSerializer})
    def post(self, request: Request, stream_id: int) -> Response:
        stream = stream_for(request, stream_id, Role.PM)
        done = qc_services.recompute_now(stream=stream)
        body = {
            "stream": stream.pk,
            "queued": done.queued,
            "computed_at": done.computed_at.isoformat() if done.computed_at else None,
        }
        return Response(body, status=202 if done.queued else 200)


# --- The example gallery ------------------------------------------------------------------------
class GalleryList(APIView):
    """The stream's example gallery (``qc.gallery``), newest first: for its annotators (those
    invited and not removed; the examples whose items are settled or that they had), reviewers
    and PMs (every example). Nobody is named: no username, user id or e-mail in it."""

    @extend_schema(responses=GalleryEntrySerializer(many=True))
    def get(self, request: Request, stream_id: int) -> Response:
        stream, sees_all = get_stream_for_gallery(request, stream_id)
        examples = gallery.examples_for(stream=stream, viewer=request.user, sees_all=sees_all)[:200]
        entries = []
        for example in examples:
            entry = gallery.entry(example)
            entries.append(
                {
                    "id": entry.id,
                    "kind": entry.kind,
                    "note": entry.note,
                    "answer": entry.answer,
                    "conversation": [{"role": m.role, "content": m.content} for m in entry.context],
                    "responses": [{"letter": r.label, "text": r.text, "chosen": r.chosen} for r in entry.responses],
                    "marked_at": entry.marked_at,
                }
            )
        return Response(GalleryEntrySerializer(entries, many=True).data)
