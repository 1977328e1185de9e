"""Writes for qualification tests. Every membership change goes through
``projects.services.transition_stream_membership`` (one state machine, every move stored with who,
when, why); the actions that are not a status change (another attempt allowed) are stored as an
event too, with ``from_status == to_status``.

Scoring: an answer is correct when it is one of the question's acceptable answers (a set: ``["A",
"tie"]`` accepts either). The score is correct answers / questions in the attempt — unanswered
questions (time ran out) count as wrong — and an attempt passes when ``score >= pass_mark`` (a
score exactly at the mark passes).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from annotation.models import CHOICES, Item
from projects import services as project_services
from projects.models import Stream, StreamMembership, StreamMembershipEvent
from qualification.models import QualificationAnswer, QualificationAttempt, QualificationQuestion, QualificationTest

# Floating-point slack when comparing a score with the pass mark: 4/5 = 0.8 must pass a mark of 0.8.
_EPSILON = 1e-9
Status = StreamMembership.Status


class QualificationError(Exception):
    """A qualification step that cannot happen now; the message is for the person who asked."""


class AttemptClosed(QualificationError):
    """The attempt was already submitted (or its time ran out and it was scored)."""


# --- The test itself ------------------------------------------------------------------------------
def active_test(stream: Stream) -> QualificationTest | None:
    """The stream's test when it is active and has questions; None means "no test": invited members
    receive items straight away."""
    return QualificationTest.objects.filter(stream=stream, is_active=True, questions__isnull=False).distinct().first()


def get_or_create_test(*, stream: Stream, **settings: Any) -> QualificationTest:
    """The stream's test, created with ``settings`` when missing; an existing test gets ``settings``
    (those given) saved."""
    test, created = QualificationTest.objects.get_or_create(stream=stream, defaults=settings)
    if not created and settings:
        for key, value in settings.items():
            setattr(test, key, value)
        test.full_clean(exclude=["stream"])
        test.save()
    return test


def normalise_answers(answers: list[str], *, k: int) -> list[str]:
    """Acceptable answers in a stable order, checked against ``k`` responses: letters first
    (``A``, ``B``, ...), then ``tie`` and ``both_bad``. Raises ``ValueError`` for anything else."""
    letters = [chr(ord("A") + i) for i in range(k)]
    result: set[str] = set()
    for raw in answers:
        value = str(raw).strip()
        value = value.upper() if len(value) == 1 else value.lower()
        if value not in letters and value not in ("tie", "both_bad"):
            raise ValueError(f"{raw!r} is not an answer: use {', '.join(letters)}, tie or both_bad")
        result.add(value)
    if not result:
        raise ValueError("give at least one acceptable answer")
    return sorted(result, key=lambda a: (len(a) > 1, a))


@transaction.atomic
def add_question(
    *, test: QualificationTest, item: Item, answers: list[str], explanation: str = ""
) -> QualificationQuestion:
    """Adds ``item`` (any item of the test's stream: a work item picked by a PM, or an imported
    qualification item) as a question, or updates its answers and explanation. ``answers`` are
    canonical (A = ``item.responses[0]``)."""
    acceptable = normalise_answers(answers, k=item.num_responses)
    question = QualificationQuestion.objects.filter(test=test, item=item).first()
    if question is None:
        last = QualificationQuestion.objects.filter(test=test).aggregate(m=Max("position"))["m"]
        return QualificationQuestion.objects.create(
            test=test, item=item, acceptable_answers=acceptable, explanation=explanation, position=(last or 0) + 1
        )
    question.acceptable_answers, question.explanation = acceptable, explanation
    question.save(update_fields=["acceptable_answers", "explanation"])
    return question


def remove_question(*, question: QualificationQuestion) -> None:
    """Deletes a question (and the answers given to it; attempts keep their stored scores). An
    imported item used only by the test goes with it; a work item stays in the queue."""
    item = question.item
    question.delete()
    if item.pool == Item.Pool.QUALIFICATION and not QualificationQuestion.objects.filter(item=item).exists():
        item.delete()


# --- Taking the test ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Slot:
    """One question of an attempt as the annotator sees it: its place and its response order."""

    index: int  # 0-based position in the attempt
    question: QualificationQuestion
    display_order: list[int]


def _lock_membership(stream: Stream, user: Any) -> StreamMembership:
    sm = StreamMembership.objects.select_for_update().filter(stream=stream, user=user).first()
    if sm is None or sm.status == Status.REMOVED:
        raise QualificationError("You are not invited to this stream.")
    return sm


def next_attempt_at(
    *, test: QualificationTest, membership: StreamMembership, last: QualificationAttempt | None
) -> datetime | None:
    """When the cool-down after ``last`` ends, or None when there is none to wait for (no attempt
    yet, no cool-down, or a PM allowed another attempt after it)."""
    if last is None or last.submitted_at is None or not test.cooldown_hours:
        return None
    if membership.retake_allowed_at is not None and membership.retake_allowed_at >= last.submitted_at:
        return None
    return last.submitted_at + timedelta(hours=test.cooldown_hours)


def attempts_allowed(test: QualificationTest, membership: StreamMembership) -> int:
    return test.max_attempts + membership.extra_attempts


@transaction.atomic
def start_attempt(*, stream: Stream, user: Any, now: datetime | None = None) -> QualificationAttempt:
    """Opens an attempt at the stream's test (or returns the one in progress) and moves the member
    to ``testing``. Questions are shuffled when the test says so, and each question's response
    order is drawn now and stored with the attempt, so a reload shows the same page.

    Raises ``QualificationError`` when the member may not start: no test, already qualified,
    paused, no attempts left, or the cool-down since the last attempt has not ended."""
    now = now or timezone.now()
    sm = _lock_membership(stream, user)
    test = active_test(stream)
    if test is None:
        raise QualificationError("This stream has no qualification test.")
    open_attempt = QualificationAttempt.objects.filter(test=test, user=user, submitted_at__isnull=True).first()
    if open_attempt is not None:
        if not open_attempt.deadline_at or now < open_attempt.deadline_at:
            return open_attempt
        finish_attempt(attempt=open_attempt, now=now)
        sm.refresh_from_db()
    if sm.status not in (Status.INVITED, Status.FAILED, Status.TESTING):
        raise QualificationError(f"You cannot take the test now (your status is {sm.get_status_display().lower()}).")
    attempts = list(QualificationAttempt.objects.filter(test=test, user=user).order_by("number"))
    if len(attempts) >= attempts_allowed(test, sm):
        raise QualificationError("You have used every attempt at this test. Your project manager can allow another.")
    opens = next_attempt_at(test=test, membership=sm, last=attempts[-1] if attempts else None)
    if opens is not None and now < opens:
        raise QualificationError(f"Your next attempt opens at {opens:%Y-%m-%d %H:%M} UTC.")

    questions = list(test.questions.select_related("item").order_by("position", "id"))
    rng = random.SystemRandom()
    if test.shuffle_questions:
        rng.shuffle(questions)
    order = []
    for question in questions:
        responses = list(range(question.item.num_responses))
        if test.shuffle_responses:
            rng.shuffle(responses)
        order.append({"question": question.pk, "order": responses})
    number = attempts[-1].number + 1 if attempts else 1
    deadline = now + timedelta(minutes=test.time_limit_minutes) if test.time_limit_minutes else None
    try:
        with transaction.atomic():
            attempt = QualificationAttempt.objects.create(
                test=test, user=user, number=number, started_at=now, deadline_at=deadline, question_order=order
            )
    except IntegrityError:
        # The same person started twice at once (two tabs): the membership lock makes this rare,
        # but the database has the last word.
        raise QualificationError("An attempt is already in progress.") from None
    if sm.status != Status.TESTING:
        project_services.transition_stream_membership(
            stream_membership=sm,
            to_status=Status.TESTING,
            actor=user,
            reason=f"attempt {number} of {attempts_allowed(test, sm)} started",
            action="test_started",
        )
    return attempt


def open_attempt_for(*, stream: Stream, user: Any, now: datetime | None = None) -> QualificationAttempt | None:
    """The member's attempt in progress, or None. An attempt whose time ran out is scored here (a
    lazy expiry: nobody waits for a sweep), so None is returned for it."""
    now = now or timezone.now()
    attempt = (
        QualificationAttempt.objects.select_related("test")
        .filter(test__stream=stream, user=user, submitted_at__isnull=True)
        .first()
    )
    if attempt is not None and attempt.deadline_at is not None and now >= attempt.deadline_at:
        finish_attempt(attempt=attempt, now=now)
        return None
    return attempt


def current_slot(attempt: QualificationAttempt) -> Slot | None:
    """The first question of the attempt not answered yet, or None when all are."""
    answered = set(QualificationAnswer.objects.filter(attempt=attempt).values_list("question_id", flat=True))
    for index, entry in enumerate(attempt.question_order):
        if entry["question"] not in answered:
            question = QualificationQuestion.objects.select_related("item").filter(pk=entry["question"]).first()
            if question is None:  # deleted by a PM during the attempt: skipped, counted as wrong
                continue
            return Slot(index=index, question=question, display_order=list(entry["order"]))
    return None


def answer_from_judgement(answer: dict[str, Any]) -> str:
    """The one canonical answer a question compares: the pairwise choice, or for a ranking the
    response ranked first (``tie`` when several share first place)."""
    if answer.get("choice"):
        return str(answer["choice"])
    ranking = answer.get("ranking") or [[]]
    best = ranking[0]
    return chr(ord("A") + best[0]) if len(best) == 1 else "tie"


@dataclass(frozen=True)
class AnswerResult:
    attempt: QualificationAttempt
    finished: bool  # this answer was the last one (or time ran out): the attempt is scored


@transaction.atomic
def answer_question(
    *, attempt: QualificationAttempt, question_id: int, answer: str, now: datetime | None = None
) -> AnswerResult:
    """Stores the answer to one question of an open attempt (once: a repeat is ignored) and scores
    the attempt when it was the last question. Past the deadline nothing is stored: the attempt is
    scored as it stands. Raises ``AttemptClosed`` for a submitted attempt."""
    now = now or timezone.now()
    locked = QualificationAttempt.objects.select_for_update().select_related("test").get(pk=attempt.pk)
    if locked.submitted_at is not None:
        raise AttemptClosed("This attempt is already over.")
    if locked.deadline_at is not None and now >= locked.deadline_at:
        return AnswerResult(finish_attempt(attempt=locked, now=now), finished=True)
    entry = next((e for e in locked.question_order if e["question"] == question_id), None)
    if entry is None or (answer not in CHOICES and not (len(answer) == 1 and answer.isupper())):
        raise QualificationError("That question is not part of this attempt.")
    question = QualificationQuestion.objects.filter(pk=question_id, test_id=locked.test_id).first()
    if question is not None:
        QualificationAnswer.objects.get_or_create(
            attempt=locked,
            question=question,
            defaults={
                "answer": answer,
                "display_order": entry["order"],
                "correct": answer in question.acceptable_answers,
                "answered_at": now,
            },
        )
    remaining = current_slot(locked)
    if remaining is None:
        return AnswerResult(finish_attempt(attempt=locked, now=now), finished=True)
    return AnswerResult(locked, finished=False)


def score(*, correct: int, total: int) -> float:
    return correct / total if total else 0.0


def passes(score_value: float, pass_mark: float) -> bool:
    return score_value + _EPSILON >= pass_mark


@transaction.atomic
def finish_attempt(
    *, attempt: QualificationAttempt, now: datetime | None = None, move_membership: bool = True
) -> QualificationAttempt:
    """Scores an attempt (see the module docstring) and moves the member from ``testing`` to
    ``qualified`` or ``failed``. An attempt past its deadline is stamped at the deadline. With
    ``move_membership=False`` (a PM waived the test meanwhile) only the attempt is closed."""
    now = now or timezone.now()
    locked = QualificationAttempt.objects.select_for_update().select_related("test").get(pk=attempt.pk)
    if locked.submitted_at is not None:
        return locked
    test = locked.test
    total = len(locked.question_order)
    correct = QualificationAnswer.objects.filter(attempt=locked, correct=True).count()
    locked.score = score(correct=correct, total=total)
    locked.passed = passes(locked.score, test.pass_mark)
    locked.submitted_at = min(now, locked.deadline_at) if locked.deadline_at else now
    locked.save(update_fields=["score", "passed", "submitted_at"])
    if move_membership:
        sm = StreamMembership.objects.filter(stream_id=test.stream_id, user_id=locked.user_id).first()
        if sm is not None and sm.status == Status.TESTING:
            project_services.transition_stream_membership(
                stream_membership=sm,
                to_status=Status.QUALIFIED if locked.passed else Status.FAILED,
                actor=locked.user,
                reason=f"attempt {locked.number}: {locked.score:.0%} (pass mark {test.pass_mark:.0%})",
                action="test_passed" if locked.passed else "test_failed",
            )
    attempt.submitted_at, attempt.score, attempt.passed = locked.submitted_at, locked.score, locked.passed
    return locked


def expire_overdue_attempts(*, test: QualificationTest | None = None, now: datetime | None = None) -> int:
    """Scores every open attempt whose time ran out (of ``test``, or of every test). The pages do
    this lazily for the attempts they show; this catches the ones nobody looks at."""
    now = now or timezone.now()
    overdue = QualificationAttempt.objects.filter(submitted_at__isnull=True, deadline_at__lte=now)
    if test is not None:
        overdue = overdue.filter(test=test)
    count = 0
    for attempt in overdue:
        finish_attempt(attempt=attempt, now=now)
        count += 1
    return count


# --- What a PM does -------------------------------------------------------------------------------
ACTIONS = {
    "waive": "Waive the test (qualify)",
    "allow_attempt": "Allow another attempt",
    "pause": "Pause",
    "resume": "Resume",
    "remove": "Remove from the stream",
}


def available_actions(membership: StreamMembership) -> list[tuple[str, str]]:
    """The actions the candidate list offers for one member, in a stable order."""
    status = membership.status
    allowed = {
        "waive": status in (Status.INVITED, Status.TESTING, Status.FAILED),
        "allow_attempt": status in (Status.INVITED, Status.TESTING, Status.FAILED),
        "pause": status == Status.QUALIFIED,
        "resume": status == Status.PAUSED,
        "remove": status != Status.REMOVED,
    }
    return [(name, label) for name, label in ACTIONS.items() if allowed[name]]


@transaction.atomic
def apply_action(
    *, membership: StreamMembership, action: str, actor: Any, reason: str, now: datetime | None = None
) -> StreamMembership:
    """A PM's action on one member of a stream, with a reason; every one is stored as a
    ``StreamMembershipEvent`` (who, when, why, which action).

    - ``waive``: qualified without (finishing) the test; an attempt in progress is closed and scored
      for the record but decides nothing;
    - ``allow_attempt``: one attempt beyond the test's limit, open now (the cool-down is lifted);
    - ``pause`` / ``resume`` / ``remove``: the state machine's moves.

    Raises ``TransitionError`` for a move the state machine forbids and ``QualificationError`` for
    an action that does not apply."""
    now = now or timezone.now()
    sm = StreamMembership.objects.select_for_update().get(pk=membership.pk)
    if action not in dict(available_actions(sm)):
        raise QualificationError(
            f"“{ACTIONS.get(action, action)}” does not apply to a {sm.get_status_display().lower()} member."
        )
    if action == "allow_attempt":
        sm.extra_attempts += 1
        sm.retake_allowed_at = now
        sm.save(update_fields=["extra_attempts", "retake_allowed_at"])
        StreamMembershipEvent.objects.create(
            stream_membership=sm,
            from_status=sm.status,
            to_status=sm.status,
            actor=actor,
            reason=reason,
            action=action,
            created_at=now,
        )
        return sm
    if action == "waive":
        for attempt in QualificationAttempt.objects.filter(
            test__stream_id=sm.stream_id, user_id=sm.user_id, submitted_at__isnull=True
        ):
            finish_attempt(attempt=attempt, now=now, move_membership=False)
    target = {"waive": Status.QUALIFIED, "pause": Status.PAUSED, "resume": Status.QUALIFIED, "remove": Status.REMOVED}
    return project_services.transition_stream_membership(
        stream_membership=sm, to_status=target[action], actor=actor, reason=reason, action=action
    )
