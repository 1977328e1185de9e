"""Serializers of the annotator's qualification API (``qualification.api``).

A question leaves the server as an item does (``annotation.serializers.ShownResponseSerializer``:
responses in the attempt's display order, labelled by position), with a ``token`` that names the
attempt and question. Nothing that could give the answer away is ever in a body before the attempt
is scored: no acceptable answers, no explanation, no item id, external id, model name or metadata.
After the attempt is scored, the result lists the questions answered wrongly with their
explanations when the test shows them (as the result page does) — never the acceptable answers.
"""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from annotation.models import Assignment
from annotation.selectors import context_messages, shown_responses
from annotation.serializers import SHOWN_CHOICES, ShownMessageSerializer, ShownResponseSerializer
from projects.models import Stream, StreamMembership
from projects.rendering import render_markdown
from qualification import services
from qualification.models import QualificationAnswer, QualificationAttempt, QualificationTest
from qualification.selectors import QualificationStanding


# --- Documentation of the bodies ------------------------------------------------------------------
class QualificationInfoSerializer(serializers.Serializer[Any]):
    questions = serializers.IntegerField()
    pass_mark = serializers.FloatField(help_text="Share of right answers needed, 0–1 (a score at the mark passes).")
    max_attempts = serializers.IntegerField(help_text="Attempts allowed, including any a PM granted.")
    cooldown_hours = serializers.FloatField()
    time_limit_minutes = serializers.IntegerField(allow_null=True)
    show_explanations = serializers.BooleanField(help_text="Explanations of wrong answers after scoring.")


class ShownQuestionSerializer(serializers.Serializer[Any]):
    token = serializers.CharField(help_text="Send it back with the answer: a repeated answer is recognised.")
    number = serializers.IntegerField(help_text="1-based position in the attempt.")
    total = serializers.IntegerField()
    task_kind = serializers.ChoiceField(choices=Stream.TaskKind.choices)
    context = ShownMessageSerializer(many=True, help_text="The conversation so far.")  # type: ignore[assignment]
    responses = ShownResponseSerializer(many=True, help_text="In this attempt's display order.")


class AttemptStateSerializer(serializers.Serializer[Any]):
    number = serializers.IntegerField()
    started_at = serializers.DateTimeField()
    deadline_at = serializers.DateTimeField(allow_null=True)
    submitted_at = serializers.DateTimeField(allow_null=True)
    score = serializers.FloatField(allow_null=True, help_text="0–1; null while in progress.")
    passed = serializers.BooleanField(allow_null=True)


class ReviewedAnswerSerializer(serializers.Serializer[Any]):
    number = serializers.IntegerField(help_text="1-based position in the attempt.")
    given = serializers.CharField(help_text='Your answer as you saw the responses ("A" = shown first).')
    explanation_html = serializers.CharField(allow_null=True, help_text="Sanitised HTML; null when not shown.")


class AttemptResultSerializer(AttemptStateSerializer):
    correct = serializers.IntegerField()
    total = serializers.IntegerField()
    wrong = ReviewedAnswerSerializer(many=True, help_text="Questions answered wrongly or not at all.")


class QualificationStateSerializer(serializers.Serializer[Any]):
    stream = serializers.IntegerField()
    status = serializers.CharField(
        help_text="Your standing in the stream: " + ", ".join(StreamMembership.Status.values) + "."
    )
    test = QualificationInfoSerializer(allow_null=True, help_text="Null: the stream has no active test.")
    attempts_used = serializers.IntegerField()
    attempts_allowed = serializers.IntegerField()
    next_attempt_at = serializers.DateTimeField(allow_null=True, help_text="When the cool-down ends, if it runs.")
    can_start = serializers.BooleanField(help_text="POST .../test/start/ would open (or continue) an attempt.")
    attempt = AttemptStateSerializer(allow_null=True, help_text="The attempt in progress.")
    question = ShownQuestionSerializer(allow_null=True, help_text="Its current question.")
    last_result = AttemptResultSerializer(allow_null=True, help_text="The last scored attempt.")


class AnswerResultSerializer(QualificationStateSerializer):
    finished = serializers.BooleanField(help_text="This answer ended the attempt (or its time had run out).")


# --- The answer -----------------------------------------------------------------------------------
class QualificationAnswerSerializer(serializers.Serializer[Any]):
    """An answer as the client showed the responses (``"A"`` = displayed first). Needs
    ``context={"assignment": ...}`` (the question's stand-in assignment: item and display order)."""

    token = serializers.CharField(max_length=64, help_text="The question's token from GET .../test/.")
    choice = serializers.ChoiceField(choices=SHOWN_CHOICES, required=False, help_text="Pairwise streams.")
    strength = serializers.IntegerField(
        min_value=1, max_value=3, required=False, allow_null=True, help_text="Accepted and ignored: not scored."
    )
    ranking = serializers.ListField(
        child=serializers.IntegerField(min_value=1),
        required=False,
        help_text="Ranking streams: the rank of each response in display order (1 = best; equal ranks tie).",
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        assignment: Assignment = self.context["assignment"]
        k = len(assignment.display_order)
        if self.context["task_kind"] == Stream.TaskKind.RANKING:
            ranking = attrs.get("ranking")
            if "choice" in attrs:
                raise serializers.ValidationError({"choice": "This stream takes a ranking, not a choice."})
            if ranking is None or len(ranking) != k or any(rank > k for rank in ranking):
                raise serializers.ValidationError({"ranking": f"Give one rank from 1 to {k} per response."})
        else:
            if "ranking" in attrs:
                raise serializers.ValidationError({"ranking": "This stream takes a choice, not a ranking."})
            if attrs.get("choice") is None:
                raise serializers.ValidationError({"choice": "This field is required: A, B, tie or both_bad."})
        return attrs

    def canonical(self) -> str:
        """The one canonical answer the question compares (``services.answer_from_judgement``)."""
        assignment: Assignment = self.context["assignment"]
        data = self.validated_data
        if "ranking" in data:
            return services.answer_from_judgement({"ranking": assignment.canonical_ranking(data["ranking"])})
        return services.answer_from_judgement({"choice": assignment.canonical_choice(data["choice"])})


# --- Payloads -------------------------------------------------------------------------------------
def token(attempt: QualificationAttempt, slot: services.Slot) -> str:
    return f"{attempt.pk}.{slot.question.pk}"


def shown(slot: services.Slot) -> Assignment:
    """An unsaved stand-in assignment: the item and this attempt's response order."""
    return Assignment(item=slot.question.item, display_order=slot.display_order)


def question_payload(stream: Stream, attempt: QualificationAttempt, slot: services.Slot) -> dict[str, Any]:
    stand_in = shown(slot)
    return {
        "token": token(attempt, slot),
        "number": slot.index + 1,
        "total": len(attempt.question_order),
        "task_kind": stream.task_kind,
        "context": [
            {"role": m.role, "content": m.content, "html": str(m.html)} for m in context_messages(stand_in.item)
        ],
        "responses": [
            {"label": r.label, "position": r.position, "text": r.text, "html": str(r.html)}
            for r in shown_responses(stand_in, diff=False)
        ],
    }


def _attempt(attempt: QualificationAttempt) -> dict[str, Any]:
    def stamp(value: Any) -> str | None:
        return value.isoformat() if value is not None else None

    return {
        "number": attempt.number,
        "started_at": stamp(attempt.started_at),
        "deadline_at": stamp(attempt.deadline_at),
        "submitted_at": stamp(attempt.submitted_at),
        "score": attempt.score if attempt.submitted_at is not None else None,
        "passed": attempt.passed if attempt.submitted_at is not None else None,
    }


def shown_answer(answer: QualificationAnswer) -> str:
    """The annotator's answer as they saw it: "A" is the response they were shown first."""
    if len(answer.answer) == 1 and answer.answer.isupper():
        canonical = ord(answer.answer) - ord("A")
        order = list(answer.display_order)
        if canonical in order:
            return chr(ord("A") + order.index(canonical))
    return answer.answer


def result_payload(attempt: QualificationAttempt) -> dict[str, Any]:
    """A scored attempt: score, pass or fail, and the questions answered wrongly (explanations
    only when the test shows them). Only for a submitted attempt."""
    test: QualificationTest = attempt.test
    answers = {a.question_id: a for a in QualificationAnswer.objects.filter(attempt=attempt).select_related("question")}
    wrong = []
    for index, entry in enumerate(attempt.question_order):
        answer = answers.get(entry["question"])
        if answer is not None and answer.correct:
            continue
        explanation = answer.question.explanation if answer is not None and test.show_explanations else ""
        wrong.append(
            {
                "number": index + 1,
                "given": shown_answer(answer) if answer is not None else "",
                "explanation_html": str(render_markdown(explanation)) if explanation else None,
            }
        )
    total = len(attempt.question_order)
    return {**_attempt(attempt), "correct": total - len(wrong), "total": total, "wrong": wrong}


def state_payload(stream: Stream, standing: QualificationStanding) -> dict[str, Any]:
    """The body of ``GET /api/streams/<id>/test/`` (``QualificationStateSerializer``)."""
    test, membership = standing.test, standing.membership
    attempt = standing.open_attempt
    slot = services.current_slot(attempt) if attempt is not None else None
    last = standing.last
    return {
        "stream": stream.pk,
        "status": membership.status if membership is not None else StreamMembership.Status.INVITED,
        "test": None
        if test is None
        else {
            "questions": test.questions.count(),
            "pass_mark": test.pass_mark,
            "max_attempts": standing.allowed,
            "cooldown_hours": test.cooldown_hours,
            "time_limit_minutes": test.time_limit_minutes,
            "show_explanations": test.show_explanations,
        },
        "attempts_used": standing.used,
        "attempts_allowed": standing.allowed,
        "next_attempt_at": standing.opens_at.isoformat() if standing.opens_at else None,
        "can_start": standing.can_start,
        "attempt": _attempt(attempt) if attempt is not None else None,
        "question": question_payload(stream, attempt, slot) if attempt is not None and slot is not None else None,
        "last_result": result_payload(last) if last is not None else None,
    }
