"""The assignment engine: claim, resume, overlap, order, skip, expiry, late submission, idempotency."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.utils import timezone

from annotation import services, tasks
from annotation.models import Assignment, Item, Judgement
from projects.models import Stream
from tests.annotation.conftest import claim_next, make_annotator
from tests.factories import ItemFactory


def submit(assignment: Any, choice: str = "A", token: str = "t", **kwargs: Any) -> services.SubmitResult:  # noqa: S107
    key = services.idempotency_key(assignment_id=assignment.pk, token=token)
    return services.submit_judgement(assignment=assignment, idempotency_key=key, choice=choice, strength=2, **kwargs)


def test_it_leases_an_item_and_counts_the_claim(stream: Stream, annotator: Any, items: list[Item]) -> None:
    assignment = claim_next(stream=stream, annotator=annotator)
    assert assignment is not None
    assert assignment.status == Assignment.Status.ACTIVE
    assert sorted(assignment.display_order) == [0, 1]
    assert assignment.lease_expires_at > timezone.now() + timedelta(minutes=9)
    assignment.item.refresh_from_db()
    assert assignment.item.claim_count == 1
    assert assignment.item.judgement_count == 0


def test_it_resumes_the_live_lease(stream: Stream, annotator: Any, items: list[Item]) -> None:
    first = claim_next(stream=stream, annotator=annotator)
    again = claim_next(stream=stream, annotator=annotator)
    assert first is not None
    assert again is not None
    assert again.pk == first.pk
    assert Assignment.objects.filter(annotator=annotator).count() == 1


def test_it_never_offers_a_judged_item_again(stream: Stream, annotator: Any, items: list[Item]) -> None:
    seen = set()
    for _ in range(3):
        assignment = claim_next(stream=stream, annotator=annotator)
        assert assignment is not None
        assert assignment.item_id not in seen
        seen.add(assignment.item_id)
        submit(assignment)
    assert claim_next(stream=stream, annotator=annotator) is None


def test_it_keeps_leases_plus_judgements_within_overlap(stream: Stream) -> None:
    item: Any = ItemFactory(stream=stream)  # overlap is 2
    people = [make_annotator(stream) for _ in range(3)]
    first = claim_next(stream=stream, annotator=people[0])
    second = claim_next(stream=stream, annotator=people[1])
    assert first is not None
    assert second is not None
    assert first.item_id == second.item_id == item.pk
    assert claim_next(stream=stream, annotator=people[2]) is None
    submit(first)
    assert claim_next(stream=stream, annotator=people[2]) is None
    item.refresh_from_db()
    assert (item.claim_count, item.judgement_count, item.is_open) == (2, 1, False)


def test_it_prefers_higher_priority_then_items_closest_to_completion(stream: Stream) -> None:
    fresh: Any = ItemFactory(stream=stream)
    started: Any = ItemFactory(stream=stream)
    urgent: Any = ItemFactory(stream=stream, priority=5)
    bob, carol, dave = make_annotator(stream), make_annotator(stream), make_annotator(stream)
    assert claim_next(stream=stream, annotator=bob).item_id == urgent.pk
    # Give `started` one judgement from someone else: depth-first finishes it before `fresh`.
    lease = services._lease_item(item=started, stream=stream, annotator=carol, now=timezone.now(), check_room=True)
    submit(lease)
    assert claim_next(stream=stream, annotator=dave).item_id == urgent.pk
    submit(Assignment.objects.get(annotator=dave))
    assert claim_next(stream=stream, annotator=dave).item_id == started.pk
    assert fresh.pk  # never reached while started had room


def test_breadth_first_spreads_judgements(stream: Stream) -> None:
    stream.order = Stream.Order.BREADTH_FIRST
    stream.save()
    started: Any = ItemFactory(stream=stream)
    fresh: Any = ItemFactory(stream=stream)
    carol, dave = make_annotator(stream), make_annotator(stream)
    submit(services._lease_item(item=started, stream=stream, annotator=carol, now=timezone.now(), check_room=True))
    assert claim_next(stream=stream, annotator=dave).item_id == fresh.pk


def test_it_serves_no_golden_or_qualification_items(stream: Stream, annotator: Any) -> None:
    # The ordinary claim; golden items come only through injection (tests/qc/test_golden_injection.py).
    stream.golden_rate = 0.0
    ItemFactory(stream=stream, is_golden=True, golden_answers=["A"])
    ItemFactory(stream=stream, pool=Item.Pool.QUALIFICATION)
    assert claim_next(stream=stream, annotator=annotator) is None


def test_submit_stores_canonical_answer_and_display_order(stream: Stream, annotator: Any, items: list[Item]) -> None:
    assignment = claim_next(stream=stream, annotator=annotator)
    assignment.display_order = [1, 0]
    Assignment.objects.filter(pk=assignment.pk).update(display_order=[1, 0])
    shown_first = assignment.canonical_choice("A")
    assert shown_first == "B"
    result = submit(assignment, choice=shown_first, active_seconds=4.5, flag_pii=True)
    judgement = result.judgement
    assert (judgement.choice, judgement.strength, judgement.display_order) == ("B", 2, [1, 0])
    assert judgement.flag_pii
    assert judgement.counted
    assert result.created
    assert not result.late
    assignment.refresh_from_db()
    assert assignment.status == Assignment.Status.SUBMITTED
    item = Item.objects.get(pk=assignment.item_id)
    assert (item.claim_count, item.judgement_count) == (1, 1)


def test_strength_is_dropped_for_tie(stream: Stream, annotator: Any, items: list[Item]) -> None:
    assignment = claim_next(stream=stream, annotator=annotator)
    assert submit(assignment, choice="tie").judgement.strength is None


def test_submit_is_idempotent(stream: Stream, annotator: Any, items: list[Item]) -> None:
    assignment = claim_next(stream=stream, annotator=annotator)
    first = submit(assignment, token="page-1")
    again = submit(assignment, token="page-1")
    assert again.judgement.pk == first.judgement.pk
    assert not again.created
    with pytest.raises(services.AlreadySubmitted):
        submit(assignment, token="another-page")
    assert Judgement.objects.count() == 1
    assert Item.objects.get(pk=assignment.item_id).judgement_count == 1


def test_active_seconds_are_clamped_to_the_server_window(stream: Stream, annotator: Any, items: list[Item]) -> None:
    with time_machine.travel(timezone.now(), tick=False) as clock:
        assignment = claim_next(stream=stream, annotator=annotator)
        clock.shift(timedelta(seconds=30))
        assert submit(assignment, active_seconds=5000).judgement.active_seconds == pytest.approx(30)


def test_skip_releases_the_item_to_others(stream: Stream, annotator: Any) -> None:
    item: Any = ItemFactory(stream=stream)
    assignment = claim_next(stream=stream, annotator=annotator)
    assert services.skip_assignment(assignment=assignment, reason=Assignment.SkipReason.UNCLEAR, note="typo")
    assert not services.skip_assignment(assignment=assignment, reason=Assignment.SkipReason.UNCLEAR)
    assignment.refresh_from_db()
    assert (assignment.status, assignment.skip_reason, assignment.skip_note) == ("skipped", "unclear", "typo")
    item.refresh_from_db()
    assert item.claim_count == 0
    assert item.is_open
    assert claim_next(stream=stream, annotator=annotator) is None  # never again for alice
    assert claim_next(stream=stream, annotator=make_annotator(stream)).item_id == item.pk
    with pytest.raises(services.AssignmentClosed):
        submit(assignment)


def test_expired_leases_return_to_the_pool(stream: Stream) -> None:
    stream.overlap = 1
    stream.save()
    item: Any = ItemFactory(stream=stream)
    alice, bob = make_annotator(stream), make_annotator(stream)
    with time_machine.travel(timezone.now(), tick=False) as clock:
        lease = claim_next(stream=stream, annotator=alice)
        assert claim_next(stream=stream, annotator=bob) is None
        clock.shift(timedelta(minutes=11))
        # Claims sweep lazily when they find nothing.
        taken = claim_next(stream=stream, annotator=bob)
        assert taken is not None
        assert taken.item_id == item.pk
        lease.refresh_from_db()
        assert lease.status == Assignment.Status.EXPIRED
        item.refresh_from_db()
        assert item.claim_count == 1


def test_the_periodic_task_ends_expired_leases(stream: Stream, annotator: Any, items: list[Item]) -> None:
    with time_machine.travel(timezone.now(), tick=False) as clock:
        lease = claim_next(stream=stream, annotator=annotator)
        assert tasks.expire_leases() == 0
        clock.shift(timedelta(minutes=10, seconds=1))
        assert tasks.expire_leases.delay().get() == 1
    lease.refresh_from_db()
    assert lease.status == Assignment.Status.EXPIRED
    assert Item.objects.get(pk=lease.item_id).claim_count == 0


def test_heartbeat_extends_the_lease_and_records_first_interaction(
    stream: Stream, annotator: Any, items: list[Item]
) -> None:
    with time_machine.travel(timezone.now(), tick=False) as clock:
        lease = claim_next(stream=stream, annotator=annotator)
        clock.shift(timedelta(minutes=8))
        assert services.extend_lease(assignment=lease, interacted=True)
        first = timezone.now()
        clock.shift(timedelta(minutes=8))  # 16 minutes after serving: alive thanks to the heartbeat
        assert services.expire_leases() == 0
        assert services.extend_lease(assignment=lease, interacted=True)
    lease.refresh_from_db()
    assert lease.first_interaction_at == first
    assert submit(lease).judgement.first_interaction_at == first


def test_a_lapsed_but_unswept_lease_is_resumed(stream: Stream, annotator: Any, items: list[Item]) -> None:
    with time_machine.travel(timezone.now(), tick=False) as clock:
        lease = claim_next(stream=stream, annotator=annotator)
        clock.shift(timedelta(minutes=30))
        again = claim_next(stream=stream, annotator=annotator)
        assert again.pk == lease.pk
        assert again.lease_expires_at == timezone.now() + timedelta(minutes=10)


def test_late_submission_is_counted_when_the_item_has_room(stream: Stream, annotator: Any, items: list[Item]) -> None:
    with time_machine.travel(timezone.now(), tick=False) as clock:
        lease = claim_next(stream=stream, annotator=annotator)
        clock.shift(timedelta(minutes=11))
        assert services.expire_leases() == 1
        result = submit(lease)
    assert result.late
    assert result.judgement.counted
    assert not result.surplus
    item = Item.objects.get(pk=lease.item_id)
    assert (item.claim_count, item.judgement_count) == (1, 1)


def test_late_submission_into_a_full_item_is_kept_as_surplus(stream: Stream) -> None:
    stream.overlap = 1
    stream.save()
    item: Any = ItemFactory(stream=stream)
    alice, bob = make_annotator(stream), make_annotator(stream)
    with time_machine.travel(timezone.now(), tick=False) as clock:
        late = claim_next(stream=stream, annotator=alice)
        clock.shift(timedelta(minutes=11))
        submit(claim_next(stream=stream, annotator=bob))
        result = submit(late)
    assert result.surplus
    assert result.late
    assert result.created
    item.refresh_from_db()
    assert (item.claim_count, item.judgement_count) == (1, 1)
    assert Judgement.objects.filter(item=item).count() == 2
    assert Judgement.objects.filter(item=item, counted=False).get().annotator == alice


def test_canonical_ranking_and_rubric() -> None:
    assignment = Assignment(display_order=[2, 0, 1])
    assert assignment.canonical_ranking([2, 1, 2]) == [[0], [1, 2]]
    assert assignment.canonical_rubric({"helpfulness": [4, 0, 2]}) == {"helpfulness": [0, 2, 4]}
