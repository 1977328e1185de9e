"""Shared fixtures of the peer-review tests: a stream with small thresholds, annotators with a
record of ordinary and golden judgements, a staff reviewer and a PM."""

from __future__ import annotations

from typing import Any

from projects.models import Role, Stream
from qc.models import ReviewTask
from tests.annotation.conftest import make_annotator
from tests.factories import ItemFactory, JudgementFactory, MembershipFactory, StreamFactory, UserFactory

# Eligibility needs 5 ordinary judgements and 10 golden answers with gold accuracy >= 70% by its
# one-sided 95% lower bound: 10 of 10 gives 0.05 ** (1/10) = 74.1% (eligible), 9 of 10 gives 60.6%.
THRESHOLDS: dict[str, Any] = {"min_sample": 5, "min_gold_count": 10, "min_gold_accuracy": 0.7}


def peer_stream(**fields: Any) -> Stream:
    stream: Stream = StreamFactory.create(**{**THRESHOLDS, **fields})
    return stream


def record(stream: Stream, user: Any, *, work: int, gold_right: int, gold_wrong: int = 0) -> list[Any]:
    """``work`` judgements on ordinary items and golden answers, right and wrong; returns the
    ordinary judgements."""
    ordinary = [
        JudgementFactory.create(assignment__item=ItemFactory.create(stream=stream), assignment__annotator=user)
        for _ in range(work)
    ]
    for n in range(gold_right + gold_wrong):
        item = ItemFactory.create(stream=stream, is_golden=True, golden_answers=["A"])
        JudgementFactory.create(
            assignment__item=item, assignment__annotator=user, choice="A" if n < gold_right else "B"
        )
    return ordinary


def staff(stream: Stream, username: str, role: str = Role.REVIEWER) -> Any:
    user = UserFactory.create(username=username)
    MembershipFactory.create(project=stream.project, user=user, role=role)
    return user


def good_annotator(stream: Stream, username: str) -> Any:
    """A qualified annotator whose record makes them eligible (6 items, 10 of 10 golden right)."""
    user = make_annotator(stream, username)
    record(stream, user, work=6, gold_right=10)
    return user


def sample_task(stream: Stream, annotator: Any, *, reason: str = ReviewTask.Reason.SAMPLE, **fields: Any) -> ReviewTask:
    judgement = JudgementFactory.create(
        assignment__item=ItemFactory.create(stream=stream), assignment__annotator=annotator
    )
    task: ReviewTask = ReviewTask.objects.create(judgement=judgement, stream=stream, reason=reason, **fields)
    return task
