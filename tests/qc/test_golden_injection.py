"""Golden injection: served at the stream's rate at random positions, never twice to one
annotator, and indistinguishable from ordinary items in the page, the HTML and the API."""

from __future__ import annotations

import difflib
import itertools
import random
import re
from collections import Counter
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient
from scipy.stats import binomtest

from annotation import services
from annotation.models import Assignment, Item, Judgement
from projects.models import Stream
from tests.annotation.conftest import make_annotator
from tests.factories import ItemFactory, StreamFactory

pytestmark = pytest.mark.django_db

SECRET = "Zebra-explanation-7781"
HX: Any = {"HTTP_HX_REQUEST": "true"}


def _golden(stream: Stream, n: int, **fields: Any) -> list[Item]:
    defaults = {"is_golden": True, "golden_answers": ["B"], "golden_explanation": SECRET}
    return [ItemFactory.create(stream=stream, **{**defaults, **fields}) for _ in range(n)]


@pytest.fixture
def seeded(monkeypatch: pytest.MonkeyPatch) -> random.Random:
    rng = random.Random(20261130)
    monkeypatch.setattr(services, "golden_random", rng)
    return rng


def test_it_serves_golden_items_at_the_stream_rate_over_2000_items(seeded: random.Random) -> None:
    rate = 0.1
    stream: Any = StreamFactory(golden_rate=rate, overlap=20, status=Stream.Status.ACTIVE)
    golden_ids = {item.pk for item in _golden(stream, 60)}
    for _ in range(100):
        ItemFactory.create(stream=stream)
    annotators = [make_annotator(stream) for _ in range(20)]
    served: list[tuple[int, int]] = []  # (annotator, item) in serving order
    for annotator in annotators:
        for _ in range(100):
            assignment = services.claim_next(stream=stream, annotator=annotator)
            assert assignment is not None
            served.append((annotator.pk, assignment.item_id))
            services.skip_assignment(assignment=assignment, reason=Assignment.SkipReason.UNCLEAR)
    assert len(served) == 2000
    golden_served = sum(1 for _, item_id in served if item_id in golden_ids)
    # Within binomial tolerance of the configured rate (two-sided exact test, 1% level).
    assert binomtest(golden_served, len(served), rate).pvalue > 0.01, golden_served
    # Never the same item (golden or not) twice to one annotator.
    assert len(set(served)) == len(served)
    # At random positions: the gaps between one annotator's golden items vary (not every n-th).
    gaps: Counter[int] = Counter()
    for annotator in annotators:
        positions = [i for i, (a, item) in enumerate(served) if a == annotator.pk and item in golden_ids]
        gaps.update(b - a for a, b in itertools.pairwise(positions))
    assert len(gaps) >= 8
    assert max(gaps.values()) < 0.5 * sum(gaps.values())


def test_it_never_serves_one_golden_item_twice_to_an_annotator_even_after_an_expired_lease(
    seeded: random.Random,
) -> None:
    stream: Any = StreamFactory(golden_rate=1.0, overlap=3, status=Stream.Status.ACTIVE)
    golden = _golden(stream, 3)
    ordinary = ItemFactory.create(stream=stream)
    alice = make_annotator(stream)
    first = services.claim_next(stream=stream, annotator=alice)
    assert first is not None
    assert first.item.is_golden
    # The lease runs out unanswered: the item is not offered to her again.
    Assignment.objects.filter(pk=first.pk).update(lease_expires_at=first.served_at)
    services.expire_leases(stream=stream)
    seen = [first.item_id]
    for _ in range(3):
        assignment = services.claim_next(stream=stream, annotator=alice)
        assert assignment is not None
        seen.append(assignment.item_id)
        services.skip_assignment(assignment=assignment, reason=Assignment.SkipReason.UNCLEAR)
    assert sorted(seen[:3]) == sorted(item.pk for item in golden)
    assert seen[3] == ordinary.pk  # golden set used up: ordinary work, at any rate
    # Another annotator still gets every golden item (golden items ignore the overlap).
    bob = make_annotator(stream)
    bob_items = set()
    for _ in range(3):
        assignment = services.claim_next(stream=stream, annotator=bob)
        assert assignment is not None
        bob_items.add(assignment.item_id)
        services.skip_assignment(assignment=assignment, reason=Assignment.SkipReason.UNCLEAR)
    assert bob_items == {item.pk for item in golden}


def test_a_zero_rate_serves_no_golden_item(seeded: random.Random) -> None:
    stream: Any = StreamFactory(golden_rate=0.0, status=Stream.Status.ACTIVE)
    _golden(stream, 5)
    ItemFactory.create(stream=stream)
    assignment = services.claim_next(stream=stream, annotator=make_annotator(stream))
    assert assignment is not None
    assert not assignment.item.is_golden


def test_it_stores_whether_a_golden_answer_was_right() -> None:
    stream: Any = StreamFactory(golden_rate=1.0, status=Stream.Status.ACTIVE)
    _golden(stream, 2, golden_answers=["A", "tie"], golden_harmful=True)
    alice = make_annotator(stream)
    results = []
    for flag in (False, True):
        assignment = services.claim_next(stream=stream, annotator=alice)
        assert assignment is not None
        key = services.idempotency_key(assignment_id=assignment.pk, token="t")
        services.submit_judgement(assignment=assignment, idempotency_key=key, choice="tie", flag_harmful=flag)
        results.append(Judgement.objects.get(assignment=assignment).gold_correct)
    # Harmful golden item: the right answer includes the harmful flag.
    assert results == [False, True]


# --- Indistinguishable -----------------------------------------------------------------------------
def _normalise(html: str, usernames: list[str]) -> str:
    for name in usernames:
        html = html.replace(name, "USER")
    html = re.sub(r"[A-Za-z0-9]{32,}", "TOKEN", html)  # CSRF tokens
    html = re.sub(r'name="token" value="[0-9a-f]+"', 'name="token" value="LEASE"', html)  # served_at in hex
    return re.sub(r"\d+", "N", html)


def _twin_items(stream: Stream) -> tuple[Item, Item]:
    content = {
        "context": [{"role": "user", "content": "Which planet is largest?"}],
        "responses": [{"text": "Jupiter.", "model": "m1"}, {"text": "Saturn.", "model": "m2"}],
    }
    golden = ItemFactory.create(
        stream=stream, is_golden=True, golden_answers=["A"], golden_explanation=SECRET, **content
    )
    ordinary = ItemFactory.create(stream=stream, **content)
    return golden, ordinary


def _page(client: Client, stream: Stream, annotator: Any, **extra: Any) -> str:
    client.force_login(annotator)
    client.get(reverse("annotation:work", args=[stream.pk]))
    Assignment.objects.filter(annotator=annotator, status=Assignment.Status.ACTIVE).update(display_order=[0, 1])
    return client.get(reverse("annotation:work", args=[stream.pk]), **extra).content.decode()


def test_a_golden_item_page_is_the_same_html_as_an_ordinary_one(client: Client) -> None:
    stream: Any = StreamFactory(golden_rate=1.0, overlap=1, status=Stream.Status.ACTIVE)
    golden, ordinary = _twin_items(stream)
    gina, olly = make_annotator(stream, "gina"), make_annotator(stream, "olly")
    golden_page = _page(client, stream, gina)
    assert Assignment.objects.get(annotator=gina).item_id == golden.pk
    Stream.objects.filter(pk=stream.pk).update(golden_rate=0.0)
    ordinary_page = _page(Client(), stream, olly)
    assert Assignment.objects.get(annotator=olly).item_id == ordinary.pk
    differences = [
        line
        for line in difflib.unified_diff(
            _normalise(golden_page, ["gina"]).splitlines(), _normalise(ordinary_page, ["olly"]).splitlines(), n=0
        )
        if not line.startswith(("---", "+++", "@@"))
    ]
    assert differences == []
    for secret in (SECRET, "golden", "gold"):
        assert secret.lower() not in golden_page.lower()


def test_the_submit_response_after_a_wrong_golden_answer_says_nothing_unless_training_mode(client: Client) -> None:
    stream: Any = StreamFactory(golden_rate=1.0, status=Stream.Status.ACTIVE, show_golden_explanation=False)
    _golden(stream, 2)
    ItemFactory.create(stream=stream)
    alice = make_annotator(stream)
    client.force_login(alice)
    client.get(reverse("annotation:work", args=[stream.pk]))
    Assignment.objects.filter(annotator=alice).update(display_order=[0, 1])  # "A" shown = canonical A
    assignment = Assignment.objects.get(annotator=alice, status=Assignment.Status.ACTIVE)
    data = {"token": services.lease_token(assignment), "choice": "A", "strength": "2"}
    response = client.post(reverse("annotation:submit", args=[assignment.pk]), data, **HX)
    assert response.status_code == 200
    assert Judgement.objects.get(assignment=assignment).gold_correct is False
    assert SECRET not in response.content.decode()
    assert "expected answer" not in response.content.decode()

    Stream.objects.filter(pk=stream.pk).update(show_golden_explanation=True)
    Assignment.objects.filter(annotator=alice, status=Assignment.Status.ACTIVE).update(display_order=[0, 1])
    assignment = Assignment.objects.get(annotator=alice, status=Assignment.Status.ACTIVE)
    data = {"token": services.lease_token(assignment), "choice": "A", "strength": "2"}
    response = client.post(reverse("annotation:submit", args=[assignment.pk]), data, **HX)
    assert SECRET in response.content.decode()  # training mode: the explanation after a wrong answer


def test_the_api_serves_golden_and_ordinary_items_alike() -> None:
    stream: Any = StreamFactory(golden_rate=1.0, overlap=1, status=Stream.Status.ACTIVE)
    _twin_items(stream)
    bodies = []
    for name, rate in (("gina", 1.0), ("olly", 0.0)):
        Stream.objects.filter(pk=stream.pk).update(golden_rate=rate)
        client = APIClient()
        client.force_authenticate(make_annotator(stream, name))
        response = client.get(reverse("api-next", args=[stream.pk]))
        assert response.status_code == 200
        body = response.json()
        answer = client.post(
            reverse("api-judgement", args=[body["assignment"]]), {"choice": "B", "strength": 2}, format="json"
        )
        assert answer.status_code == 201
        bodies.append((body, answer.json()))
    (golden_next, golden_answer), (ordinary_next, ordinary_answer) = bodies
    assert set(golden_next) == set(ordinary_next)
    assert set(golden_answer) == set(ordinary_answer)
    assert sorted(r["text"] for r in golden_next["responses"]) == sorted(r["text"] for r in ordinary_next["responses"])
    for raw in (str(golden_next), str(golden_answer)):
        assert SECRET not in raw
        assert "gold" not in raw.lower()


def test_a_golden_item_that_is_a_qualification_question_is_never_injected() -> None:
    from qualification.models import QualificationQuestion, QualificationTest

    stream: Any = StreamFactory(golden_rate=1.0, status=Stream.Status.ACTIVE)
    in_test, other = _golden(stream, 2)
    test = QualificationTest.objects.create(stream=stream)
    QualificationQuestion.objects.create(test=test, item=in_test, acceptable_answers=["B"])
    alice = make_annotator(stream)
    assignment = services.claim_next(stream=stream, annotator=alice)
    assert assignment is not None
    assert assignment.item_id == other.pk  # she may have seen the other one in the test
    services.skip_assignment(assignment=assignment, reason=Assignment.SkipReason.UNCLEAR)
    assert services.claim_next(stream=stream, annotator=alice) is None
