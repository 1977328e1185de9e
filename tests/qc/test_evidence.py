"""qc.evidence: the decisions' error rates with simulated annotators (seeded numpy generators, so
every run draws the same shifts), the exact operating characteristics they should match, and the
small pure helpers.

The simulations check the issue's targets where they can be met; where a target cannot be met by
any test (gold accuracy 0.5 paused within 30 answers at p0 = 0.7 with under 2% careful pauses),
a test proves that bound and another checks we are close to it. Each assertion's message carries
the measured rate; ``pytest -s`` prints them all (lines starting ``measured:``).
"""

from __future__ import annotations

import math
from itertools import product
from typing import Any

import numpy as np
import pytest
from scipy import stats

from qc import evidence

SHIFTS = 500
SEED = 20_240_601
THRESHOLDS = (0.6, 0.7, 0.8)


def _report(label: str, value: float, extra: str = "") -> str:
    line = f"measured: {label}: {value:.1%}" + (f" ({extra})" if extra else "")
    print(line)
    return line


def _rng(*key: float) -> np.random.Generator:
    return np.random.default_rng([SEED, *(round(k * 1000) for k in key)])


def _gold_pause_at(shifts: np.ndarray, threshold: float) -> np.ndarray:
    """Per shift: the answer count at which gold_decision first pauses, 0 when it never does."""
    out = np.zeros(len(shifts), dtype=np.int64)
    for index, row in enumerate(shifts):
        decision = evidence.gold_decision(row, threshold)
        out[index] = decision.n if decision.pause else 0
    return out


# --- Gold: the targets ----------------------------------------------------------------
@pytest.mark.parametrize("threshold", THRESHOLDS, ids=[f"p0={t}" for t in THRESHOLDS])
def test_gold_careful_annotator_is_paused_in_under_2pct_of_500_shifts_of_200_answers(threshold: float) -> None:
    accuracy = round(threshold + 0.1, 10)
    shifts = _rng(threshold, 1).random((SHIFTS, 200)) < accuracy
    paused = (_gold_pause_at(shifts, threshold) > 0).mean()
    exact = evidence.GoldDesign.for_threshold(threshold).pause_probability(accuracy, 200)[200]
    message = _report(
        f"gold p0={threshold}: careful ({accuracy}) paused over 200 answers", paused, f"exact {exact:.2%}"
    )
    assert paused < 0.02, message
    assert exact < 0.02, message


def test_gold_half_accuracy_is_paused_within_30_answers_in_over_95pct_of_shifts_at_p0_08() -> None:
    shifts = _rng(0.8, 2).random((SHIFTS, 200)) < 0.5
    at = _gold_pause_at(shifts, 0.8)
    within = ((at > 0) & (at <= 30)).mean()
    exact = evidence.GoldDesign.for_threshold(0.8).pause_probability(0.5, 30)[30]
    message = _report("gold p0=0.8: accuracy 0.5 paused within 30", within, f"exact {exact:.2%}")
    assert within > 0.95, message


def _neyman_pearson_power(n: int, p_good: float, p_bad: float, alpha: float) -> float:
    """The most powerful (randomised) test of p_good vs p_bad on n answers with size alpha."""
    cdf_good = stats.binom.cdf(np.arange(n + 1), n, p_good)
    c = int(np.searchsorted(cdf_good, alpha, side="right")) - 1  # largest c with P_good(X ≤ c) ≤ alpha
    size = cdf_good[c] if c >= 0 else 0.0
    power = stats.binom.cdf(c, n, p_bad) if c >= 0 else 0.0
    gamma = (alpha - size) / stats.binom.pmf(c + 1, n, p_good)
    return float(power + gamma * stats.binom.pmf(c + 1, n, p_bad))


@pytest.mark.parametrize("threshold", [0.6, 0.7])
def test_no_test_can_pause_half_accuracy_within_30_in_95pct_while_pausing_careful_under_2pct(threshold: float) -> None:
    """The issue's second target cannot be met at p0 = 0.7 or 0.6 by any procedure: even one look
    at answer 30 spending the whole 2% there (Neyman–Pearson) catches 0.5 less often than 95%."""
    bound = _neyman_pearson_power(30, threshold + 0.1, 0.5, 0.02)
    _report(f"gold p0={threshold}: best possible power at 0.5 within 30 (Neyman–Pearson)", bound)
    assert bound < 0.95


def test_gold_half_accuracy_at_p0_07_is_paused_within_30_in_about_80pct_and_within_60_in_over_95pct() -> None:
    shifts = _rng(0.7, 2).random((SHIFTS, 200)) < 0.5
    at = _gold_pause_at(shifts, 0.7)
    within_30 = ((at > 0) & (at <= 30)).mean()
    within_60 = ((at > 0) & (at <= 60)).mean()
    design = evidence.GoldDesign.for_threshold(0.7)
    exact = design.pause_probability(0.5, 60)
    sprt_only = evidence.GoldDesign.for_threshold(0.7, min_confidence=0).pause_probability(0.5, 30)[30]
    m30 = _report(
        "gold p0=0.7: accuracy 0.5 paused within 30",
        within_30,
        f"exact {exact[30]:.1%}; SPRT without the 95% confidence floor {sprt_only:.1%}; "
        f"Neyman–Pearson bound {_neyman_pearson_power(30, 0.8, 0.5, 0.02):.1%}",
    )
    m60 = _report("gold p0=0.7: accuracy 0.5 paused within 60", within_60, f"exact {exact[60]:.1%}")
    assert within_30 > 0.75, m30
    assert within_60 > 0.95, m60


def test_gold_at_p0_06_catches_accuracy_04_within_30_in_about_78pct_and_05_within_250_in_over_95pct() -> None:
    design = evidence.GoldDesign.for_threshold(0.6)
    rng = _rng(0.6, 2)
    at_04 = _gold_pause_at(rng.random((SHIFTS, 30)) < 0.4, 0.6)
    at_05 = _gold_pause_at(rng.random((SHIFTS, 250)) < 0.5, 0.6)
    m04 = _report(
        "gold p0=0.6: accuracy 0.4 paused within 30",
        (at_04 > 0).mean(),
        f"exact {design.pause_probability(0.4, 30)[30]:.1%}",
    )
    m05 = _report(
        "gold p0=0.6: accuracy 0.5 paused within 250",
        (at_05 > 0).mean(),
        f"exact {design.pause_probability(0.5, 250)[250]:.1%}",
    )
    assert (at_04 > 0).mean() > 0.7, m04
    assert (at_05 > 0).mean() > 0.95, m05


# --- Gold: exact properties -------------------------------------------------------------------
@pytest.mark.parametrize("threshold", THRESHOLDS)
def test_gold_simulation_matches_the_exact_operating_characteristic(threshold: float) -> None:
    design = evidence.GoldDesign.for_threshold(threshold)
    for accuracy in (threshold + 0.1, threshold, 0.5):
        shifts = _rng(threshold, accuracy, 3).random((SHIFTS, 100)) < accuracy
        simulated = (_gold_pause_at(shifts, threshold) > 0).mean()
        exact = design.pause_probability(accuracy, 100)[100]
        sd = math.sqrt(max(exact * (1 - exact), 1e-4) / SHIFTS)
        assert abs(simulated - exact) < 4 * sd + 1e-9, (threshold, accuracy, simulated, exact)


@pytest.mark.parametrize("threshold", THRESHOLDS)
def test_gold_careful_annotator_stays_under_alpha_however_long_they_work(threshold: float) -> None:
    """Ville's inequality: no horizon makes the SPRT pause a careful annotator more than alpha."""
    design = evidence.GoldDesign.for_threshold(threshold)
    assert design.pause_probability(design.p_good, 3000)[-1] <= design.alpha
    assert design.pause_probability(design.p_good + 0.05, 3000)[-1] <= design.alpha


def test_gold_boundary_never_pauses_below_95pct_confidence_or_below_the_sprt_boundary() -> None:
    design = evidence.GoldDesign.for_threshold(0.7)
    boundary = design.boundary(600)
    for n in range(1, 601):
        w = int(boundary[n])
        if w > n:
            continue
        assert design.confidence(n - w, n) >= 0.95
        assert design.llr(n - w, n) >= design.log_boundary - 1e-9
        if w > 0:  # one wrong answer fewer does not pause
            fewer = design.confidence(n - w + 1, n) >= 0.95 and design.llr(n - w + 1, n) >= design.log_boundary
            assert not fewer


def test_gold_decision_message_and_figures() -> None:
    answers = [False] * 6 + [True] * 2 + [False] * 2 + [True] * 10
    decision = evidence.gold_decision(answers, 0.7)
    assert decision.pause
    assert (decision.n, decision.k) == (5, 0)  # the first crossing: five wrong in a row
    assert decision.details["answers"] == 20
    assert decision.test == "SPRT"
    assert decision.alpha == 0.02
    assert decision.confidence == pytest.approx(1 - 0.3**5)
    assert decision.message == (
        "0 of 5 golden answers right: accuracy below 70% with 99.7% confidence (SPRT, alpha 2%, n=5)"
    )
    assert decision.to_dict()["details"]["p_good"] == 0.8


def test_gold_decision_on_a_steady_low_rate_reports_n_and_confidence() -> None:
    answers = [i % 10 in (0, 3, 6) for i in range(20)]  # 6 of 20 right, spread out
    decision = evidence.gold_decision(answers, 0.7)
    assert decision.pause
    assert decision.estimate is not None
    assert decision.estimate < 0.4
    assert decision.confidence is not None
    assert decision.confidence >= 0.95
    assert "golden answers right: accuracy below 70% with" in decision.message
    assert "(SPRT, alpha 2%, n=" in decision.message


def test_gold_decision_does_not_pause_at_the_threshold_or_on_too_little() -> None:
    at_threshold = evidence.gold_decision([True] * 14 + [False] * 6, 0.7)
    assert not at_threshold.pause
    assert at_threshold.message.startswith("14 of 20 golden answers right (70%): not enough evidence")
    assert not evidence.gold_decision([False] * 3, 0.7).pause
    empty = evidence.gold_decision([], 0.7)
    assert not empty.pause
    assert empty.n == 0
    assert empty.estimate is None
    assert not evidence.gold_decision([False] * 8, 0.7, min_count=10).pause
    assert evidence.gold_decision([False] * 10, 0.7, min_count=10).pause


def test_gold_message_rounds_confidence_down() -> None:
    design = evidence.GoldDesign.for_threshold(0.7)
    decision = evidence.gold_decision([True] * 17 + [False] * 13, 0.7)
    confidence = design.confidence(17, 30)
    shown = math.floor(confidence * 1000) / 10
    assert f"confidence {shown:g}%" in decision.message


def test_gold_design_validates_and_clips() -> None:
    high = evidence.GoldDesign.for_threshold(0.95)
    assert high.p_good == pytest.approx(0.975)
    low = evidence.GoldDesign.for_threshold(0.2)
    assert low.p_bad == pytest.approx(0.1)
    with pytest.raises(ValueError, match="p_bad"):
        evidence.GoldDesign(0.7, 0.8, 0.75)
    with pytest.raises(ValueError, match="alpha"):
        evidence.GoldDesign(0.7, 0.8, 0.5, alpha=0)


# --- Agreement --------------------------------------------------------------------------------
def test_agreement_decision_acts_on_evidence_and_names_it() -> None:
    low = evidence.agreement_decision(40, 80, 0.65)
    assert low.pause
    assert low.message.startswith(
        "Agrees with the others' majority on 40 of 80 shared items (50%): agreement below 65%"
    )
    assert "SPRT on counts, alpha 2%, n=80" in low.message
    assert not evidence.agreement_decision(50, 80, 0.65).pause
    assert not evidence.agreement_decision(0, 0, 0.65).pause
    with pytest.raises(ValueError, match="k ≤ n"):
        evidence.agreement_decision(5, 4, 0.65)


def test_agreement_checked_at_every_recompute_flags_a_careful_annotator_under_2pct() -> None:
    """An annotator at threshold + 0.1, looked at after every shared item (every recompute is a
    subset of those looks), over 2,000 items: exact, and simulated."""
    design = evidence.GoldDesign.for_threshold(0.6)
    exact = design.pause_probability(0.7, 2000)[-1]
    rng = _rng(0.6, 4)
    flagged = 0
    for row in rng.random((SHIFTS, 400)) < 0.7:
        k = np.cumsum(row)
        looks = range(10, 401, 10)  # a recompute every 10 shared items
        flagged += any(evidence.agreement_decision(int(k[n - 1]), n, 0.6).pause for n in looks)
    message = _report(
        "agreement 0.6: careful (0.7) flagged over 40 recomputes", flagged / SHIFTS, f"exact bound {exact:.2%}"
    )
    assert exact <= 0.02
    assert flagged / SHIFTS < 0.02, message


# --- Rate tests -------------------------------------------------------------------------------
def test_rushing_decision_is_the_one_sided_exact_test() -> None:
    decision = evidence.rushing_decision(12, 40, 0.1)
    expected = stats.binomtest(12, 40, 0.1, alternative="greater").pvalue
    assert decision.p_value == pytest.approx(expected)
    assert decision.pause
    assert decision.message.startswith(
        "12 of 40 judgements faster than the reading-time floor (30%): above the allowed 10%"
    )
    assert "(exact binomial, one-sided, alpha 5%, n=40)" in decision.message
    assert not evidence.rushing_decision(6, 40, 0.1).pause
    assert not evidence.rushing_decision(12, 40, 0.1, min_count=50).pause


def test_rushing_at_the_allowed_rate_is_flagged_in_at_most_5pct() -> None:
    rng = _rng(0.2, 5)
    fast = rng.binomial(100, 0.2, size=SHIFTS)
    flagged = np.mean([evidence.rushing_decision(int(k), 100, 0.2).pause for k in fast])
    message = _report("rushing: annotator at the allowed 20% flagged (100 judgements)", float(flagged))
    assert flagged <= 0.05, message


def test_position_bias_is_two_sided_and_bonferroni_corrected() -> None:
    one = evidence.position_bias_decision(65, 100)
    assert one.p_value == pytest.approx(stats.binomtest(65, 100, 0.5).pvalue)
    assert one.pause
    ten = evidence.position_bias_decision(65, 100, n_tested=20)
    assert ten.p_value == pytest.approx(min(1.0, 20 * stats.binomtest(65, 100, 0.5).pvalue))
    assert not ten.pause  # p ≈ 0.0035 raw: × 20 annotators ≈ 0.07, not enough at 5%
    assert evidence.position_bias_decision(35, 100).details["direction"] == "second"
    assert "after Bonferroni over 20 annotators" in ten.message
    huge = evidence.position_bias_decision(52_000, 100_000)
    assert huge.p_value is not None
    assert huge.p_value < 1e-9
    assert not huge.pause  # 52% is below the minimum effect


def test_position_bias_flags_no_unbiased_annotator_of_ten_in_over_5pct_of_runs() -> None:
    rng = _rng(0.5, 6)
    picks = rng.binomial(200, 0.5, size=(SHIFTS, 10))
    runs = np.mean([any(evidence.position_bias_decision(int(k), 200, n_tested=10).pause for k in row) for row in picks])
    message = _report("position bias: any of 10 unbiased annotators flagged per run", float(runs))
    assert runs <= 0.05, message


def test_length_bias_is_fisher_against_the_rest_of_the_team() -> None:
    decision = evidence.length_bias_decision(70, 100, 1100, 2000)
    expected = stats.fisher_exact([[70, 30], [1100, 900]]).pvalue
    assert decision.p_value == pytest.approx(expected)
    assert decision.pause
    assert decision.details["direction"] == "longer"
    assert decision.reference == pytest.approx(0.55)
    assert "vs the team's 55% (1100 of 2000)" in decision.message
    assert not evidence.length_bias_decision(58, 100, 1100, 2000).pause
    assert not evidence.length_bias_decision(70, 100, 0, 0).pause
    assert evidence.length_bias_decision(30, 100, 1100, 2000).details["direction"] == "shorter"


# --- Drift: Bernoulli CUSUM -------------------------------------------------------------------
def _naive_cusum(steps: np.ndarray, h: float) -> tuple[int | None, int | None]:
    s, last_zero = 0.0, -1
    for index, x in enumerate(steps):
        s = max(0.0, s + x)
        if s >= h:
            return index, last_zero + 1
        if s == 0.0:
            last_zero = index
    return None, None


def test_cusum_vectorised_matches_the_recursion_and_its_last_zero() -> None:
    rng = _rng(9)
    for _ in range(200):
        steps = rng.normal(-0.2, 1.0, size=300)
        alarm, change, _s, _path = evidence._cusum(steps, 4.0)
        assert (alarm, change) == _naive_cusum(steps, 4.0)


def test_bernoulli_cusum_h_is_calibrated_exactly_and_tightly() -> None:
    h = evidence.bernoulli_cusum_h(0.85, 0.55, horizon=500, false_alarm=0.01)
    assert evidence.bernoulli_cusum_false_alarm(h, 0.85, 0.55, 500) <= 0.01
    assert evidence.bernoulli_cusum_false_alarm(h - 0.05, 0.85, 0.55, 500) > 0.009
    # The grid chain against a big vectorised simulation of the real (continuous) statistic.
    rng = _rng(10)
    steps = np.where(rng.random((20_000, 500)) < 0.85, math.log(0.55 / 0.85), math.log(0.45 / 0.15))
    c = np.concatenate([np.zeros((20_000, 1)), np.cumsum(steps, axis=1)], axis=1)
    simulated = ((c - np.minimum.accumulate(c, axis=1)).max(axis=1) >= h).mean()
    assert simulated == pytest.approx(evidence.bernoulli_cusum_false_alarm(h, 0.85, 0.55, 500), abs=0.003)


def test_bernoulli_cusum_flags_a_careful_annotator_in_under_2pct_of_500_shifts_of_500() -> None:
    shifts = _rng(0.85, 11).random((SHIFTS, 500)) < 0.85
    flagged = np.mean([evidence.cusum_bernoulli(row, 0.85, 0.55).detected for row in shifts])
    message = _report("Bernoulli CUSUM: careful (0.85) flagged over 500 observations", float(flagged), "design 1%")
    assert flagged < 0.02, message


def test_bernoulli_cusum_catches_a_drop_after_150_and_says_when_it_began() -> None:
    rate = np.where(np.arange(500) < 150, 0.85, 0.55)
    shifts = _rng(0.55, 12).random((SHIFTS, 500)) < rate
    results = [evidence.cusum_bernoulli(row, 0.85, 0.55) for row in shifts]
    detected = [r for r in results if r.detected and r.alarm_index is not None and r.alarm_index >= 150]
    close = [r for r in detected if r.change_index is not None and abs(r.change_index - 150) <= 40]
    delays = [r.alarm_index - 150 for r in detected if r.alarm_index is not None]
    m_detected = _report(
        "Bernoulli CUSUM: 0.85 → 0.55 after 150 detected (after the change)",
        len(detected) / SHIFTS,
        f"median delay {np.median(delays):.0f} observations",
    )
    m_close = _report("Bernoulli CUSUM: change estimated within 40 observations", len(close) / SHIFTS)
    assert len(detected) / SHIFTS > 0.95, m_detected
    assert len(close) / SHIFTS >= 0.80, m_close


def test_bernoulli_cusum_result_and_message() -> None:
    outcomes = [True] * 100 + [False, False, True] * 20
    result = evidence.cusum_bernoulli(outcomes, 0.85, 0.55, what="gold accuracy")
    assert result.detected
    assert result.change_index == 100
    assert result.alarm_index is not None
    assert 100 < result.alarm_index < 130
    assert result.statistic >= result.h
    assert result.message.startswith("Gold accuracy dropped: since observation 100, ")
    assert "vs 100% before" in result.message
    quiet = evidence.cusum_bernoulli([True] * 50, 0.85, 0.55)
    assert not quiet.detected
    assert quiet.alarm_index is None
    assert quiet.change_index is None
    assert quiet.to_dict()["detected"] is False


# --- Drift: labeling time ---------------------------------------------------------------------
def _log_times(rng: np.random.Generator, n: int, length: int, sd: float = 0.5) -> np.ndarray:
    mean = rng.uniform(math.log(15), math.log(40), size=(n, 1))
    return mean + sd * rng.standard_normal((n, length))


def test_time_cusum_flags_a_steady_annotator_in_under_2pct_of_500_shifts_of_500() -> None:
    logs = _log_times(_rng(13), SHIFTS, 50 + 500)
    flagged = np.mean([evidence.cusum_time(np.exp(row)).detected for row in logs])
    message = _report("time CUSUM: steady annotator flagged over 500 judgements", float(flagged), "design 1%")
    assert flagged < 0.02, message


def test_time_cusum_heavy_tailed_times_stay_under_2pct() -> None:
    """Log-times with Student-t(5) tails instead of normal ones: clipping z keeps single very
    fast judgements from raising an alarm."""
    rng = _rng(14)
    mean = rng.uniform(math.log(15), math.log(40), size=(SHIFTS, 1))
    logs = mean + 0.5 * rng.standard_t(5, size=(SHIFTS, 550)) / math.sqrt(5 / 3)
    flagged = np.mean([evidence.cusum_time(np.exp(row)).detected for row in logs])
    message = _report("time CUSUM: steady, heavy-tailed log-times flagged", float(flagged))
    assert flagged < 0.02, message


def test_time_cusum_catches_a_one_sd_drop_after_150_and_says_when_it_began() -> None:
    logs = _log_times(_rng(15), SHIFTS, 550)
    logs[:, 200:] -= 0.5  # one standard deviation faster from judgement 200 (150 after the baseline)
    results = [evidence.cusum_time(np.exp(row)) for row in logs]
    detected = [r for r in results if r.detected and r.alarm_index is not None and r.alarm_index >= 200]
    close = [r for r in detected if r.change_index is not None and abs(r.change_index - 200) <= 40]
    delays = [r.alarm_index - 200 for r in detected if r.alarm_index is not None]
    m_detected = _report(
        "time CUSUM: 1 sd drop detected", len(detected) / SHIFTS, f"median delay {np.median(delays):.0f}"
    )
    m_close = _report("time CUSUM: change estimated within 40 judgements", len(close) / SHIFTS)
    assert len(detected) / SHIFTS > 0.95, m_detected
    assert len(close) / SHIFTS >= 0.80, m_close


def test_time_cusum_result_and_message() -> None:
    seconds = [30.0, 25.0, 35.0, 28.0, 32.0] * 12 + [5.0] * 30
    result = evidence.cusum_time(seconds)
    assert result.detected
    assert result.change_index == 60
    assert result.alarm_index is not None
    assert 60 <= result.alarm_index < 66
    assert result.message.startswith("Labeling time dropped: median 5.0 s since judgement 60 vs 30.0 s")
    short = evidence.cusum_time([10.0] * 20)
    assert not short.detected
    assert short.message == "Baseline not complete: 20 of 50 timed judgements."


# --- Aggregation ------------------------------------------------------------------------------
def test_vote_share_confidence() -> None:
    assert evidence.vote_share_confidence({"A": 3, "B": 1}) == evidence.VoteShare("A", 0.75, 4)
    assert evidence.vote_share_confidence({"A": 2, "B": 2}) == evidence.VoteShare(None, 0.5, 4, "no_majority")
    assert evidence.vote_share_confidence({"A": 0}) == evidence.VoteShare(None, 0.0, 0, "no_votes")


def test_label_posterior_one_coin_model_by_hand() -> None:
    result = evidence.label_posterior([("A", 0.8), ("A", 0.8), ("B", 0.8)], labels=("A", "B"))
    # Odds A:B = 0.8·0.8·0.2 : 0.2·0.2·0.8 = 4 : 1.
    assert result.label == "A"
    assert result.probability == pytest.approx(0.8)
    prior = evidence.label_posterior([("A", 0.6)], labels=("A", "B"), prior={"A": 10, "B": 90})
    # Odds A:B = 0.1·0.6 : 0.9·0.4 = 1 : 6.
    assert prior.posterior["A"] == pytest.approx(1 / 7)
    assert prior.label == "B"  # the prior outweighs one weak vote: no tie in the votes
    with pytest.raises(ValueError, match="unknown label"):
        evidence.label_posterior([("C", 0.8)], labels=("A", "B"))


def test_label_posterior_never_decides_a_2_2_split_by_default() -> None:
    for a, b in product((0.55, 0.7, 0.95), repeat=2):
        for prior in (None, {"A": 70, "B": 20, "tie": 8, "both_bad": 2}):
            result = evidence.label_posterior([("A", a), ("A", a), ("B", b), ("B", b)], prior=prior)
            assert result.label is None
            assert result.reason == "tied_votes"
    reliable = evidence.label_posterior([("A", 0.95), ("A", 0.95), ("B", 0.6), ("B", 0.6)], break_vote_ties=True)
    assert reliable.label == "A"
    assert reliable.probability > 0.95


def test_label_posterior_with_equal_accuracies_and_uniform_prior_is_majority_vote() -> None:
    """Every vote multiset of 1–6 votes over the four labels: decided exactly when majority
    voting has a unique plurality, and on the same label."""
    for n in range(1, 7):
        for counts in product(range(n + 1), repeat=4):
            if sum(counts) != n:
                continue
            votes = [(label, 0.8) for label, c in zip(evidence.CHOICES, counts, strict=True) for _ in range(c)]
            posterior = evidence.label_posterior(votes)
            majority = evidence.vote_share_confidence(dict(zip(evidence.CHOICES, counts, strict=True)))
            assert posterior.label == majority.label, counts


# --- Trivial strategies -----------------------------------------------------------------------
def test_trivial_strategy_scores() -> None:
    questions: list[Any] = [
        evidence.QuestionFacts(["A"], [900, 300]),  # the longer is right
        evidence.QuestionFacts(["B"], [200, 800]),  # the longer is right
        (["A", "tie"], [500, 500]),  # equal length: a coin flip for longer/shorter
        (["B"], [1000, 100], False),  # fixed order: A is shown first
    ]
    scores = evidence.trivial_strategy_scores(questions)
    assert scores["longer"] == pytest.approx((1 + 1 + 0.5 + 0) / 4)
    assert scores["shorter"] == pytest.approx((0 + 0 + 0.5 + 1) / 4)
    assert scores["first_shown"] == pytest.approx((0.5 + 0.5 + 0.5 + 0) / 4)
    assert scores["second_shown"] == pytest.approx((0.5 + 0.5 + 0.5 + 1) / 4)
    assert scores["always_A"] == pytest.approx(2 / 4)
    assert scores["always_B"] == pytest.approx(2 / 4)
    assert scores["always_tie"] == pytest.approx(1 / 4)
    assert scores["always_both_bad"] == 0.0
    assert evidence.trivial_strategy_scores([]) == {}


def test_trivial_strategy_warnings() -> None:
    scores = {"longer": 0.9, "first_shown": 0.5, "always_A": 0.8, "always_tie": 0.1}
    assert evidence.trivial_strategy_warnings(scores, 0.8) == [
        "always the longer response scores 90% ≥ pass mark 80%",
        "always response A (the source's first) scores 80% ≥ pass mark 80%",
    ]
    assert evidence.trivial_strategy_warnings(scores, 0.95) == []
