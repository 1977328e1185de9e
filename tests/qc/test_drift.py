"""Drift through the whole loop: a simulated stream where careful annotators work beside one who
qualifies, works well, then drifts (answers at random, three times faster). One full recompute
runs the rules: the drifter is paused with an alert that says when the change began, only the
work since then leaves the count (its items reopen their slots, the default export leaves it
out), the earlier work stays, and no careful annotator is touched. A reviewer who accepts a
judgement QC took out puts it back."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from annotation.models import Assignment, Item, Judgement, gold_answer_correct
from exports import services as exporting
from projects.models import Stream, StreamMembership
from qc import drift, rules
from qc.models import Alert, ReviewTask
from qc.review import submit_review
from tests.factories import StreamFactory, UserFactory
from tests.qc import simulation

pytestmark = pytest.mark.django_db

START = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
CAREFUL = 5
ITEMS, GOLDEN = 300, 40
CHANGE = 170  # the drifter's judgement at which the drift begins


def _shift(stream: Stream, items: list[simulation.SimItem], seed: int = 11) -> dict[str, Any]:
    """Every annotator judges every item, each in their own random order, one judgement about
    every 40 s; the drifter's work changes at judgement CHANGE."""
    rng = random.Random(seed)
    names = [f"careful{i}" for i in range(CAREFUL)] + ["drifter"]
    users = {name: UserFactory.create(username=name) for name in names}
    for user in users.values():
        StreamMembership.objects.create(stream=stream, user=user, status=StreamMembership.Status.QUALIFIED)
    assignments, facts = [], []
    for name in names:
        order = items[:]
        rng.shuffle(order)
        accuracy = rng.uniform(0.82, 0.9)
        for k, sim in enumerate(order):
            drifted = name == "drifter" and k >= CHANGE
            display = [0, 1] if rng.random() < 0.5 else [1, 0]
            if drifted:
                choice = rng.choice("AB")
            else:
                choice = sim.truth if rng.random() < accuracy else ("B" if sim.truth == "A" else "A")
            seconds = rng.lognormvariate(0, 0.3) * (12.0 if drifted else 36.0)
            submitted = START + timedelta(seconds=40 * k + rng.uniform(0, 5))
            assignments.append(
                Assignment(
                    item=sim.item,
                    stream=stream,
                    annotator=users[name],
                    status=Assignment.Status.SUBMITTED,
                    display_order=display,
                    served_at=submitted - timedelta(seconds=seconds),
                    lease_expires_at=submitted + timedelta(minutes=10),
                    finished_at=submitted,
                )
            )
            facts.append((choice, seconds, submitted))
    assignments = Assignment.objects.bulk_create(assignments)
    Judgement.objects.bulk_create(
        Judgement(
            assignment=a,
            item=a.item,
            stream=stream,
            annotator=a.annotator,
            choice=choice,
            display_order=a.display_order,
            served_at=a.served_at,
            submitted_at=submitted,
            active_seconds=seconds,
            idempotency_key=f"drift-{a.pk}",
            gold_correct=(
                gold_answer_correct(
                    choice=choice, flag_harmful=False, golden_answers=a.item.golden_answers, golden_harmful=False
                )
                if a.item.is_golden
                else None
            ),
        )
        for a, (choice, seconds, submitted) in zip(assignments, facts, strict=True)
    )
    # The items' counters, as the submit service keeps them.
    for sim in items:
        Item.objects.filter(pk=sim.item.pk).update(judgement_count=len(names), claim_count=len(names))
    return users


def _change_time(drifter: Any) -> datetime:
    rows = Judgement.objects.filter(annotator=drifter).order_by("submitted_at").values_list("submitted_at", flat=True)
    return list(rows)[CHANGE]


def test_a_drifting_annotator_is_paused_and_only_the_work_since_the_change_leaves_the_count(tmp_path: Path) -> None:
    stream: Any = StreamFactory(
        overlap=CAREFUL + 1, status=Stream.Status.ACTIVE, review_rate=0.0, min_gold_accuracy=0.7
    )
    items = simulation.make_items(stream, ITEMS, golden=GOLDEN, seed=5)
    users = _shift(stream, items)
    drifter = users["drifter"]

    _result, alerts = rules.recompute_and_act(stream=stream, now=START + timedelta(hours=6))

    paused = set(
        StreamMembership.objects.filter(stream=stream, status=StreamMembership.Status.PAUSED).values_list(
            "user__username", flat=True
        )
    )
    assert paused == {"drifter"}, [(a.annotator.username, a.kind, a.message) for a in alerts]
    alert = Alert.objects.get(stream=stream, annotator=drifter, kind=rules.DRIFT_RULE)
    figure = alert.details["figure"]
    change_at = datetime.fromisoformat(figure["change_at"])
    true_change = _change_time(drifter)
    # The estimated start is within 40 judgements (40 s apart) of the true one.
    assert abs((change_at - true_change).total_seconds()) <= 40 * 40, (change_at, true_change)
    assert alert.message.startswith(f"Work changed from {change_at:%Y-%m-%d %H:%M} UTC")
    assert "false-alarm rate 0.5% over 500" in alert.message
    assert figure["detector"] in drift.DETECTORS
    assert figure["evidence"]["detected"]

    mine = Judgement.objects.filter(stream=stream, annotator=drifter)
    excluded = mine.filter(excluded_reason=Judgement.ExcludedReason.QC_DRIFT)
    assert excluded.count() == alert.details["excluded"] > 0
    assert f"{excluded.count()} judgements since {change_at:%Y-%m-%d %H:%M} UTC taken out of the count" in (
        alert.action_taken
    )
    assert not excluded.filter(submitted_at__lt=change_at).exists()
    assert not mine.filter(submitted_at__gte=change_at, excluded_reason__isnull=True).exists()
    # The work from before the change stays: most of the shift.
    assert mine.filter(excluded_reason__isnull=True).count() >= CHANGE - 40
    # Their items reopened their slots.
    reopened = Item.objects.filter(pk__in=excluded.values("item"), is_golden=False)
    assert reopened.exists()
    assert all(item.judgement_count == CAREFUL for item in reopened)
    # The suspect work went to review.
    assert ReviewTask.objects.filter(reason=ReviewTask.Reason.QC, judgement__in=excluded).exists()
    # No careful annotator has any alert that pauses.
    assert not Alert.objects.filter(
        stream=stream, annotator__username__startswith="careful", kind__in=rules.PAUSING_RULES
    )

    # The default export leaves the drifted work out and keeps the drifter's earlier work.
    manifest = exporting.write_export(exporting.ExportSpec(stream_ids=(stream.pk,), format="raw"), tmp_path)
    dropped = manifest["counts"]["judgements"]["dropped"]
    assert dropped.get("excluded_qc_drift") == excluded.filter(item__is_golden=False).count()
    assert "annotator_inactive" not in dropped


def test_careful_annotators_alone_raise_no_drift() -> None:
    stream: Any = StreamFactory(overlap=CAREFUL, status=Stream.Status.ACTIVE, review_rate=0.0)
    items = simulation.make_items(stream, ITEMS, golden=GOLDEN, seed=6)
    users = _shift(stream, items, seed=12)
    StreamMembership.objects.filter(stream=stream, user=users["drifter"]).delete()
    Judgement.objects.filter(annotator=users["drifter"]).delete()
    _result, alerts = rules.recompute_and_act(stream=stream, now=START + timedelta(hours=6))
    assert not [a for a in alerts if a.kind in rules.PAUSING_RULES], [a.message for a in alerts]


def test_a_resume_restarts_the_watch_and_an_accepted_review_restores_the_work() -> None:
    stream: Any = StreamFactory(overlap=CAREFUL + 1, status=Stream.Status.ACTIVE, review_rate=0.0)
    items = simulation.make_items(stream, ITEMS, golden=GOLDEN, seed=7)
    users = _shift(stream, items, seed=13)
    drifter = users["drifter"]
    rules.recompute_and_act(stream=stream, now=START + timedelta(hours=6))
    assert StreamMembership.objects.get(stream=stream, user=drifter).status == StreamMembership.Status.PAUSED

    # A PM resumes them: the detectors watch only what comes after, so nothing fires again.
    assert rules.resume_annotator(stream=stream, annotator_id=drifter.pk, reason="Talked it through", actor=None)
    _result, again = rules.recompute_and_act(stream=stream, now=START + timedelta(hours=7))
    assert not [a for a in again if a.kind == rules.DRIFT_RULE]

    # A reviewer finds one of the suspect judgements sound: it counts again.
    task = ReviewTask.objects.filter(
        reason=ReviewTask.Reason.QC, judgement__excluded_reason=Judgement.ExcludedReason.QC_DRIFT
    ).first()
    assert task is not None
    judgement = task.judgement
    count_before = Item.objects.get(pk=judgement.item_id).judgement_count
    submit_review(judgement=judgement, reviewer=UserFactory.create(), decision="accept")
    judgement.refresh_from_db()
    assert judgement.excluded_reason is None
    assert Item.objects.get(pk=judgement.item_id).judgement_count == count_before + 1
