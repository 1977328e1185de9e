"""The judge's figures (qc.judge_quality) against a fixture computed by hand."""

from __future__ import annotations

import pytest

from qc.judge_quality import ItemFacts, JudgeData, VerdictRow, judge_figures
from qc.metrics import Thresholds

THRESHOLDS = Thresholds(min_sample=3, min_gold_count=2, min_gold_accuracy=0.7, min_agreement=0.5)


def fixture() -> JudgeData:
    items = {
        1: ItemFacts(False, [], 10, 30),  # B clearly longer
        2: ItemFacts(False, [], 10, 30),  # B clearly longer
        3: ItemFacts(False, [], 30, 10),  # A clearly longer
        4: ItemFacts(False, [], 10, 12),  # no clear difference
        5: ItemFacts(False, [], 10, 10),
        6: ItemFacts(False, [], 10, 10),
        7: ItemFacts(True, ["A"], 10, 10),
        8: ItemFacts(True, ["A"], 10, 10),
    }
    verdicts = [
        VerdictRow(1, True, "A", "A"),
        VerdictRow(2, True, "B", "B"),
        VerdictRow(3, True, "A", "A"),
        VerdictRow(4, True, "tie", "tie"),
        VerdictRow(5, False, "A", "B"),  # the first shown both times
        VerdictRow(6, False, "B", "A"),  # the second shown both times
        VerdictRow(7, True, "A", "A"),  # golden, right
        VerdictRow(8, True, "B", "B"),  # golden, wrong
    ]
    human = [
        (1, "A", "A"),
        (1, "A", "A"),
        (1, "B", "A"),  # majority A; the judge's A was shown
        (2, "A", ""),
        (2, "A", ""),  # majority A; the judge's B was held out
        (3, "A", ""),
        (3, "B", ""),  # no majority; held out (judge A)
        (4, "tie", "tie"),
        (4, "tie", "tie"),
        (4, "A", "tie"),  # majority tie; shown
        (5, "A", None),
        (5, "A", None),  # no consistent verdict
    ]
    return JudgeData(verdicts, human, items, escalations=2)


def test_the_figures_match_the_hand_computation() -> None:
    figures = {f.metric: f for f in judge_figures(fixture(), THRESHOLDS)}

    # Agreement on items 1, 2 and 4 (3 has no majority): 2 of 3. Judge × majority: (A,A), (B,A),
    # (tie,tie): p_o = 2/3, p_e = (1·2 + 1·0 + 1·1)/9 = 1/3, kappa = (2/3 − 1/3)/(2/3) = 0.5.
    # Alpha, two coders: o_AA = 2, o_AB = o_BA = 1, o_tt = 2; n_A = 3, n_B = 1, n_tie = 2, n = 6:
    # alpha = 1 − (n − 1)·Σ_off o / Σ_off n_c·n_k = 1 − 5·2/22 = 12/22.
    agreement = figures["judge_agreement"]
    assert (agreement.value, agreement.sample_size) == (pytest.approx(0.6667), 3)
    assert agreement.details["kappa"] == pytest.approx(0.5)
    assert agreement.details["alpha"] == pytest.approx(round(12 / 22, 4))
    assert agreement.details["chance_agreement"] == pytest.approx(round(1 / 3, 4))
    assert agreement.details["evidence"]["test"] == "SPRT on counts"

    # Golden: 7 right, 8 wrong.
    gold = figures["judge_gold_accuracy"]
    assert (gold.value, gold.sample_size, gold.details["correct"]) == (0.5, 2, 1)

    # Position: 14 asks with an A/B answer (tie twice on 4), 7 picked the first shown.
    position = figures["judge_position_bias"]
    assert (position.value, position.sample_size, position.details["count"]) == (0.5, 14, 7)
    assert position.details["changed_with_order"] == 2
    assert (position.details["changed_towards_first"], position.details["changed_towards_second"]) == (1, 1)
    assert not position.flagged

    # Swap consistency: 6 of 8.
    swap = figures["judge_swap_consistency"]
    assert (swap.value, swap.sample_size, swap.details["inconsistent"]) == (0.75, 8, 2)
    low, high = swap.details["interval_95"]
    assert low < 0.75 < high

    # Length: clear on 1 (judge A, not longer), 2 (B, longer), 3 (A, longer): 2 of 3. People on
    # those items: item 1 one of three for B, item 2 none of two, item 3 one of two for A: 2 of 7.
    length = figures["judge_length_bias"]
    assert (length.value, length.sample_size) == (pytest.approx(0.6667), 3)
    assert (length.details["people_rate"], length.details["people_n"]) == (pytest.approx(0.2857), 7)

    # Anchoring: shown (items 1 and 4) 4 of 6 agree with the pick; held out (2 and 3) 1 of 4.
    # Fisher, table [[4, 2], [1, 3]]: P(X = k) = C(5,k)·C(5,6−k)/210 = 5, 50, 100, 50, 5 (/210) for
    # k = 1..5; two-sided p = (5 + 50 + 50 + 5)/210 = 110/210.
    anchoring = figures["judge_anchoring"]
    assert (anchoring.details["shown_agree"], anchoring.details["shown_n"]) == (4, 6)
    assert (anchoring.details["hidden_agree"], anchoring.details["hidden_n"]) == (1, 4)
    assert anchoring.value == pytest.approx(round(4 / 6 - 1 / 4, 4))
    assert anchoring.details["evidence"]["p_value"] == pytest.approx(110 / 210)
    assert not anchoring.flagged

    assert figures["judge_escalations"].value == 2
    assert figures["judge_verdicts"].details["consistent"] == 6


def test_a_judge_that_always_picks_the_first_shown_is_flagged() -> None:
    items = {i: ItemFacts(False, [], 10, 10) for i in range(40)}
    verdicts = [VerdictRow(i, False, "A", "B") for i in range(40)]
    figures = {f.metric: f for f in judge_figures(JudgeData(verdicts, [], items), THRESHOLDS)}
    position = figures["judge_position_bias"]
    assert (position.value, position.sample_size, position.flagged) == (1.0, 80, True)
    assert position.details["changed_towards_first"] == 40
    assert figures["judge_swap_consistency"].value == 0.0
    assert "confidence" in position.details["evidence"]["message"]
