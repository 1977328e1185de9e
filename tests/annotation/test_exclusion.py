"""Judgements taken out of the count (QC, a review) give their item's slot back."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from annotation import selectors, services
from annotation.models import Assignment, Item, Judgement
from qc import review as qc_review
from tests.annotation.conftest import claim_next, make_annotator
from tests.factories import ItemFactory, StreamFactory, UserFactory

pytestmark = pytest.mark.django_db


def work(stream: Any, annotator: Any, choice: str | None = "A", **answer: Any) -> services.SubmitResult:
    """The annotator claims their next item and answers it (in canonical terms)."""
    assignment = claim_next(stream=stream, annotator=annotator)
    assert assignment is not None, "nothing to claim"
    key = services.idempotency_key(assignment_id=assignment.pk, token="t")
    return services.submit_judgement(assignment=assignment, idempotency_key=key, choice=choice, **answer)


def full_item(overlap: int = 2) -> tuple[Any, Item, list[Judgement]]:
    stream: Any = StreamFactory(overlap=overlap)
    item = ItemFactory.create(stream=stream)
    judgements = [work(stream, make_annotator(stream)).judgement for _ in range(overlap)]
    item.refresh_from_db()
    assert (item.judgement_count, item.claim_count, item.is_open) == (overlap, overlap, False)
    return stream, item, judgements


def test_it_excludes_a_judgement_and_reopens_its_items_slot() -> None:
    stream, item, judgements = full_item()
    late = make_annotator(stream)
    assert claim_next(stream=stream, annotator=late) is None  # full

    assert services.exclude_judgements(judgement_ids=[judgements[0].pk], reason="qc_drift") == 1

    item.refresh_from_db()
    excluded = Judgement.objects.get(pk=judgements[0].pk)
    assert (item.judgement_count, item.claim_count, item.is_open) == (1, 1, True)
    assert excluded.excluded_reason == "qc_drift"
    assert excluded.excluded_at is not None
    assert excluded.counted  # kept as it was, for the audit
    # The slot is served again, to someone who has not had the item, until it is full again.
    work(stream, late)
    item.refresh_from_db()
    assert (item.judgement_count, item.claim_count, item.is_open) == (2, 2, False)
    assert claim_next(stream=stream, annotator=make_annotator(stream)) is None


def test_it_excludes_once_and_restores_once() -> None:
    _stream, item, judgements = full_item(overlap=3)
    ids = [judgements[0].pk, judgements[1].pk]
    assert services.exclude_judgements(judgement_ids=ids, reason="qc_pause") == 2
    assert services.exclude_judgements(judgement_ids=[*ids, judgements[2].pk], reason="qc_pause") == 1
    item.refresh_from_db()
    assert (item.judgement_count, item.claim_count, item.is_open) == (0, 0, True)

    assert services.restore_judgements(judgement_ids=ids) == 2
    assert services.restore_judgements(judgement_ids=ids) == 0
    item.refresh_from_db()
    assert (item.judgement_count, item.claim_count, item.is_open) == (2, 2, True)
    restored = Judgement.objects.get(pk=ids[0])
    assert restored.excluded_reason is None
    assert restored.excluded_at is None


def test_it_refuses_an_unknown_reason() -> None:
    _stream, _item, judgements = full_item()
    with pytest.raises(ValueError, match="Unknown exclusion reason 'tired'"):
        services.exclude_judgements(judgement_ids=[judgements[0].pk], reason="tired")
    assert not Judgement.objects.filter(excluded_reason__isnull=False).exists()


def test_a_reason_needs_its_time_in_the_database() -> None:
    _stream, _item, judgements = full_item()
    with pytest.raises(IntegrityError), transaction.atomic():
        Judgement.objects.filter(pk=judgements[0].pk).update(excluded_reason="qc_drift")
    with pytest.raises(IntegrityError), transaction.atomic():
        Judgement.objects.filter(pk=judgements[0].pk).update(excluded_reason="bored", excluded_at=timezone.now())


def test_excluding_surplus_work_changes_no_counter() -> None:
    """A surplus judgement (stored after its expired lease found the item full) never held a slot."""
    stream: Any = StreamFactory(overlap=1, lease_minutes=10)
    item = ItemFactory.create(stream=stream)
    slow, fast = make_annotator(stream), make_annotator(stream)
    lease = claim_next(stream=stream, annotator=slow)
    services.expire_leases(stream=stream, now=timezone.now() + timedelta(minutes=11))
    work(stream, fast)
    key = services.idempotency_key(assignment_id=lease.pk, token="t")
    surplus = services.submit_judgement(assignment=lease, idempotency_key=key, choice="B")
    assert surplus.surplus

    assert services.exclude_judgements(judgement_ids=[surplus.judgement.pk], reason="pm") == 1
    item.refresh_from_db()
    assert (item.judgement_count, item.claim_count, item.is_open) == (1, 1, False)


def test_a_golden_item_gets_its_counters_back_and_stays_out_of_the_claim() -> None:
    stream: Any = StreamFactory(overlap=1)
    golden = ItemFactory.create(stream=stream, is_golden=True, golden_answers=["A"])
    results = []
    for _ in range(3):  # golden items are not bound by the overlap
        person = make_annotator(stream)
        assignment = services._lease_item(
            item=golden, stream=stream, annotator=person, now=timezone.now(), check_room=False
        )
        assert assignment is not None
        key = services.idempotency_key(assignment_id=assignment.pk, token="t")
        results.append(services.submit_judgement(assignment=assignment, idempotency_key=key, choice="A"))
    golden.refresh_from_db()
    was_open = golden.is_open
    assert (golden.judgement_count, golden.claim_count) == (3, 3)

    services.exclude_judgements(judgement_ids=[results[0].judgement.pk], reason="qc_drift")
    golden.refresh_from_db()
    assert (golden.judgement_count, golden.claim_count, golden.is_open) == (2, 2, was_open)


def test_a_rejecting_review_excludes_the_judgement_and_reopens_the_item() -> None:
    stream, item, judgements = full_item()
    reviewer = UserFactory()
    qc_review.submit_review(judgement=judgements[0], reviewer=reviewer, decision="accept")
    item.refresh_from_db()
    assert item.judgement_count == 2

    qc_review.submit_review(judgement=judgements[1], reviewer=reviewer, decision="reject", reason="rushed")
    item.refresh_from_db()
    assert (item.judgement_count, item.claim_count, item.is_open) == (1, 1, True)
    assert Judgement.objects.get(pk=judgements[1].pk).excluded_reason == "review_rejected"
    assert claim_next(stream=stream, annotator=make_annotator(stream)).item_id == item.pk


def test_the_progress_figures_show_exclusions() -> None:
    stream, _item, judgements = full_item()
    ItemFactory.create(stream=stream)
    mine = judgements[0].annotator
    before = selectors.stream_progress(stream)
    assert (before.excluded, before.reopened, before.complete) == (0, 0, 1)

    services.exclude_judgements(judgement_ids=[judgements[0].pk], reason="qc_drift")
    selectors.cache.clear()
    after = selectors.stream_progress(stream)
    assert (after.excluded, after.reopened, after.complete, after.judgements, after.needed) == (1, 1, 0, 1, 4)
    progress = selectors.annotator_progress(stream=stream, annotator=mine)
    assert (progress.mine_total, progress.mine_excluded) == (1, 1)


def test_exclusion_keeps_live_leases_counted() -> None:
    """Excluding a judgement beside a live lease: the lease keeps its slot, and the item is open
    for exactly the one slot given back."""
    stream: Any = StreamFactory(overlap=2)
    item = ItemFactory.create(stream=stream)
    done = work(stream, make_annotator(stream)).judgement
    holding = claim_next(stream=stream, annotator=make_annotator(stream))
    assert holding.item_id == item.pk
    services.exclude_judgements(judgement_ids=[done.pk], reason="qc_drift")
    item.refresh_from_db()
    assert (item.judgement_count, item.claim_count, item.is_open) == (0, 1, True)
    assert Assignment.objects.filter(status=Assignment.Status.ACTIVE).count() == 1
    work(stream, make_annotator(stream))
    assert claim_next(stream=stream, annotator=make_annotator(stream)) is None


def test_it_excludes_an_annotators_work_since_a_change_point() -> None:
    stream: Any = StreamFactory(overlap=2)
    items = [ItemFactory.create(stream=stream) for _ in range(3)]
    drifter = make_annotator(stream)
    done = [work(stream, drifter).judgement for _ in range(3)]
    change = timezone.now() + timedelta(hours=1)
    Judgement.objects.filter(pk=done[2].pk).update(submitted_at=change + timedelta(minutes=5))
    Judgement.objects.filter(pk=done[1].pk).update(submitted_at=change)

    assert services.exclude_annotator_work(stream=stream, annotator=drifter, reason="qc_drift", since=change) == 2
    assert set(Judgement.objects.filter(excluded_reason="qc_drift").values_list("pk", flat=True)) == {
        done[1].pk,
        done[2].pk,
    }
    assert [i.judgement_count for i in Item.objects.filter(pk__in=[i.pk for i in items]).order_by("pk")] == [1, 0, 0]
    assert services.exclude_annotator_work(stream=stream, annotator=drifter, reason="qc_pause") == 1
