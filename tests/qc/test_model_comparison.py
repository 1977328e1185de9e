"""Model comparison of a dynamic stream: win/tie/loss per pair, Bradley–Terry ratings with
bootstrap intervals, and the PM page that shows them."""

from __future__ import annotations

import math
import random
from typing import Any

import numpy as np
import pytest
from django.test import Client
from django.urls import reverse

from dynamic.models import Conversation, ConversationCandidate, Generation, ModelEndpoint, StreamEndpoint, Turn
from projects.models import Role, Stream
from qc import model_comparison
from tests.factories import StreamFactory
from tests.projects.web_helpers import member, outsider, project_with_pm

pytestmark = pytest.mark.django_db


def _endpoint(stream: Stream, name: str) -> ModelEndpoint:
    return ModelEndpoint.objects.create(
        project=stream.project, name=name, base_url="https://example.org/v1", model=name
    )


def _judged_turn(stream: Stream, annotator: Any, first: ModelEndpoint, second: ModelEndpoint, choice: str) -> None:
    """One conversation of one judged turn, through the real judging service."""
    from dynamic import services as dynamic

    conversation = Conversation.objects.create(stream=stream, annotator=annotator, display_order=[0, 1])
    ConversationCandidate.objects.create(conversation=conversation, position=0, endpoint=first)
    ConversationCandidate.objects.create(conversation=conversation, position=1, endpoint=second)
    turn = Turn.objects.create(conversation=conversation, index=0, user_message="q", status=Turn.Status.READY)
    for position, ep in enumerate((first, second)):
        Generation.objects.create(
            turn=turn, position=position, endpoint=ep, status=Generation.Status.DONE, text=f"a{position}"
        )
    answer = {"choice": choice, "strength": 2 if choice in ("A", "B") else None}
    dynamic.judge_turn(turn=turn, answer=answer)


@pytest.fixture
def setup() -> tuple[Stream, Any, dict[str, ModelEndpoint]]:
    stream: Stream = StreamFactory.create(mode=Stream.Mode.DYNAMIC, max_turns=1, overlap=1)
    annotator = member(stream.project, Role.ANNOTATOR)
    endpoints = {name: _endpoint(stream, name) for name in ("alpha", "beta", "gamma")}
    return stream, annotator, endpoints


def test_it_counts_wins_ties_and_losses_per_pair(setup: Any) -> None:
    stream, annotator, eps = setup
    for first, second, choice in [
        ("alpha", "beta", "A"),
        ("beta", "alpha", "A"),  # beta shown as candidate 0 wins
        ("alpha", "beta", "tie"),
        ("alpha", "beta", "both_bad"),
        ("alpha", "beta", "A"),
        ("beta", "gamma", "B"),
    ]:
        _judged_turn(stream, annotator, eps[first], eps[second], choice)
    result = model_comparison.compare_models(stream, bootstrap=50)
    assert result.comparisons == 6
    pairs = {(p.first.name, p.second.name): p for p in result.pairs}
    ab = pairs[("alpha", "beta")]
    assert (ab.wins, ab.ties, ab.both_bad, ab.losses) == (2, 1, 1, 1)
    assert ab.win_rate == pytest.approx((2 + 1) / 5)
    bg = pairs[("beta", "gamma")]
    assert (bg.wins, bg.ties, bg.both_bad, bg.losses) == (0, 0, 0, 1)
    ratings = {r.endpoint.name: r for r in result.ratings}
    assert (ratings["alpha"].wins, ratings["alpha"].ties, ratings["alpha"].losses) == (2, 2, 1)
    assert ratings["gamma"].comparisons == 1


def test_bradley_terry_recovers_known_strengths() -> None:
    # Simulated comparisons with true log-strengths 0.8, 0, -0.8 (ties 10%).
    rng = random.Random(1)
    truth = np.array([0.8, 0.0, -0.8])
    rows: list[list[float]] = []
    for _ in range(6000):
        i, j = rng.sample(range(3), 2)
        p = 1 / (1 + math.exp(-(truth[i] - truth[j])))
        score = 0.5 if rng.random() < 0.1 else (1.0 if rng.random() < p else 0.0)
        rows.append([i, j, score, 1])
    theta = model_comparison.fit_bradley_terry(3, np.array(rows, dtype=float))
    assert theta - theta.mean() == pytest.approx(truth - truth.mean(), abs=0.12)


def test_the_batched_bootstrap_fit_equals_one_fit_per_resample() -> None:
    """The page fits 1,000 resamples at once (it took 1.7 s one by one on its first visit): the
    batched Newton steps must land where the single fit does, resample by resample."""
    rng = np.random.default_rng(7)
    cells = np.array(
        [[i, j, s, rng.integers(1, 25)] for i in range(4) for j in range(4) if i != j for s in (0.0, 0.5, 1.0)],
        dtype=float,
    )
    theta = model_comparison.fit_bradley_terry(4, cells)
    counts = rng.multinomial(int(cells[:, 3].sum()), cells[:, 3] / cells[:, 3].sum(), size=50).astype(float)
    one_by_one = np.array([model_comparison.fit_bradley_terry(4, cells, c, start=theta) for c in counts])
    batched = model_comparison.fit_bradley_terry_batch(4, cells, counts, start=theta)
    assert batched.shape == (50, 4)
    assert np.abs(batched - one_by_one).max() < 1e-6
    assert np.abs(batched.mean(axis=1)).max() < 1e-12  # each θ centred


def test_the_intervals_cover_the_fit_and_separate_a_clear_winner(setup: Any) -> None:
    stream, annotator, eps = setup
    rng = random.Random(5)
    for _ in range(60):
        # alpha beats beta 80% of the time.
        _judged_turn(stream, annotator, eps["alpha"], eps["beta"], "A" if rng.random() < 0.8 else "B")
    result = model_comparison.compare_models(stream, bootstrap=200)
    best, worst = result.ratings
    assert best.endpoint.name == "alpha"
    assert best.low <= best.rating <= best.high
    assert worst.low <= worst.rating <= worst.high
    assert best.low > worst.high  # 60 turns at 80%: clearly separated
    assert best.rating + worst.rating == pytest.approx(2000)  # centred on 1000
    # 400 log10(odds): the fit's odds are about 4:1.
    assert best.rating - worst.rating == pytest.approx(400 * math.log10(4), abs=80)
    assert result.pairs[0].p_better == pytest.approx(1.0, abs=0.02)


def test_a_model_that_always_wins_gets_a_finite_rating(setup: Any) -> None:
    stream, annotator, eps = setup
    for _ in range(5):
        _judged_turn(stream, annotator, eps["alpha"], eps["beta"], "A")
    result = model_comparison.compare_models(stream, bootstrap=20)
    assert all(math.isfinite(r.rating) and math.isfinite(r.low) and math.isfinite(r.high) for r in result.ratings)


def test_cannot_judge_and_static_judgements_are_left_out(setup: Any) -> None:
    stream, _annotator, _eps = setup
    result = model_comparison.compare_models(stream, bootstrap=10)
    assert result.comparisons == 0
    assert result.ratings == []


def test_the_models_page_shows_ratings_to_pms_only(setup: Any) -> None:
    stream, annotator, eps = setup
    for choice in ("A", "A", "B"):
        _judged_turn(stream, annotator, eps["alpha"], eps["beta"], choice)
    pm = member(stream.project, Role.PM)
    client = Client()
    client.force_login(pm)
    url = reverse("qc:stream_models", args=[stream.pk])
    response = client.get(url)
    assert response.status_code == 200
    content = response.content.decode()
    assert 'id="model-ratings"' in content
    assert "alpha" in content
    assert "95% interval" in content
    for user, status in ((annotator, 403), (member(stream.project, Role.REVIEWER), 403), (outsider(), 404)):
        other = Client()
        other.force_login(user)
        assert other.get(url).status_code == status


def test_a_pm_sets_the_streams_endpoints_and_weights(setup: Any) -> None:
    stream, _annotator, eps = setup
    project_pm = member(stream.project, Role.PM)
    client = Client()
    client.force_login(project_pm)
    url = reverse("qc:stream_models", args=[stream.pk])
    data = {f"weight_{eps['alpha'].pk}": "2", f"weight_{eps['beta'].pk}": "1", f"weight_{eps['gamma'].pk}": ""}
    assert client.post(url, data).status_code == 302
    assert dict(StreamEndpoint.objects.filter(stream=stream).values_list("endpoint__name", "weight")) == {
        "alpha": 2.0,
        "beta": 1.0,
    }
    # One endpoint alone cannot be compared.
    response = client.post(url, {f"weight_{eps['alpha'].pk}": "1"})
    assert response.status_code == 400
    assert StreamEndpoint.objects.filter(stream=stream).count() == 2
    assert client.put(url).status_code == 405


def test_another_projects_stream_is_a_404() -> None:
    _project, pm = project_with_pm()
    theirs: Stream = StreamFactory.create(mode=Stream.Mode.DYNAMIC)
    client = Client()
    client.force_login(pm)
    assert client.get(reverse("qc:stream_models", args=[theirs.pk])).status_code == 404


def test_the_streams_qc_page_includes_the_comparison(setup: Any) -> None:
    stream, annotator, eps = setup
    for choice in ("A", "B", "A"):
        _judged_turn(stream, annotator, eps["alpha"], eps["gamma"], choice)
    client = Client()
    client.force_login(member(stream.project, Role.PM))
    response = client.get(reverse("qc:stream_qc", args=[stream.pk]))
    assert response.status_code == 200
    content = response.content.decode()
    assert 'id="model-comparison"' in content
    assert "gamma" in content
