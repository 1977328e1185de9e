"""Adaptive overlap: an item stops once its first n counted judgements agree, else collects up to
the overlap."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from annotation import selectors, services
from annotation.models import Item, Judgement
from projects import services as project_services
from tests.annotation.conftest import claim_next, make_annotator
from tests.annotation.test_exclusion import work
from tests.factories import ItemFactory, StreamFactory

pytestmark = pytest.mark.django_db


def adaptive_stream(overlap: int = 5, n: int = 2, **fields: Any) -> Any:
    return StreamFactory(overlap=overlap, adaptive_overlap=True, adaptive_min_agree=n, **fields)


def counts(item: Item) -> tuple[int, int, bool, bool | None]:
    item.refresh_from_db()
    return item.judgement_count, item.claim_count, item.is_open, item.first_agreed


def test_an_item_stops_when_its_first_n_agree() -> None:
    stream = adaptive_stream()
    item = ItemFactory.create(stream=stream)
    work(stream, make_annotator(stream), "A", strength=1)
    assert counts(item) == (1, 1, True, None)
    work(stream, make_annotator(stream), "A", strength=3)  # strength does not matter
    assert counts(item) == (2, 2, False, True)
    assert claim_next(stream=stream, annotator=make_annotator(stream)) is None
    selectors.cache.clear()
    progress = selectors.stream_progress(stream)
    assert (progress.stopped_early, progress.complete, progress.needed, progress.percent) == (1, 1, 2, 100)


def test_a_disagreement_collects_up_to_the_overlap() -> None:
    stream = adaptive_stream(overlap=4)
    item = ItemFactory.create(stream=stream)
    work(stream, make_annotator(stream), "A")
    work(stream, make_annotator(stream), "B")
    assert counts(item) == (2, 2, True, False)
    for choice in ("A", "A"):  # later agreement does not stop it: only the first n decide
        work(stream, make_annotator(stream), choice)
    assert counts(item) == (4, 4, False, False)
    assert claim_next(stream=stream, annotator=make_annotator(stream)) is None


def test_it_never_leases_more_than_n_before_the_first_n_are_in() -> None:
    """So no lease is outstanding when an item stops early."""
    stream = adaptive_stream(overlap=5, n=3)
    item = ItemFactory.create(stream=stream)
    held = [claim_next(stream=stream, annotator=make_annotator(stream)) for _ in range(4)]
    assert [a is not None for a in held] == [True, True, True, False]
    assert counts(item) == (0, 3, False, None)


@pytest.mark.parametrize(
    ("answers", "agreed"),
    [
        (["tie", "tie"], True),
        (["both_bad", "both_bad"], True),
        (["A", "tie"], False),
        ([{"choice": "A", "flag_cannot_judge": True}, "A"], False),
    ],
)
def test_what_counts_as_agreement(answers: list[Any], agreed: bool) -> None:
    stream = adaptive_stream()
    item = ItemFactory.create(stream=stream)
    for answer in answers:
        fields = answer if isinstance(answer, dict) else {"choice": answer}
        work(stream, make_annotator(stream), **fields)
    assert counts(item)[3] is agreed


def test_rankings_agree_on_the_same_best_group() -> None:
    stream = adaptive_stream(task_kind="ranking")
    same = ItemFactory.create(stream=stream, priority=2, num_responses=3, responses=[{"text": t} for t in "xyz"])
    other = ItemFactory.create(stream=stream, priority=1, num_responses=3, responses=[{"text": t} for t in "xyz"])
    for ranking in ([[2], [0, 1]], [[2], [1], [0]]):
        work(stream, make_annotator(stream), choice=None, ranking=ranking)
    for ranking in ([[0, 1], [2]], [[0], [1, 2]]):
        work(stream, make_annotator(stream), choice=None, ranking=ranking)
    assert counts(same)[3] is True
    assert counts(other)[3] is False


def test_excluding_one_of_the_first_n_reopens_the_decision() -> None:
    stream = adaptive_stream(overlap=4)
    item = ItemFactory.create(stream=stream)
    first = work(stream, make_annotator(stream), "A").judgement
    work(stream, make_annotator(stream), "A")
    assert counts(item) == (2, 2, False, True)

    services.exclude_judgements(judgement_ids=[first.pk], reason="qc_drift")
    assert counts(item) == (1, 1, True, None)
    work(stream, make_annotator(stream), "B")  # the new first two disagree
    assert counts(item) == (2, 2, True, False)
    services.restore_judgements(judgement_ids=[first.pk])
    # The first two by id are A, A again: stopped, with the extra judgement kept and counted.
    assert counts(item) == (3, 3, False, True)


def test_turning_it_on_for_a_live_stream_stops_agreed_items_and_surplus_leases_are_kept() -> None:
    stream: Any = StreamFactory(overlap=3)
    agreed, split = ItemFactory.create(stream=stream, priority=2), ItemFactory.create(stream=stream, priority=1)
    alice, bob = make_annotator(stream), make_annotator(stream)
    for person, answers in ((alice, ("A", "A")), (bob, ("A", "B"))):
        for choice in answers:
            work(stream, person, choice)
    carol = make_annotator(stream)
    lease = claim_next(stream=stream, annotator=carol)  # handed out under the old settings
    assert lease.item_id == agreed.pk
    assert counts(agreed) == (2, 3, False, None)

    project_services.update_stream(stream=stream, adaptive_overlap=True, adaptive_min_agree=2)
    services.sync_open_items(stream=stream)
    assert counts(agreed) == (2, 3, False, True)
    assert counts(split) == (2, 2, True, False)

    key = services.idempotency_key(assignment_id=lease.pk, token="t")
    result = services.submit_judgement(assignment=lease, idempotency_key=key, choice="B")
    assert result.surplus  # stored, never over-filling the item that stopped at 2
    assert Judgement.objects.filter(pk=result.judgement.pk, counted=False).exists()
    assert counts(agreed) == (2, 2, False, True)

    project_services.update_stream(stream=stream, adaptive_overlap=False)
    services.sync_open_items(stream=stream)
    assert counts(agreed) == (2, 2, True, None)


def test_a_settings_change_queues_the_resync(django_capture_on_commit_callbacks: Any) -> None:
    stream: Any = StreamFactory(overlap=3)
    item = ItemFactory.create(stream=stream)
    work(stream, make_annotator(stream), "A")
    work(stream, make_annotator(stream), "A")
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        project_services.update_stream(stream=stream, adaptive_overlap=True)
    assert len(callbacks) == 1
    assert counts(item) == (2, 2, False, True)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        project_services.update_stream(stream=stream, priority=3)
    assert callbacks == []


def test_a_late_submit_that_completes_the_first_n_decides() -> None:
    stream = adaptive_stream(lease_minutes=10)
    item = ItemFactory.create(stream=stream)
    slow = claim_next(stream=stream, annotator=make_annotator(stream))
    services.expire_leases(stream=stream, now=timezone.now() + timedelta(minutes=11))
    work(stream, make_annotator(stream), "B")
    key = services.idempotency_key(assignment_id=slow.pk, token="t")
    result = services.submit_judgement(assignment=slow, idempotency_key=key, choice="B")
    assert result.late
    assert not result.surplus
    assert counts(item) == (2, 2, False, True)


def test_golden_items_are_not_bound_by_it() -> None:
    stream = adaptive_stream(golden_rate=1.0)
    golden = ItemFactory.create(stream=stream, is_golden=True, golden_answers=["A"])
    for _ in range(4):
        person = make_annotator(stream)
        assignment = services.pick_golden(stream=stream, annotator=person)
        assert assignment is not None
        assert assignment.item_id == golden.pk
        key = services.idempotency_key(assignment_id=assignment.pk, token="t")
        assert not services.submit_judgement(assignment=assignment, idempotency_key=key, choice="A").surplus
    golden.refresh_from_db()
    assert (golden.judgement_count, golden.first_agreed) == (4, None)
