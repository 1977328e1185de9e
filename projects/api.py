"""REST API for machine clients: projects, streams, items, judgements, metrics, tokens.

Every lookup goes through ``projects.access``: an outsider gets 404, a member below the needed
role 403. Annotators may list projects and streams they belong to, nothing more: items carry
golden answers and judgements are other people's work, so both need a reviewer or a PM.
Filtering and ordering accept only the fields listed on each view.
"""

from __future__ import annotations

import io
from typing import Any, cast

from django.contrib.auth.models import User
from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import generics, serializers, status
from rest_framework.filters import OrderingFilter
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation.models import Item, Judgement
from projects import access, importing
from projects.models import ApiToken, Project, Role, Stream
from projects.serializers import (
    ApiTokenSerializer,
    ImportReportSerializer,
    ItemImportSerializer,
    ItemSerializer,
    JudgementSerializer,
    MetricsReportSerializer,
    NewApiTokenSerializer,
    ProjectSerializer,
    StreamSerializer,
)
from qc import selectors as qc_selectors
from qc.models import MetricSnapshot


def visible_projects(user: Any) -> QuerySet[Project]:
    if user.is_staff:
        return Project.objects.all()
    return Project.objects.filter(memberships__user=user)


def stream_for(request: Request, stream_id: int, role: str = Role.ANNOTATOR) -> Stream:
    # DRF's Request proxies the HttpRequest attributes the access helpers read.
    return access.get_stream_for_user(request, stream_id, role=role)


def _query(request: Request, serializer_class: type[serializers.Serializer[Any]]) -> dict[str, Any]:
    """Validated query-string filters: a bad value is a 400, never a 500."""
    query = serializer_class(data=request.query_params.dict())  # a dict: absent booleans stay absent
    query.is_valid(raise_exception=True)
    return {k: v for k, v in query.validated_data.items() if v not in (None, "")}


class ProjectList(generics.ListAPIView[Project]):
    """Projects you are a member of."""

    serializer_class = ProjectSerializer
    filter_backends = [OrderingFilter]
    ordering_fields = ["name", "created_at", "id"]
    ordering = ["name"]

    def get_queryset(self) -> QuerySet[Project]:
        return visible_projects(self.request.user).distinct()


class ProjectDetail(generics.RetrieveAPIView[Project]):
    serializer_class = ProjectSerializer

    def get_object(self) -> Project:
        return access.get_project_for_user(self.request, self.kwargs["slug"])


class _StreamQuery(serializers.Serializer[Any]):
    project = serializers.SlugField(required=False, help_text="Project slug.")
    status = serializers.ChoiceField(choices=Stream.Status.choices, required=False)


@extend_schema_view(
    get=extend_schema(
        parameters=[
            OpenApiParameter("project", OpenApiTypes.STR, description="Project slug."),
            OpenApiParameter("status", OpenApiTypes.STR, enum=Stream.Status.values),
        ]
    )
)
class StreamList(generics.ListAPIView[Stream]):
    """Streams of your projects."""

    serializer_class = StreamSerializer
    filter_backends = [OrderingFilter]
    ordering_fields = ["id", "name", "priority", "created_at"]
    ordering = ["id"]

    def get_queryset(self) -> QuerySet[Stream]:
        filters = _query(self.request, _StreamQuery)
        qs = Stream.objects.filter(project__in=visible_projects(self.request.user)).select_related("project")
        if "project" in filters:
            qs = qs.filter(project__slug=filters["project"])
        if "status" in filters:
            qs = qs.filter(status=filters["status"])
        return qs.distinct()


class StreamDetail(generics.RetrieveAPIView[Stream]):
    serializer_class = StreamSerializer

    def get_object(self) -> Stream:
        return stream_for(self.request, self.kwargs["stream_id"])


class _ItemQuery(serializers.Serializer[Any]):
    external_id = serializers.CharField(required=False, max_length=255)
    is_golden = serializers.BooleanField(required=False, allow_null=True, default=None)
    pool = serializers.ChoiceField(choices=Item.Pool.choices, required=False)


@extend_schema_view(
    get=extend_schema(
        parameters=[
            OpenApiParameter("external_id", OpenApiTypes.STR),
            OpenApiParameter("is_golden", OpenApiTypes.BOOL),
            OpenApiParameter("pool", OpenApiTypes.STR, enum=Item.Pool.values),
        ]
    )
)
class ItemList(generics.ListAPIView[Item]):
    """A stream's items (reviewers and PMs: items carry golden answers)."""

    serializer_class = ItemSerializer
    filter_backends = [OrderingFilter]
    ordering_fields = ["id", "created_at", "priority", "judgement_count"]
    ordering = ["id"]

    def get_queryset(self) -> QuerySet[Item]:
        stream = stream_for(self.request, self.kwargs["stream_id"], Role.REVIEWER)
        filters = _query(self.request, _ItemQuery)
        return Item.objects.filter(stream=stream, **filters)


class ItemDetail(generics.RetrieveAPIView[Item]):
    serializer_class = ItemSerializer

    def get_object(self) -> Item:
        stream = stream_for(self.request, self.kwargs["stream_id"], Role.REVIEWER)
        return get_object_or_404(Item, stream=stream, pk=self.kwargs["item_id"])


class ItemImport(APIView):
    @extend_schema(request=ItemImportSerializer, responses={201: ImportReportSerializer, 400: ImportReportSerializer})
    def post(self, request: Request, stream_id: int) -> Response:
        """Bulk import through the same importer as the web upload and the CLI (PMs). All-or-nothing
        unless ``skip_invalid``: one invalid line (with its line number in ``errors``) and nothing
        is written. Re-importing is idempotent (items match on their external id)."""
        stream = stream_for(request, stream_id, Role.PM)
        body = ItemImportSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        try:
            report = importing.import_items(
                stream=stream,
                source=io.BytesIO(data["data"].encode("utf-8", "surrogatepass")),
                fmt=data["format"],
                mapping=data.get("mapping") or None,
                skip_invalid=data["skip_invalid"],
                on_mismatch=data["on_mismatch"],
                created_by=request.user,
                filename="api.jsonl",
            )
        except importing.InvalidImport as exc:
            return Response(ImportReportSerializer(exc.report).data, status=status.HTTP_400_BAD_REQUEST)
        except importing.ImportOptionsError as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_400_BAD_REQUEST)
        code = status.HTTP_201_CREATED if report.ok else status.HTTP_400_BAD_REQUEST
        return Response(ImportReportSerializer(report).data, status=code)


class _JudgementQuery(serializers.Serializer[Any]):
    item = serializers.IntegerField(required=False, min_value=1)
    annotator = serializers.IntegerField(required=False, min_value=1)
    choice = serializers.ChoiceField(choices=["A", "B", "tie", "both_bad"], required=False)
    current = serializers.BooleanField(required=False, default=True)
    submitted_after = serializers.DateTimeField(required=False)
    submitted_before = serializers.DateTimeField(required=False)


@extend_schema_view(
    get=extend_schema(
        parameters=[
            OpenApiParameter("item", OpenApiTypes.INT),
            OpenApiParameter("annotator", OpenApiTypes.INT),
            OpenApiParameter("choice", OpenApiTypes.STR, enum=["A", "B", "tie", "both_bad"]),
            OpenApiParameter("current", OpenApiTypes.BOOL, description="Only current rows (default true)."),
            OpenApiParameter("submitted_after", OpenApiTypes.DATETIME),
            OpenApiParameter("submitted_before", OpenApiTypes.DATETIME),
        ]
    )
)
class JudgementList(generics.ListAPIView[Judgement]):
    """A stream's judgements, canonical response order (reviewers and PMs)."""

    serializer_class = JudgementSerializer
    filter_backends = [OrderingFilter]
    ordering_fields = ["id", "submitted_at", "item"]
    ordering = ["id"]

    def get_queryset(self) -> QuerySet[Judgement]:
        stream = stream_for(self.request, self.kwargs["stream_id"], Role.REVIEWER)
        filters = _query(self.request, _JudgementQuery)
        qs = Judgement.objects.filter(stream=stream)
        if filters.pop("current", True):
            qs = qs.filter(is_current=True)
        if "submitted_after" in filters:
            qs = qs.filter(submitted_at__gte=filters.pop("submitted_after"))
        if "submitted_before" in filters:
            qs = qs.filter(submitted_at__lt=filters.pop("submitted_before"))
        return qs.filter(**{f"{k}_id" if k in ("item", "annotator") else k: v for k, v in filters.items()})


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
        filters = _query(request, _MetricQuery)
        report = qc_selectors.metrics_report(
            stream, metric=filters.get("metric"), window=filters.get("window"), annotator_id=filters.get("annotator")
        )
        return Response(report)


class TokenList(generics.ListCreateAPIView[ApiToken]):
    """Your API tokens. Creating one answers with its key, once; only a hash is stored."""

    serializer_class = ApiTokenSerializer
    filter_backends = [OrderingFilter]
    ordering_fields = ["created_at", "id"]
    ordering = ["-created_at", "-id"]

    def get_queryset(self) -> QuerySet[ApiToken]:
        return ApiToken.objects.filter(user=cast(User, self.request.user))  # IsAuthenticated

    @extend_schema(request=ApiTokenSerializer, responses={201: NewApiTokenSerializer})
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = ApiTokenSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        token, key = ApiToken.generate(user=request.user, name=serializer.validated_data.get("name", ""))
        token.key = key  # type: ignore[attr-defined]  # shown once, never stored
        return Response(NewApiTokenSerializer(token).data, status=status.HTTP_201_CREATED)


class TokenDetail(generics.RetrieveDestroyAPIView[ApiToken]):
    """DELETE revokes the token (it stays listed, marked revoked)."""

    serializer_class = ApiTokenSerializer
    lookup_url_kwarg = "token_id"

    def get_queryset(self) -> QuerySet[ApiToken]:
        return ApiToken.objects.filter(user=cast(User, self.request.user))  # IsAuthenticated

    def perform_destroy(self, instance: ApiToken) -> None:
        if instance.revoked_at is None:
            ApiToken.objects.filter(pk=instance.pk).update(revoked_at=timezone.now())
