"""Automatic QC actions: auto-pause on gold accuracy fires exactly when the rule says (frozen time),
rushing is warned then paused, a PM resumes with a reason, the paused annotator sees why."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.test import Client
from django.urls import reverse

from annotation import services
from annotation.models import Assignment
from projects.models import Stream, StreamMembership
from qc import rules
from qc.models import Alert, ReviewTask
from tests.annotation.conftest import make_annotator
from tests.factories import ItemFactory, StreamFactory

pytestmark = pytest.mark.django_db

START = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def _stream(**fields: Any) -> Any:
    defaults = {
        "golden_rate": 0.0,
        "status": Stream.Status.ACTIVE,
        "min_gold_count": 5,
        "min_gold_accuracy": 0.8,
        "overlap": 3,
    }
    return StreamFactory(**{**defaults, **fields})


def _answer_golden(stream: Stream, annotator: Any, right: bool, traveller: Any) -> Any:
    """Claims the next item with golden injection forced on and answers it (canonical B is right)."""
    Stream.objects.filter(pk=stream.pk).update(golden_rate=1.0)
    stream.refresh_from_db()
    assignment = services.claim_next(stream=stream, annotator=annotator)
    assert assignment is not None
    assert assignment.item.is_golden
    traveller.shift(timedelta(seconds=30))
    key = services.idempotency_key(assignment_id=assignment.pk, token="t")
    return services.submit_judgement(
        assignment=assignment, idempotency_key=key, choice="B" if right else "A", strength=2, active_seconds=20
    )


def _status(stream: Stream, user: Any) -> str:
    return StreamMembership.objects.get(stream=stream, user=user).status


def test_auto_pause_fires_exactly_when_gold_accuracy_drops_below_the_minimum_after_n_golden_items() -> None:
    stream = _stream()
    for _ in range(12):
        ItemFactory.create(stream=stream, is_golden=True, golden_answers=["B"], golden_explanation="B cites a source.")
    alice = make_annotator(stream, "alice")
    with time_machine.travel(START, tick=False) as traveller:
        # 4 of 4 wrong: below 80%, but fewer than min_gold_count (5) golden answers -> no action.
        for _ in range(4):
            result = _answer_golden(stream, alice, right=False, traveller=traveller)
            assert not result.qc.paused
        assert _status(stream, alice) == StreamMembership.Status.QUALIFIED
        assert not Alert.objects.exists()
        # The fifth golden answer makes 1/5 = 20% < 80% on 5 >= 5 answers: paused now.
        result = _answer_golden(stream, alice, right=True, traveller=traveller)
        assert result.qc.paused
    assert _status(stream, alice) == StreamMembership.Status.PAUSED
    alert = Alert.objects.get()
    assert (alert.kind, alert.annotator_id, alert.severity) == (rules.GOLD_RULE, alice.pk, Alert.Severity.CRITICAL)
    assert alert.details["value"] == 0.2
    assert alert.details["sample_size"] == 5
    assert alert.details["paused"]
    assert alert.action_taken.startswith("paused the annotator")
    assert alert.created_at == START + timedelta(seconds=150)
    sm = StreamMembership.objects.get(stream=stream, user=alice)
    assert "1 of 5 golden answers right: accuracy below 80% with 99.3% confidence (SPRT, alpha 2%, n=5)" in (
        sm.status_reason
    )
    assert alert.details["figure"]["evidence"]["test"] == "SPRT"


def test_auto_pause_does_not_fire_at_exactly_the_minimum() -> None:
    stream = _stream()
    for _ in range(6):
        ItemFactory.create(stream=stream, is_golden=True, golden_answers=["B"])
    bob = make_annotator(stream, "bob")
    with time_machine.travel(START, tick=False) as traveller:
        for right in (True, True, False, True, True):  # 4/5 = 80%: not below
            _answer_golden(stream, bob, right=right, traveller=traveller)
    assert _status(stream, bob) == StreamMembership.Status.QUALIFIED
    assert not Alert.objects.exists()


def test_a_paused_annotator_sees_why_instead_of_items_and_a_pm_resumes_them_with_a_reason(client: Client) -> None:
    stream = _stream(min_gold_count=2)
    for _ in range(6):
        ItemFactory.create(stream=stream, is_golden=True, golden_answers=["B"])
    ordinary = [ItemFactory.create(stream=stream) for _ in range(3)]
    alice = make_annotator(stream, "alice")
    with time_machine.travel(START, tick=False) as traveller:
        # Some ordinary work first: it goes to review when she is paused.
        for _ in range(2):
            assignment = services.claim_next(stream=stream, annotator=alice)
            assert assignment is not None
            assert not assignment.item.is_golden
            services.submit_judgement(
                assignment=assignment, idempotency_key=f"k{assignment.pk}", choice="A", active_seconds=20
            )
        # 3 wrong of 3 golden answers: accuracy below 80% with enough evidence (2 of 2 is not).
        for _ in range(3):
            _answer_golden(stream, alice, right=False, traveller=traveller)
    assert _status(stream, alice) == StreamMembership.Status.PAUSED
    assert ReviewTask.objects.filter(reason=ReviewTask.Reason.QC, judgement__annotator=alice).count() == 2
    assert "2 judgements sent to review" in Alert.objects.get().action_taken
    # Her live lease (if any) is ended: the item goes back to others.
    assert not Assignment.objects.filter(annotator=alice, status=Assignment.Status.ACTIVE, lease_expires_at__gt=START)

    client.force_login(alice)
    response = client.get(reverse("annotation:work", args=[stream.pk]))
    assert response.status_code == 200
    assert b"is paused" in response.content
    assert b"0 of 3 golden answers right" in response.content
    assert not Assignment.objects.filter(annotator=alice, item__in=ordinary[2:], status=Assignment.Status.ACTIVE)

    # A PM resumes her with a reason; the pausing alert is closed with it.
    with time_machine.travel(START + timedelta(minutes=30), tick=False):
        assert rules.resume_annotator(stream=stream, annotator_id=alice.pk, reason="Talked it through", actor=None)
    assert _status(stream, alice) == StreamMembership.Status.QUALIFIED
    alert = Alert.objects.get()
    assert alert.acknowledged_at is not None
    assert alert.details["resolution"] == "Resumed: Talked it through"
    # A fresh start: one more wrong golden answer is 1 answer since the resume, below min_gold_count.
    with time_machine.travel(START + timedelta(hours=1), tick=False) as traveller:
        result = _answer_golden(stream, alice, right=False, traveller=traveller)
    assert not result.qc.paused
    assert _status(stream, alice) == StreamMembership.Status.QUALIFIED


def _rushed_judgements(
    stream: Stream, annotator: Any, n: int, seconds: float, traveller: Any, *, alternate: bool = False
) -> None:
    """``n`` judgements of ``seconds`` each: always the first canonical response, or (``alternate``)
    the response shown left, then right, then left... so that no position or straightlining
    indicator can fire by the chance of the random display orders."""
    for i in range(n):
        assignment = services.claim_next(stream=stream, annotator=annotator)
        assert assignment is not None
        traveller.shift(timedelta(seconds=seconds))
        choice = assignment.canonical_choice("AB"[i % 2]) if alternate else "A"
        services.submit_judgement(
            assignment=assignment, idempotency_key=f"k{assignment.pk}", choice=choice, active_seconds=seconds
        )


def test_rushing_is_warned_then_paused_when_it_goes_on(client: Client) -> None:
    stream = _stream(min_sample=5, min_seconds=8.0, review_rate=0.0, overlap=1)
    for _ in range(20):
        ItemFactory.create(stream=stream)
    rusher = make_annotator(stream, "rusher")
    with time_machine.travel(START, tick=False) as traveller:
        _rushed_judgements(stream, rusher, 6, 2.0, traveller)
        _result, alerts = rules.recompute_and_act(stream=stream)
        assert [(a.kind, a.action_taken) for a in alerts] == [(rules.RUSHING_RULE, "warned the annotator")]
        assert _status(stream, rusher) == StreamMembership.Status.QUALIFIED
        # The warning is on her labeling page.
        client.force_login(rusher)
        assert b"faster than the items can be read" in client.get(reverse("annotation:work", args=[stream.pk])).content
        for lease in Assignment.objects.filter(annotator=rusher, status=Assignment.Status.ACTIVE):
            services.skip_assignment(assignment=lease, reason=Assignment.SkipReason.UNCLEAR)
        # Not enough new work since the warning yet: nothing more happens.
        traveller.shift(timedelta(minutes=5))
        _rushed_judgements(stream, rusher, 4, 2.0, traveller)
        _result, alerts = rules.recompute_and_act(stream=stream)
        assert alerts == []
        assert _status(stream, rusher) == StreamMembership.Status.QUALIFIED
        # Five rushed judgements after the warning: paused.
        _rushed_judgements(stream, rusher, 1, 2.0, traveller)
        _result, alerts = rules.recompute_and_act(stream=stream)
    assert [a.kind for a in alerts] == [rules.RUSHING_PAUSE_RULE]
    assert alerts[0].details["sample_size"] == 5
    assert alerts[0].severity == Alert.Severity.CRITICAL
    assert _status(stream, rusher) == StreamMembership.Status.PAUSED


def test_a_careful_annotator_is_never_warned() -> None:
    stream = _stream(min_sample=5, min_seconds=8.0, review_rate=0.0, overlap=1)
    for _ in range(10):
        ItemFactory.create(stream=stream)
    careful = make_annotator(stream, "careful")
    with time_machine.travel(START, tick=False) as traveller:
        _rushed_judgements(stream, careful, 8, 30.0, traveller, alternate=True)
        _result, alerts = rules.recompute_and_act(stream=stream)
    assert alerts == []


def test_an_invited_member_labeling_without_a_test_is_paused_through_qualified() -> None:
    stream = _stream()
    for _ in range(6):
        ItemFactory.create(stream=stream, is_golden=True, golden_answers=["B"])
    dan = make_annotator(stream, "dan", status=StreamMembership.Status.INVITED)
    with time_machine.travel(START, tick=False) as traveller:
        for _ in range(5):
            _answer_golden(stream, dan, right=False, traveller=traveller)
    sm = StreamMembership.objects.get(stream=stream, user=dan)
    assert sm.status == StreamMembership.Status.PAUSED
    assert list(sm.events.values_list("to_status", flat=True)) == ["qualified", "paused"]


def test_simulated_annotators_raise_the_alert_of_their_habit_and_the_careful_none() -> None:
    from tests.qc import simulation
    from tests.qc.test_metrics_simulated import CREW

    stream: Any = StreamFactory(overlap=len(CREW), status=Stream.Status.ACTIVE, review_rate=0.0)
    items = simulation.make_items(stream, 200, golden=20)
    users = simulation.judge_all(stream, items, CREW)
    for user in users.values():
        StreamMembership.objects.create(stream=stream, user=user, status=StreamMembership.Status.QUALIFIED)
    _result, alerts = rules.recompute_and_act(stream=stream)
    kinds: dict[str, set[str]] = {}
    for alert in alerts:
        kinds.setdefault(alert.annotator.get_username(), set()).add(alert.kind)
    assert "position_bias" in kinds["left"]
    assert "length_bias" in kinds["longer"]
    assert rules.AGREEMENT_RULE in kinds["random"]
    assert not any(name.startswith("careful") for name in kinds), kinds
    # agreement_low sends the annotator's recent work to review, each alert carries its figures.
    agreement = next(a for a in alerts if a.kind == rules.AGREEMENT_RULE and a.annotator == users["random"])
    queued = ReviewTask.objects.filter(reason=ReviewTask.Reason.QC, judgement__annotator=users["random"]).count()
    assert queued > 0
    assert f"{queued} judgements sent to review" in agreement.action_taken
    assert agreement.details["metric"] == "agreement"
    assert agreement.details["sample_size"] >= 150
    # A second run raises nothing new while the alerts are open.
    _result, again = rules.recompute_and_act(stream=stream)
    assert again == []
