"""Reads for qualification tests: an annotator's standing in a test, the PM's candidate list and
per-question statistics."""

from __future__ import annotations

import html
import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Count
from django.utils import timezone
from django.utils.html import strip_tags
from django.utils.safestring import SafeString
from django.utils.text import Truncator

from annotation.models import Assignment
from annotation.selectors import ShownMessage, ShownResponse, context_messages, shown_responses
from annotation.strategies import QuestionFacts, StrategyCheck, check_strategies, response_length
from projects.models import Stream, StreamMembership, StreamMembershipEvent
from projects.rendering import render_markdown
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
    def may_retake(self) -> bool:
        """Could the member take this test again — now, after the cool-down, or an attempt is in
        progress? While they could, the answer key of the test stays hidden from them."""
        if self.test is None or self.membership is None:
            return False
        if self.open_attempt is not None:
            return True
        statuses = (StreamMembership.Status.INVITED, StreamMembership.Status.FAILED, StreamMembership.Status.TESTING)
        return self.membership.status in statuses and self.remaining > 0

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


# --- The annotator's review of a scored attempt ---------------------------------------------------
EXCERPT_CHARS = 140


def plain_excerpt(markdown: str, limit: int = EXCERPT_CHARS) -> str:
    """``markdown`` as the reader sees it, as plain text cut to ``limit`` characters: rendered
    first (and sanitised), then stripped of its tags, so a cut never leaves half a link, an open
    code fence or ``**`` without its pair. The caller escapes it like any text."""
    text = html.unescape(strip_tags(render_markdown(markdown)))
    return Truncator(re.sub(r"\s+", " ", text).strip()).chars(limit)


@dataclass(frozen=True)
class ReviewedQuestion:
    """A question the annotator did not get right, as they saw it in that attempt."""

    number: int  # its place in the attempt, from 1
    excerpt: str  # the prompt as plain text, cut (plain_excerpt)
    messages: list[ShownMessage]  # the context, rendered and sanitised
    responses: list[ShownResponse]  # in the order this attempt showed them, labelled A, B...
    given: str  # their answer as they saw it: "A" is the response they were shown first
    expected: list[str]  # the acceptable answers, labelled the same way
    explanation: SafeString | None  # None when the test does not show explanations


def shown_label(answer: str, display_order: list[int]) -> str:
    """A canonical answer as the annotator saw it: a letter by display position, "tie", "both bad"."""
    if len(answer) == 1 and answer.isupper():
        canonical = ord(answer) - ord("A")
        if canonical in display_order:
            return chr(ord("A") + display_order.index(canonical))
    return {"tie": "tie", "both_bad": "both bad"}.get(answer, answer)


def attempt_review(attempt: QualificationAttempt) -> list[ReviewedQuestion]:
    """The questions of a scored attempt answered wrong (or left unanswered when time ran out),
    in the order served, with both responses in the order the annotator saw them, their answer,
    the expected ones and the explanation (when the test shows explanations). This reveals the
    answer key: the page shows it only when ``QualificationStanding.may_retake`` is false."""
    questions = {q.pk: q for q in QualificationQuestion.objects.filter(test_id=attempt.test_id).select_related("item")}
    answers = {a.question_id: a for a in QualificationAnswer.objects.filter(attempt=attempt)}
    show_explanations = attempt.test.show_explanations
    review = []
    for index, entry in enumerate(attempt.question_order):
        question = questions.get(entry["question"])
        answer = answers.get(entry["question"])
        if question is None or (answer is not None and answer.correct):
            continue
        order = list(answer.display_order if answer is not None else entry.get("order") or [])
        review.append(
            ReviewedQuestion(
                number=index + 1,
                excerpt=plain_excerpt(question.item.prompt_text),
                messages=context_messages(question.item),
                responses=shown_responses(Assignment(item=question.item, display_order=order), diff=False),
                given=shown_label(answer.answer, order) if answer is not None else "no answer (time ran out)",
                expected=[shown_label(str(a), order) for a in question.acceptable_answers],
                explanation=render_markdown(question.explanation)
                if show_explanations and question.explanation
                else None,
            )
        )
    return review


def wrong_count(attempt: QualificationAttempt) -> int:
    """Questions of the attempt not answered right (wrong, or unanswered when time ran out)."""
    right = QualificationAnswer.objects.filter(attempt=attempt, correct=True).count()
    return len(attempt.question_order) - right


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
