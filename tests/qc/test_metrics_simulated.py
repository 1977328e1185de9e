"""Simulated annotators (fixed seeds) are each flagged on the indicator made for them; the careful
ones on none; nobody on too little data."""

from __future__ import annotations

import pytest

from qc import metrics
from qc.services import compute_stream_metrics
from tests.factories import StreamFactory
from tests.qc import simulation

pytestmark = pytest.mark.django_db

CREW: dict[str, simulation.Habit] = {
    "left": simulation.left,
    "longer": simulation.longer,
    "random": simulation.clicks_at_random,
    "careful": simulation.careful,
    # The rest of the team, so that each subject has a sensible majority to be compared with.
    "careful2": simulation.careful,
    "careful3": simulation.careful,
    "careful4": simulation.careful,
    "careful5": simulation.careful,
}


def _flags(figures: dict[str, metrics.Figure]) -> set[str]:
    return {name for name, figure in figures.items() if figure.flagged}


def _by_username(stream_id: int, n_items: int, golden: int = 20) -> dict[str, dict[str, metrics.Figure]]:
    from projects.models import Stream

    stream = Stream.objects.get(pk=stream_id)
    items = simulation.make_items(stream, n_items, golden=golden)
    users = simulation.judge_all(stream, items, CREW)
    result = compute_stream_metrics(stream=stream)
    index = {user_id: i for i, user_id in enumerate(result.annotator_ids)}
    return {name: result.windows["all"].annotators[index[user.pk]] for name, user in users.items()}


def test_it_flags_each_simulated_annotator_on_their_habit_and_the_careful_on_nothing() -> None:
    stream = StreamFactory.create(overlap=len(CREW))
    figures = _by_username(stream.pk, 200)

    assert "position_bias" in _flags(figures["left"])
    assert figures["left"]["position_bias"].value == 1.0
    assert figures["left"]["position_bias"].details["logit"]["position"] > 2

    assert "length_bias" in _flags(figures["longer"])
    assert figures["longer"]["length_bias"].details["direction"] == "over"
    assert figures["longer"]["length_bias"].details["logit"]["length"] > 2
    assert "position_bias" not in _flags(figures["longer"])

    assert "agreement" in _flags(figures["random"])
    assert figures["random"]["alpha_contribution"].value is not None
    assert figures["random"]["alpha_contribution"].value < 0
    assert not {"position_bias", "length_bias"} & _flags(figures["random"])

    for name in ("careful", "careful2", "careful3", "careful4", "careful5"):
        assert _flags(figures[name]) == set(), (name, figures[name])
        contribution = figures[name]["alpha_contribution"].value
        assert contribution is not None
        assert contribution > 0
    careful = figures["careful"]
    assert careful["gold_accuracy"].sample_size == 20
    assert careful["gold_accuracy"].value is not None
    assert careful["gold_accuracy"].value >= stream.min_gold_accuracy
    assert careful["agreement"].sample_size >= 150
    assert careful["position_bias"].sample_size == 220  # golden items count for bias, not agreement


def test_it_flags_nobody_below_the_minimum_sample() -> None:
    stream = StreamFactory.create(overlap=len(CREW), min_sample=30, min_gold_count=10)
    figures = _by_username(stream.pk, 20, golden=9)
    for name, annotator in figures.items():
        assert _flags(annotator) == set(), name
    # The figures are there, with their sample size, just not flagged.
    assert figures["left"]["position_bias"].value == 1.0
    assert figures["left"]["position_bias"].sample_size == 29
    assert figures["left"]["straightlining"].value == 1.0


def test_it_flags_at_exactly_the_minimum_sample() -> None:
    stream = StreamFactory.create(overlap=len(CREW), min_sample=30)
    figures = _by_username(stream.pk, 30, golden=0)
    assert figures["left"]["position_bias"].sample_size == 30
    assert "position_bias" in _flags(figures["left"])
