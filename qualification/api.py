"""The annotator's qualification test through the API, as ``annotation.api`` serves items:

- ``GET /api/streams/<id>/test/``: your standing, the attempt in progress and its current question
  (responses in this attempt's display order), the last result;
- ``POST /api/streams/<id>/test/start/``: opens an attempt (or returns the one in progress);
- ``POST /api/streams/<id>/test/answer/``: the answer to the current question, as you displayed the
  responses (``"A"`` = shown first), with the question's ``token``.

Same access rule and services as the pages (``annotation.access``, ``qualification.services``):
someone outside the project or not invited to the stream gets 404; an invited, testing or failed
member may take the test; a step that cannot happen now (no test, no attempts left, cool-down,
already qualified) is a 409 with the page's message. No body carries acceptable answers or
explanations before the attempt is scored (``qualification.serializers``).
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation import access
from annotation.serializers import ConflictSerializer
from projects.models import Stream
from qualification import selectors, services
from qualification.serializers import (
    AnswerResultSerializer,
    QualificationAnswerSerializer,
    QualificationStateSerializer,
    shown,
    state_payload,
    token,
)

NO_STORE = {"Cache-Control": "no-store"}


def _state(request: Request, stream: Stream, code: int = status.HTTP_200_OK, **extra: object) -> Response:
    standing = selectors.standing_in_test(stream=stream, user=request.user)
    return Response({**state_payload(stream, standing), **extra}, status=code, headers=NO_STORE)


class QualificationTestState(APIView):
    @extend_schema(operation_id="qualification_test_state", responses={200: QualificationStateSerializer})
    def get(self, request: Request, stream_id: int) -> Response:
        """Your standing in the stream's test and, during an attempt, its current question (safe to
        repeat: the same question in the same order until you answer it). An attempt whose time ran
        out is scored on the spot."""
        stream = access.get_stream_for_annotator(request, stream_id)
        return _state(request, stream)


class QualificationTestStart(APIView):
    @extend_schema(
        operation_id="qualification_test_start",
        request=None,
        responses={
            200: QualificationStateSerializer,
            409: OpenApiResponse(ConflictSerializer, description="You cannot start now; the detail says why."),
        },
    )
    def post(self, request: Request, stream_id: int) -> Response:
        """Opens an attempt (questions shuffled and response orders drawn now, if the test says so)
        and moves you to "testing"; an attempt in progress is returned as it is."""
        stream = access.get_stream_for_annotator(request, stream_id)
        try:
            services.start_attempt(stream=stream, user=request.user)
        except services.QualificationError as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
        return _state(request, stream)


class QualificationTestAnswer(APIView):
    @extend_schema(
        operation_id="qualification_test_answer",
        request=QualificationAnswerSerializer,
        responses={
            200: AnswerResultSerializer,
            409: OpenApiResponse(
                ConflictSerializer,
                description="No attempt in progress, or the token names a question already answered.",
            ),
        },
    )
    def post(self, request: Request, stream_id: int) -> Response:
        """Stores your answer to the current question and returns the next one, or the result
        when it was the last (``finished``). The token must be the current question's: a repeated
        answer (a retry) is a 409 and stores nothing."""
        stream = access.get_stream_for_annotator(request, stream_id)
        attempt = services.open_attempt_for(stream=stream, user=request.user)
        if attempt is None:
            return Response({"detail": "No attempt in progress: start one first."}, status=status.HTTP_409_CONFLICT)
        slot = services.current_slot(attempt)
        if slot is None:
            services.finish_attempt(attempt=attempt)
            return _state(request, stream, finished=True)
        body = QualificationAnswerSerializer(
            data=request.data, context={"assignment": shown(slot), "task_kind": stream.task_kind}
        )
        body.is_valid(raise_exception=True)
        if body.validated_data["token"] != token(attempt, slot):
            return Response(
                {"detail": "That question was already answered (or is not the current one)."},
                status=status.HTTP_409_CONFLICT,
            )
        try:
            result = services.answer_question(attempt=attempt, question_id=slot.question.pk, answer=body.canonical())
        except services.QualificationError as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
        return _state(request, stream, finished=result.finished)
