"""Reads for qualification tests: an annotator's standing in a test, the PM's candidate list and
per-question statistics."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Count
from django.utils import timezone

from annotation.strategies import QuestionFacts, StrategyCheck, check_strategies, response_length
from projects.models import Stream, StreamMembership, StreamMembershipEvent
from qualification import services
from qualification.models import QualificationAnswer, QualificationAttempt, QualificationQuestion, QualificationTest

# A question is flagged only once this many people answered it: two wrong answers out of three
# say little about the question.
MIN_ANSWERS_FOR_FLAG = 5


@dataclass
class QualificationStanding:
    """What the annotator's stream page says about the test."""

    test: QualificationTest | None
    membership: StreamMembership | None
    attempts: list[QualificationAttempt]
    open_attempt: QualificationAttempt | None
    allowed: int
    opens_at: datetime | None  # the cool-down's end, when it has not ended yet

    @property
    def used(self) -> int:
        return len(self.attempts)

    @property
    def remaining(self) -> int:
        return max(0, self.allowed - self.used)

    @property
    def last(self) -> QualificationAttempt | None:
        finished = [a for a in self.attempts if a.submitted_at is not None]
        return finished[-1] if finished else None

    @property
    def can_start(self) -> bool:
        """May the member press "take the test" now (or continue the attempt in progress)?"""
        if self.test is None or self.membership is None:
            return False
        if self.open_attempt is not None:
            return True
        statuses = (StreamMembership.Status.INVITED, StreamMembership.Status.FAILED, StreamMembership.Status.TESTING)
        return self.membership.status in statuses and self.remaining > 0 and self.opens_at is None


def standing_in_test(*, stream: Stream, user: Any, now: datetime | None = None) -> QualificationStanding:
    now = now or timezone.now()
    test = services.active_test(stream)
    membership = StreamMembership.objects.filter(stream=stream, user=user).first()
    if test is None or membership is None:
        return QualificationStanding(test, membership, [], None, 0, None)
    open_attempt = services.open_attempt_for(stream=stream, user=user, now=now)
    if open_attempt is None:
        membership.refresh_from_db()  # an expired attempt was just scored
    attempts = list(QualificationAttempt.objects.filter(test=test, user=user).order_by("number"))
    finished = [a for a in attempts if a.submitted_at is not None]
    opens = services.next_attempt_at(test=test, membership=membership, last=finished[-1] if finished else None)
    return QualificationStanding(
        test=test,
        membership=membership,
        attempts=attempts,
        open_attempt=open_attempt,
        allowed=services.attempts_allowed(test, membership),
        opens_at=opens if opens is not None and opens > now else None,
    )


# --- The PM's views -------------------------------------------------------------------------------
@dataclass
class CandidateRow:
    membership: StreamMembership
    attempts: list[QualificationAttempt]
    allowed: int
    actions: list[tuple[str, str]]
    events: list[StreamMembershipEvent] = field(default_factory=list)

    @property
    def attempt_rows(self) -> list[tuple[QualificationAttempt, str]]:
        """(attempt, time taken as text, "" while in progress)."""
        return [(attempt, format_duration(attempt_duration(attempt))) for attempt in self.attempts]

    @property
    def best(self) -> float | None:
        scores = [a.score for a in self.attempts if a.score is not None]
        return max(scores) if scores else None

    @property
    def last(self) -> QualificationAttempt | None:
        return self.attempts[-1] if self.attempts else None


def attempt_duration(attempt: QualificationAttempt) -> timedelta | None:
    if attempt.submitted_at is None:
        return None
    return attempt.submitted_at - attempt.started_at


def format_duration(duration: timedelta | None) -> str:
    """``"4 min 05 s"``, ``"1 h 02 min"``, ``"12 s"``; "" for None."""
    if duration is None:
        return ""
    seconds = max(0, int(duration.total_seconds()))
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    if minutes:
        return f"{minutes} min {seconds:02d} s"
    return f"{seconds} s"


def candidate_rows(
    *, stream: Stream, test: QualificationTest | None, now: datetime | None = None
) -> list[CandidateRow]:
    """Everyone invited to the stream (removed members last), with their attempts, what a PM may do
    and their history (newest first). Attempts whose time ran out are scored first."""
    if test is not None:
        services.expire_overdue_attempts(test=test, now=now)
    memberships = list(StreamMembership.objects.filter(stream=stream).select_related("user").order_by("user__username"))
    by_user: dict[int, list[QualificationAttempt]] = defaultdict(list)
    if test is not None:
        for attempt in QualificationAttempt.objects.filter(test=test).order_by("number"):
            by_user[attempt.user_id].append(attempt)
    events: dict[int, list[StreamMembershipEvent]] = defaultdict(list)
    for event in (
        StreamMembershipEvent.objects.filter(stream_membership__stream=stream)
        .select_related("actor")
        .order_by("-created_at", "-id")
    ):
        events[event.stream_membership_id].append(event)
    rows = [
        CandidateRow(
            membership=sm,
            attempts=by_user.get(sm.user_id, []),
            allowed=services.attempts_allowed(test, sm) if test else 0,
            actions=services.available_actions(sm),
            events=events.get(sm.pk, []),
        )
        for sm in memberships
    ]
    rows.sort(key=lambda row: row.membership.status == StreamMembership.Status.REMOVED)
    return rows


@dataclass
class QuestionStats:
    question: QualificationQuestion
    answered: int
    correct: int
    wrong: list[tuple[str, int]]  # (answer, how often), most chosen first

    @property
    def responses(self) -> list[tuple[str, str]]:
        """(canonical letter, text) of the item's responses, for the PM."""
        return [
            (chr(ord("A") + i), str(r.get("text", "")) if isinstance(r, dict) else str(r))
            for i, r in enumerate(self.question.item.responses)
        ]

    @property
    def share_correct(self) -> float | None:
        return self.correct / self.answered if self.answered else None

    @property
    def flag(self) -> str:
        """Why the question may be bad, or "" (needs ``MIN_ANSWERS_FOR_FLAG`` answers)."""
        if self.answered < MIN_ANSWERS_FOR_FLAG:
            return ""
        if self.wrong and self.wrong[0][1] > self.correct:
            return f"“{self.wrong[0][0]}” is chosen more often than the expected answer"
        share = self.share_correct or 0.0
        if share < 0.5:
            return "most people answer it wrong"
        if share == 1.0:
            return "everyone answers it right: it does not tell people apart"
        return ""


def question_stats(test: QualificationTest) -> list[QuestionStats]:
    """Per question, over the answers of finished attempts: how many answered, the share right
    (its difficulty) and how often each wrong answer was chosen. One aggregate query."""
    questions = list(test.questions.select_related("item").order_by("position", "id"))
    counts: dict[int, dict[tuple[str, bool], int]] = defaultdict(dict)
    rows = (
        QualificationAnswer.objects.filter(question__test=test, attempt__submitted_at__isnull=False)
        .values_list("question_id", "answer", "correct")
        .annotate(n=Count("id"))
    )
    for question_id, answer, correct, n in rows:
        counts[question_id][(answer, correct)] = n
    stats = []
    for question in questions:
        per = counts.get(question.pk, {})
        right = sum(n for (_answer, ok), n in per.items() if ok)
        wrong = sorted(((a, n) for (a, ok), n in per.items() if not ok), key=lambda x: (-x[1], x[0]))
        stats.append(QuestionStats(question, answered=sum(per.values()), correct=right, wrong=wrong))
    return stats


def strategy_check(test: QualificationTest) -> StrategyCheck:
    """The trivial strategies (``annotation.strategies``) on the test's pairwise questions, held
    against its pass mark; the response order is random when the test shuffles responses."""
    questions = test.questions.select_related("item").only(
        "acceptable_answers", "item__responses", "item__num_responses"
    )
    facts = [
        QuestionFacts(
            list(q.acceptable_answers),
            [response_length(r) for r in q.item.responses],
            random_order=test.shuffle_responses,
        )
        for q in questions
        if q.item.num_responses == 2
    ]
    return check_strategies(facts, bar=test.pass_mark, mark="pass mark")
