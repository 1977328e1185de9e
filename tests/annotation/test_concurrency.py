"""The engine under real concurrency, on PostgreSQL: threads, each with its own connection."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from django.db.models import Count

from annotation import services
from annotation.models import Assignment, Item, Judgement
from tests.annotation.conftest import claim_next, make_annotator
from tests.factories import ItemFactory, StreamFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def run_threads(n: int, work: Callable[[int], None]) -> list[BaseException]:
    barrier = threading.Barrier(n)
    errors: list[BaseException] = []

    def target(i: int) -> None:
        try:
            barrier.wait()
            work(i)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=target, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "a thread hung (deadlock?)"
    return errors


def submit(assignment: Assignment, token: str = "t") -> services.SubmitResult:  # noqa: S107 — a page token
    key = services.idempotency_key(assignment_id=assignment.pk, token=token)
    return services.submit_judgement(assignment=assignment, idempotency_key=key, choice="A", strength=1)


@pytest.mark.parametrize("order", ["depth", "breadth"])
def test_many_annotators_never_exceed_overlap_nor_repeat_an_item(order: str) -> None:
    stream: Any = StreamFactory(overlap=3, order=order)
    items = [ItemFactory(stream=stream) for _ in range(60)]
    people = [make_annotator(stream) for _ in range(32)]
    submitted: list[int] = []
    lock = threading.Lock()

    def work(i: int) -> None:
        for _ in range(len(items)):  # bounded: no annotator can judge more than every item
            assignment = claim_next(stream=stream, annotator=people[i])
            if assignment is None:
                return
            result = submit(assignment)
            with lock:
                submitted.append(result.judgement.pk)

    assert run_threads(len(people), work) == []

    assert len(submitted) == len(items) * 3
    assert Judgement.objects.count() == len(submitted)
    assert not Judgement.objects.filter(counted=False).exists()
    repeated = Judgement.objects.values("item", "annotator").annotate(n=Count("id")).filter(n__gt=1)
    assert not repeated.exists()
    for item in Item.objects.filter(stream=stream).annotate(n=Count("judgements")):
        assert item.n == item.judgement_count == item.claim_count == 3
        assert not item.is_open
    assert not Assignment.objects.filter(status=Assignment.Status.ACTIVE).exists()


def test_racing_claims_with_leases_held_never_overcommit() -> None:
    """Claims only (nobody submits): no item ever gets more than `overlap` live leases, and every
    slot is leased once the race is over. Under SKIP LOCKED a claim that finds every remaining
    candidate held by a claim in flight comes back empty (a rare miss, not an error): asking
    again afterwards, as the page's "check again" does, takes what is left."""
    stream: Any = StreamFactory(overlap=2)
    items = [ItemFactory(stream=stream) for _ in range(10)]
    people = [make_annotator(stream) for _ in range(40)]
    got: list[int | None] = [None] * len(people)

    def work(i: int) -> None:
        assignment = claim_next(stream=stream, annotator=people[i])
        got[i] = assignment.item_id if assignment else None

    assert run_threads(len(people), work) == []
    assert Item.objects.filter(claim_count__gt=2).count() == 0
    for i, item_id in enumerate(got):
        if item_id is None:
            again = claim_next(stream=stream, annotator=people[i])
            got[i] = again.item_id if again else None
    assert sum(1 for g in got if g is not None) == len(items) * 2
    live = Assignment.objects.filter(status=Assignment.Status.ACTIVE).values("item").annotate(n=Count("id"))
    assert {row["n"] for row in live} == {2}
    assert set(Item.objects.values_list("claim_count", flat=True)) == {2}


def test_one_annotator_in_two_tabs_gets_one_lease() -> None:
    stream: Any = StreamFactory(overlap=3)
    for _ in range(20):
        ItemFactory(stream=stream)
    alice = make_annotator(stream)
    got: list[Any] = [None] * 8

    def work(i: int) -> None:
        got[i] = claim_next(stream=stream, annotator=alice).pk

    assert run_threads(8, work) == []
    assert len(set(got)) == 1
    assert Assignment.objects.filter(annotator=alice).count() == 1
    assert sum(Item.objects.values_list("claim_count", flat=True)) == 1


def test_concurrent_submits_of_one_assignment_store_one_judgement() -> None:
    stream: Any = StreamFactory(overlap=3)
    ItemFactory(stream=stream)
    alice = make_annotator(stream)
    assignment = claim_next(stream=stream, annotator=alice)
    results: list[services.SubmitResult] = []

    def work(i: int) -> None:
        results.append(submit(assignment, token="same-page"))

    assert run_threads(16, work) == []
    assert len({r.judgement.pk for r in results}) == 1
    assert sum(r.created for r in results) == 1
    assert Judgement.objects.count() == 1
    assert Item.objects.get().judgement_count == 1
