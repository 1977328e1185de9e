"""The anchoring figure on simulated annotators: agreement with the judge's pick when shown vs
held out, with Fisher's exact test."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from judging.uses import held_out
from qc import evidence
from qc.judge_quality import ItemFacts, JudgeData, VerdictRow, judge_figures
from qc.metrics import Thresholds

THRESHOLDS = Thresholds(min_sample=30)


def simulate(
    *, shown_agree: float, hidden_agree: float, items: int = 400, per_item: int = 3, seed: int = 14
) -> JudgeData:
    """Items with a consistent verdict "A"; a fifth held out by the real hold-out rule; each
    annotator agrees with the judge with probability ``shown_agree`` when shown the pick and
    ``hidden_agree`` when not (the truth both would agree with without a suggestion)."""
    rng = np.random.default_rng(seed)
    facts = {i: ItemFacts(False, [], 10, 10) for i in range(1, items + 1)}
    verdicts = [VerdictRow(i, True, "A", "A") for i in facts]
    human = []
    for i in facts:
        hidden = held_out(stream_id=1, item_id=i, share=0.2)
        p = hidden_agree if hidden else shown_agree
        for _ in range(per_item):
            choice = "A" if rng.random() < p else "B"
            human.append((i, choice, "" if hidden else "A"))
    return JudgeData(verdicts, human, facts)


def test_anchored_annotators_are_flagged_with_the_test_and_its_sample() -> None:
    figure = {f.metric: f for f in judge_figures(simulate(shown_agree=0.8, hidden_agree=0.6), THRESHOLDS)}[
        "judge_anchoring"
    ]
    d = figure.details
    assert d["shown_n"] + d["hidden_n"] == 1200
    assert 0.15 < d["hidden_n"] / 1200 < 0.25  # the hold-out's share
    assert d["shown_rate"] > d["hidden_rate"]
    assert figure.flagged
    assert d["evidence"]["details"]["direction"] == "anchored"
    table = [
        [d["shown_agree"], d["shown_n"] - d["shown_agree"]],
        [d["hidden_agree"], d["hidden_n"] - d["hidden_agree"]],
    ]
    assert d["evidence"]["p_value"] == pytest.approx(stats.fisher_exact(table).pvalue)
    assert d["evidence"]["p_value"] < 0.001
    assert "when it is shown" in d["evidence"]["message"]


def test_no_anchoring_is_not_flagged() -> None:
    figure = {f.metric: f for f in judge_figures(simulate(shown_agree=0.7, hidden_agree=0.7), THRESHOLDS)}[
        "judge_anchoring"
    ]
    assert not figure.flagged
    assert "no evidence" in figure.details["evidence"]["message"]


def test_the_false_alarm_rate_is_within_alpha() -> None:
    """500 simulated streams without anchoring (both 0.7, 300 judgements): Fisher's exact test is
    conservative, so the share flagged stays at or below alpha (5%)."""
    rng = np.random.default_rng(7)
    flagged = 0
    for _ in range(500):
        shown = rng.binomial(240, 0.7)
        hidden = rng.binomial(60, 0.7)
        flagged += evidence.anchoring_decision(int(shown), 240, int(hidden), 60).pause
    assert flagged / 500 <= 0.05


def test_it_needs_both_sides() -> None:
    decision = evidence.anchoring_decision(30, 40, 0, 0)
    assert not decision.pause
    assert decision.p_value is None
    assert "Not enough" in decision.message
