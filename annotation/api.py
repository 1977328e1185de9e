"""The annotator API (issue 3, fixed names; load tests and custom front-ends use it):

- ``GET /api/streams/<id>/next/``: the annotator's current or next item, 204 when none is left;
- ``POST /api/assignments/<id>/judgement/``: the answer, idempotent under ``Idempotency-Key``;
- ``POST /api/assignments/<id>/skip/``: a skip with its reason.

Same access rule and same services as the web page (``annotation.access``, ``annotation.services``):
an outsider or someone else's assignment is a 404, a paused or failed member a 403.
"""

from __future__ import annotations

import io
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import generics, serializers, status
from rest_framework.filters import OrderingFilter
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation import access, importing, selectors, services
from annotation.models import Assignment, Item, Judgement
from annotation.serializers import (
    BlindJudgementSerializer,
    ConflictSerializer,
    ImportReportSerializer,
    ItemImportSerializer,
    ItemSerializer,
    JudgementAnswerSerializer,
    JudgementResultSerializer,
    JudgementSerializer,
    NextItemSerializer,
    SkipResultSerializer,
    SkipSerializer,
    judgement_result_payload,
    next_item_payload,
)
from projects import access as project_access
from projects.api import parse_query, stream_for
from projects.models import Role

IDEMPOTENCY_HEADER = "Idempotency-Key"
IDEMPOTENCY_KEY_MAX = 255
NO_STORE = {"Cache-Control": "no-store"}


class NextItem(APIView):
    @extend_schema(
        operation_id="annotation_next",
        responses={
            200: NextItemSerializer,
            204: OpenApiResponse(description="Nothing left for you in this stream."),
        },
    )
    def get(self, request: Request, stream_id: int) -> Response:
        """Your live lease in the stream (a repeated call returns the same item until you answer or
        skip it), else the next item: its context and its responses in display order, each as
        imported and as sanitised HTML. 403 when you (or the stream) may not label at the moment."""
        stream = access.get_stream_for_annotator(request, stream_id)
        access.require_eligible(stream)
        if not selectors.can_annotate(stream):
            raise PermissionDenied(f"This stream is not open for labeling ({stream.status}).")
        assignment = services.claim_next(stream=stream, annotator=request.user)
        if assignment is None:
            return Response(status=status.HTTP_204_NO_CONTENT, headers=NO_STORE)
        payload = next_item_payload(
            assignment=assignment,
            stream=stream,
            messages=selectors.context_messages(assignment.item),
            responses=selectors.shown_responses(assignment, diff=False),
        )
        return Response(payload, headers=NO_STORE)


def _idempotency_key(request: Request, assignment: Assignment) -> str:
    """The stored key: the client's ``Idempotency-Key`` bound to the assignment (a client cannot
    collide with another assignment's key). Without the header, the lease's own token, as the web
    page uses: every retry of that lease is then the same submission."""
    client_key = request.headers.get(IDEMPOTENCY_HEADER)
    if client_key is None:
        return services.idempotency_key(assignment_id=assignment.pk, token=services.lease_token(assignment))
    if not client_key or len(client_key) > IDEMPOTENCY_KEY_MAX or not client_key.isprintable():
        raise serializers.ValidationError(
            {IDEMPOTENCY_HEADER: [f"Give 1 to {IDEMPOTENCY_KEY_MAX} printable characters."]}
        )
    return services.idempotency_key(assignment_id=assignment.pk, token=f"client:{client_key}")


class JudgementCreate(APIView):
    @extend_schema(
        operation_id="annotation_judgement",
        request=JudgementAnswerSerializer,
        parameters=[
            OpenApiParameter(
                IDEMPOTENCY_HEADER,
                OpenApiTypes.STR,
                OpenApiParameter.HEADER,
                description="Sending the same key again returns the stored judgement (200) instead of "
                "storing another; a different key for an answered assignment is a 409. Without it, the "
                "lease is the key: any retry for the same lease is the same submission.",
            )
        ],
        responses={
            201: JudgementResultSerializer,
            200: OpenApiResponse(JudgementResultSerializer, description="A repeat: the judgement already stored."),
            409: OpenApiResponse(ConflictSerializer, description="Already answered under another key, or skipped."),
        },
    )
    def post(self, request: Request, assignment_id: int) -> Response:
        """Your answer to an assignment, as you displayed the responses: ``"A"`` is the response
        displayed first. Stored in canonical order with the display order beside it. A late answer
        (lease expired) is kept; ``counted`` is false when the item was full by then."""
        assignment = access.get_assignment_for_annotator(request, assignment_id)
        key = _idempotency_key(request, assignment)
        body = JudgementAnswerSerializer(data=request.data, context={"assignment": assignment})
        body.is_valid(raise_exception=True)
        try:
            result = services.submit_judgement(
                assignment=assignment, idempotency_key=key, source=Judgement.Source.API, **body.answer()
            )
        except services.AlreadySubmitted as exc:
            conflict = {
                "detail": "This assignment was already answered under another key.",
                "judgement": exc.judgement.pk,
            }
            return Response(conflict, status=status.HTTP_409_CONFLICT)
        except services.AssignmentClosed:
            return Response({"detail": "This assignment was skipped."}, status=status.HTTP_409_CONFLICT)
        code = status.HTTP_201_CREATED if result.created else status.HTTP_200_OK
        return Response(judgement_result_payload(result.judgement), status=code)


class SkipCreate(APIView):
    @extend_schema(
        operation_id="annotation_skip",
        request=SkipSerializer,
        responses={
            200: SkipResultSerializer,
            409: OpenApiResponse(ConflictSerializer, description="The assignment was already answered."),
        },
    )
    def post(self, request: Request, assignment_id: int) -> Response:
        """Skips the assignment with a reason: the item goes to others and you will not see it
        again. Repeating a skip is harmless."""
        assignment = access.get_assignment_for_annotator(request, assignment_id)
        body = SkipSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        skipped = services.skip_assignment(
            assignment=assignment, reason=body.validated_data["reason"], note=body.validated_data["note"]
        )
        if not skipped:
            assignment.refresh_from_db(fields=["status"])
            if assignment.status == Assignment.Status.SUBMITTED:
                return Response({"detail": "This assignment was already answered."}, status=status.HTTP_409_CONFLICT)
        return Response({"assignment": assignment.pk, "status": Assignment.Status.SKIPPED.value})


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
        filters = parse_query(self.request, _ItemQuery)
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
    """A stream's judgements, canonical response order (reviewers and PMs). Reviewers review
    blind: their rows carry no ``annotator``, and filtering by annotator is for PMs (403)."""

    serializer_class = JudgementSerializer
    filter_backends = [OrderingFilter]
    ordering_fields = ["id", "submitted_at", "item"]
    ordering = ["id"]
    blind = True

    def get_serializer_class(self) -> type[JudgementSerializer]:
        return BlindJudgementSerializer if self.blind and getattr(self, "request", None) else JudgementSerializer

    def get_queryset(self) -> QuerySet[Judgement]:
        stream = stream_for(self.request, self.kwargs["stream_id"], Role.REVIEWER)
        self.blind = project_access.viewer_role(self.request, stream.project) != Role.PM
        filters = parse_query(self.request, _JudgementQuery)
        if self.blind and "annotator" in filters:
            raise PermissionDenied("Filtering by annotator needs the PM role: reviews are blind.")
        # People's judgements: a model judge's (source "model") are listed on the judge's page.
        qs = Judgement.objects.filter(stream=stream).exclude(source=Judgement.Source.MODEL)
        if filters.pop("current", True):
            qs = qs.filter(is_current=True)
        if "submitted_after" in filters:
            qs = qs.filter(submitted_at__gte=filters.pop("submitted_after"))
        if "submitted_before" in filters:
            qs = qs.filter(submitted_at__lt=filters.pop("submitted_before"))
        return qs.filter(**{f"{k}_id" if k in ("item", "annotator") else k: v for k, v in filters.items()})
