"""Judges and their verdicts made directly in the database, for the tests of the judge's uses and
of its figures (the judging run itself is tested with real model servers elsewhere)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.contrib.auth.models import User
from django.utils import timezone

from annotation.models import Assignment, Item, Judgement
from dynamic.models import ModelEndpoint
from judging.models import Judge, Verdict

_count = 0


def make_judge(stream: Any, **uses: Any) -> Judge:
    """A judge on ``stream``: an inactive service user and a model endpoint of the project."""
    global _count
    _count += 1
    user = User.objects.create(username=f"judge-{stream.pk}-{_count}", is_active=False)
    user.set_unusable_password()
    user.save()
    endpoint = ModelEndpoint.objects.create(
        project=stream.project, name=f"Judge model {_count}", base_url="http://127.0.0.1:9/v1", model="judge"
    )
    return Judge.objects.create(stream=stream, endpoint=endpoint, user=user, prompt_template="{context}", **uses)


def add_verdict(
    judge: Judge,
    item: Item,
    shown_ab: str,
    shown_ba: str | None = None,
    *,
    at: datetime | None = None,
) -> Verdict:
    """The judge's verdict on ``item`` (canonical answers in each display order). A consistent one
    also gets its model judgement (``source="model"``, ``counted=False``) with a submitted
    assignment that does not touch the item's counters — as the judging run stores it."""
    shown_ba = shown_ab if shown_ba is None else shown_ba
    at = at or timezone.now()
    consistent = shown_ab == shown_ba
    judgement = None
    if consistent:
        assignment = Assignment.objects.create(
            item=item,
            stream_id=item.stream_id,
            annotator=judge.user,
            status=Assignment.Status.SUBMITTED,
            display_order=[0, 1],
            served_at=at,
            lease_expires_at=at,
            finished_at=at,
        )
        judgement = Judgement.objects.create(
            assignment=assignment,
            item=item,
            stream_id=item.stream_id,
            annotator=judge.user,
            choice=shown_ab,
            display_order=[0, 1],
            served_at=at,
            submitted_at=at,
            idempotency_key=f"model-{judge.pk}-{item.pk}",
            counted=False,
            source=Judgement.Source.MODEL,
        )
    return Verdict.objects.create(
        judge=judge,
        item=item,
        status=Verdict.Status.CONSISTENT if consistent else Verdict.Status.INCONSISTENT,
        answer_shown_ab=shown_ab,
        answer_shown_ba=shown_ba,
        attempts=2,
        judgement=judgement,
        created_at=at,
    )
