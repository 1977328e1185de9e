"""Query budgets of the hot path on PostgreSQL (production), measured outside a test transaction so
atomic blocks are real transactions (BEGIN/COMMIT are counted), not savepoints. SQLite takes the
ORM path of the claim and is not pinned."""

from __future__ import annotations

import random
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from annotation import services
from annotation.models import Assignment
from judging import uses as judge_uses
from qc import review as qc_review
from tests.annotation.conftest import claim_next, make_annotator
from tests.factories import ItemFactory, StreamFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


class _Never(random.Random):
    def random(self) -> float:
        return 0.999999


@pytest.fixture(autouse=True)
def _ordinary_path(monkeypatch: pytest.MonkeyPatch, transactional_db: None) -> None:
    """The budgets below are the ordinary path: no golden draw, no review sample (both random;
    their own budgets are pinned in tests/qc/test_queries_qc.py), and the model judges' uses
    already read into the cache (a process reads them once, then after a judge changes)."""
    monkeypatch.setattr(services, "golden_random", _Never())
    monkeypatch.setattr(qc_review, "review_random", _Never())
    judge_uses.uses_by_stream()


def test_next_plus_submit_take_at_most_10_queries(django_assert_max_num_queries: Any) -> None:
    """Target: 10. Now 8: resume, claim (the lease and its item in one statement); BEGIN, lock,
    judgement, assignment, item counters, COMMIT."""
    stream: Any = StreamFactory(overlap=3)
    for _ in range(5):
        ItemFactory(stream=stream)
    alice = make_annotator(stream)
    with django_assert_max_num_queries(8):
        assignment = claim_next(stream=stream, annotator=alice)
        key = services.idempotency_key(assignment_id=assignment.pk, token="t")
        services.submit_judgement(assignment=assignment, idempotency_key=key, choice="A", strength=1)
    claim_next(stream=stream, annotator=alice)
    # Resuming a live lease (a reload) is a single query.
    with django_assert_max_num_queries(1):
        claim_next(stream=stream, annotator=alice)


def test_the_htmx_submit_and_next_round_trip_is_pinned(client: Client, django_assert_max_num_queries: Any) -> None:
    stream: Any = StreamFactory(overlap=3)
    for _ in range(5):
        ItemFactory(stream=stream)
    alice = make_annotator(stream)
    client.force_login(alice)
    client.get(reverse("annotation:work", args=[stream.pk]))
    assignment = Assignment.objects.get(annotator=alice)
    data = {"token": services.lease_token(assignment), "choice": "B", "strength": "3"}
    # session, user, access, submit (6 with BEGIN/COMMIT), next (3), the page's progress figures
    with django_assert_max_num_queries(13):
        response = client.post(reverse("annotation:submit", args=[assignment.pk]), data, HTTP_HX_REQUEST="true")
    assert response.status_code == 200


def test_adaptive_overlap_adds_queries_only_to_the_deciding_submit(django_assert_max_num_queries: Any) -> None:
    """With adaptive overlap the usual next + submit keeps its 8 (the count is the same one UPDATE,
    with RETURNING); the submit that completes an item's first n reads them and writes the
    decision: 2 more."""
    stream: Any = StreamFactory(overlap=3, adaptive_overlap=True, adaptive_min_agree=2)
    ItemFactory(stream=stream)
    first, second = make_annotator(stream), make_annotator(stream)
    with django_assert_max_num_queries(8):
        assignment = claim_next(stream=stream, annotator=first)
        key = services.idempotency_key(assignment_id=assignment.pk, token="t")
        services.submit_judgement(assignment=assignment, idempotency_key=key, choice="A", strength=1)
    with django_assert_max_num_queries(10):
        assignment = claim_next(stream=stream, annotator=second)
        key = services.idempotency_key(assignment_id=assignment.pk, token="t")
        services.submit_judgement(assignment=assignment, idempotency_key=key, choice="A", strength=1)
    assignment.item.refresh_from_db()
    assert assignment.item.first_agreed is True
    assert not assignment.item.is_open


@pytest.mark.parametrize(
    ("kind", "answer"),
    [
        ("helpful_safe", {"helpful": "A", "safer": "B", "safe_0": "safe", "safe_1": "unsafe", "harm_1": "violence"}),
        ("attribute_pairwise", {"attr_0": "A", "attr_1": "tie", "rationale": "A is right."}),
    ],
)
def test_a_multi_axis_round_trip_costs_what_a_pairwise_one_does(
    client: Client, django_assert_max_num_queries: Any, kind: str, answer: dict[str, str]
) -> None:
    stream: Any = StreamFactory(
        overlap=3, task_kind=kind, harm_categories=["violence"], attributes=["correctness", "style"]
    )
    for _ in range(5):
        ItemFactory(stream=stream)
    alice = make_annotator(stream)
    client.force_login(alice)
    client.get(reverse("annotation:work", args=[stream.pk]))
    assignment = Assignment.objects.get(annotator=alice)
    with django_assert_max_num_queries(13):
        response = client.post(
            reverse("annotation:submit", args=[assignment.pk]),
            {"token": services.lease_token(assignment), **answer},
            HTTP_HX_REQUEST="true",
        )
    assert response.status_code == 200
    assert b"Saved." in response.content
