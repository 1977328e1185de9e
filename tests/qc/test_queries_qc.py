"""Query budgets of the QC parts of the hot path on PostgreSQL: a golden draw costs no more than an
ordinary claim (the same statement count: indistinguishable timing), a draw that finds no golden
item costs one query and then none for a while, a sampled judgement one INSERT."""

from __future__ import annotations

import random
from typing import Any

import pytest

from annotation import services
from judging import uses as judge_uses
from qc import review as qc_review
from qc.models import ReviewTask
from tests.annotation.conftest import make_annotator
from tests.factories import ItemFactory, StreamFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _judge_uses_read(transactional_db: None) -> None:
    """The model judges' uses are cached once a process has read them (``judging.uses``)."""
    judge_uses.uses_by_stream()


class _Fixed(random.Random):
    def __init__(self, value: float) -> None:
        super().__init__()
        self.value = value

    def random(self) -> float:
        return self.value


ALWAYS, NEVER = _Fixed(0.0), _Fixed(0.999999)


def _stream(golden: int) -> Any:
    stream: Any = StreamFactory(overlap=3, golden_rate=0.1, review_rate=0.1)
    for _ in range(5):
        ItemFactory(stream=stream)
    for _ in range(golden):
        ItemFactory(stream=stream, is_golden=True, golden_answers=["A"])
    return stream


def test_a_golden_lease_costs_what_an_ordinary_claim_costs(
    monkeypatch: pytest.MonkeyPatch, django_assert_num_queries: Any
) -> None:
    monkeypatch.setattr(qc_review, "review_random", NEVER)
    stream = _stream(golden=3)
    alice, bob = make_annotator(stream), make_annotator(stream)
    monkeypatch.setattr(services, "golden_random", NEVER)
    with django_assert_num_queries(2):  # resume, claim (the lease comes back with its item)
        ordinary = services.claim_next(stream=stream, annotator=alice)
    monkeypatch.setattr(services, "golden_random", ALWAYS)
    with django_assert_num_queries(2):  # resume, golden lease: the same round trips, no timing tell
        golden = services.claim_next(stream=stream, annotator=bob)
    assert ordinary is not None
    assert not ordinary.item.is_golden
    assert golden is not None
    assert golden.item.is_golden


def test_a_fruitless_golden_draw_costs_one_query_then_none(
    monkeypatch: pytest.MonkeyPatch, django_assert_max_num_queries: Any
) -> None:
    stream = _stream(golden=0)
    alice = make_annotator(stream)
    monkeypatch.setattr(services, "golden_random", ALWAYS)
    with django_assert_max_num_queries(4):
        first = services.claim_next(stream=stream, annotator=alice)
    assert first is not None
    services.skip_assignment(assignment=first, reason="unclear")
    with django_assert_max_num_queries(3):
        services.claim_next(stream=stream, annotator=alice)


def test_a_sampled_judgement_costs_one_insert(
    monkeypatch: pytest.MonkeyPatch, django_assert_max_num_queries: Any
) -> None:
    monkeypatch.setattr(services, "golden_random", NEVER)
    monkeypatch.setattr(qc_review, "review_random", ALWAYS)
    stream = _stream(golden=0)
    alice = make_annotator(stream)
    assignment = services.claim_next(stream=stream, annotator=alice)
    assert assignment is not None
    key = services.idempotency_key(assignment_id=assignment.pk, token="t")
    with django_assert_max_num_queries(7):  # BEGIN, lock, insert, review task, 2 updates, COMMIT
        services.submit_judgement(assignment=assignment, idempotency_key=key, choice="A", flag_harmful=True)
    assert sorted(ReviewTask.objects.values_list("reason", flat=True)) == ["flag", "sample"]
