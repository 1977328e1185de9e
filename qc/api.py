"""REST API of QC: a stream's figures, and "Recompute now".

QC figures are a PM's business (they name every annotator): every endpoint needs the PM role in
the stream's project; an outsider gets 404.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from projects.api import parse_query, stream_for
from projects.models import Role
from qc import selectors as qc_selectors
from qc import services as qc_services
from qc.models import MetricSnapshot
from qc.serializers import MetricsReportSerializer, RecomputeSerializer


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
