"""The review queue: what is queued on submit (flags always, the sample at the stream's rate),
reviewer agreement on double-reviewed judgements, and the rules a review follows."""

from __future__ import annotations

import random
from typing import Any

import pytest
from scipy.stats import binomtest

from annotation import services
from qc import review
from qc.models import ReviewTask
from qc.services import compute_stream_metrics
from tests.annotation.conftest import make_annotator
from tests.factories import ItemFactory, JudgementFactory, StreamFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_it_queues_flagged_work_always_and_a_sample_at_the_review_rate(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(review, "review_random", random.Random(5))
    monkeypatch.setattr(services, "golden_random", random.Random(5))
    stream: Any = StreamFactory(review_rate=0.2, golden_rate=0.0, overlap=1)
    for _ in range(300):
        ItemFactory.create(stream=stream)
    alice = make_annotator(stream)
    for n in range(300):
        assignment = services.claim_next(stream=stream, annotator=alice)
        assert assignment is not None
        services.submit_judgement(assignment=assignment, idempotency_key=f"k{n}", choice="A", flag_pii=(n % 50 == 0))
    sampled = ReviewTask.objects.filter(reason=ReviewTask.Reason.SAMPLE)
    assert binomtest(sampled.count(), 300, 0.2).pvalue > 0.01
    assert ReviewTask.objects.filter(reason=ReviewTask.Reason.FLAG).count() == 6
    doubles = sampled.filter(reviews_wanted=2).count()
    assert 0 < doubles < sampled.count()


def test_golden_items_are_never_queued() -> None:
    stream: Any = StreamFactory(review_rate=1.0, golden_rate=1.0)
    ItemFactory.create(stream=stream, is_golden=True, golden_answers=["A"])
    alice = make_annotator(stream)
    assignment = services.claim_next(stream=stream, annotator=alice)
    assert assignment is not None
    assert assignment.item.is_golden
    services.submit_judgement(assignment=assignment, idempotency_key="k", choice="B", flag_harmful=True)
    assert not ReviewTask.objects.exists()


def test_reviewer_agreement_is_alpha_over_double_reviewed_judgements() -> None:
    stream: Any = StreamFactory()
    rita, rob = UserFactory.create(), UserFactory.create()
    decisions = [("accept", "accept"), ("reject", "reject"), ("accept", "reject"), ("accept", "accept")]
    for first, second in decisions:
        judgement: Any = JudgementFactory(assignment__item=ItemFactory.create(stream=stream))
        for reviewer, decision in ((rita, first), (rob, second)):
            review.submit_review(judgement=judgement, reviewer=reviewer, decision=decision, reason="why")
    JudgementFactory(assignment__item=ItemFactory.create(stream=stream))  # reviewed by nobody
    figure = compute_stream_metrics(stream=stream).windows["all"].stream["reviewer_agreement"]
    assert figure.sample_size == 4
    assert figure.details["pairs_agreeing"] == 0.75
    # Krippendorff's nominal alpha of the 4 x 2 decisions: 1 - D_o/D_e = 1 - (2/8) / (2*5*3/(8*7)).
    assert figure.value == pytest.approx(1 - (2 / 8) / (2 * 5 * 3 / (8 * 7)), abs=1e-4)
    assert not figure.flagged


def test_a_reviewer_cannot_review_their_own_work_or_twice() -> None:
    stream: Any = StreamFactory()
    judgement: Any = JudgementFactory(assignment__item=ItemFactory.create(stream=stream))
    with pytest.raises(review.OwnWork):
        review.submit_review(judgement=judgement, reviewer=judgement.annotator, decision="accept")
    rita = UserFactory.create()
    review.submit_review(judgement=judgement, reviewer=rita, decision="accept")
    with pytest.raises(review.AlreadyReviewed):
        review.submit_review(judgement=judgement, reviewer=rita, decision="reject", reason="changed my mind")
