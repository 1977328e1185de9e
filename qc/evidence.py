"""Evidence for QC decisions: when a figure is enough to act on, and when an annotator changed.

Pure functions (numpy and scipy, no Django, no other project module but the pure
``annotation.strategies``) that the QC rules call with the numbers they already have. Every
decision comes back as a ``Decision`` — whether to act, the test, the sample, the estimate, the
confidence reached, the error rate the test was built for and a sentence a PM can read — and every
change detector as a ``DriftResult`` that says *when* the change began. The error rates below are
exact (computed by dynamic programming over the test's own boundary) unless marked as simulated;
``tests/qc/test_evidence.py`` checks them with seeded simulated annotators, and
``bench/qc_drift_sim.py`` prints them for a simulated team.

Gold accuracy (``gold_decision``; pauses the annotator)
    The golden answers since the last resume, *in order*, are checked after every answer. A plain
    rate checked that often pauses careful people by chance: the rule this replaces (the last 20
    answers below 70%, after at least 10) pauses an annotator whose accuracy is 0.8 in 91% of
    200-answer shifts, and one at 0.85 in 54% (simulated, 20,000 shifts). The test is a
    one-sided **Wald SPRT** between a *careful* accuracy ``p_good = p0 + delta`` (delta = 0.1)
    and a *bad* one ``p_bad = p0 - 2·delta``: it pauses the first time the log-likelihood ratio
    Σ log f(x | p_bad) / f(x | p_good) reaches log(1/alpha). There is no "accept" boundary: the
    test keeps watching. The likelihood ratio is a supermartingale for any true accuracy ≥
    p_good, so by Ville's inequality **an annotator whose accuracy is ≥ p0 + delta is ever
    paused with probability ≤ alpha (2%), however long they work and although the test looks
    after every answer**. On top of that the pause needs **≥ 95% confidence that accuracy is
    below p0** by the exact one-sided binomial test on the answers so far (equivalently: the
    one-sided 95% Clopper–Pearson upper bound is below p0) — so no pause message ever reads
    "below 70% with 80% confidence". Both conditions are "at least w wrong answers out of n", so
    the rule is a boundary ``GoldDesign.boundary`` and its exact operating characteristic is a
    small dynamic programme (``GoldDesign.pause_probability``). With the defaults (alpha 2%,
    delta 0.1, min confidence 95%), exactly:

    ====  ============================  ======================  ===========================
    p0    careful (p0 + 0.1) paused     exactly at p0, paused   accuracy 0.5 paused
          over 200 answers              over 200 answers        within 30 answers
    ====  ============================  ======================  ===========================
    0.6   1.16%                         21.7%                   38.7% (95% by answer 216)
    0.7   1.00%                         22.4%                   79.6% (95% by answer 55)
    0.8   0.56%                         22.3%                   97.9% (95% by answer 25)
    ====  ============================  ======================  ===========================

    Accuracy p0 − 0.2 is paused within 30 answers in 77.8% / 79.6% / 83.9% (p0 = 0.6 / 0.7 / 0.8).

    "Pause an annotator at 0.5 within 30 answers in more than 95% of shifts" cannot be had at
    p0 = 0.7 or 0.6 together with "pause a careful annotator in under 2%", by *any* test: by the
    Neyman–Pearson lemma, even a test that looks only once, at answer 30, and spends all of its
    2% there tells 0.5 from 0.8 with probability at most 93.3% (0.5 from 0.7: 59.0%). The SPRT
    alone (``min_confidence=0``) reaches 86.3% at p0 = 0.7 (careful paused 1.47%); the 95%
    confidence condition costs 6.7 points there and 1.5 at p0 = 0.8, and keeps every pause
    message at "with ≥ 95% confidence". Accuracies between p0 and p0 + delta are the
    indifference zone, with no guarantee either way: exactly at p0, 22% are paused over 200
    answers — a single look's 95% confidence is not a 5% error rate when one looks 200 times.

Agreement (``agreement_decision``; sends work to review)
    The same test on counts: k agreements of n with the other annotators' leave-one-out
    majority, against a threshold agreement rate (the stream's, or the team's rate minus a
    tolerated gap). The Bernoulli likelihood ratio depends only on (k, n), and Ville's inequality
    holds whenever one looks, so **≤ alpha (2%) for an annotator at threshold + delta, however
    often the recompute runs**, plus ≥ 95% one-sided binomial confidence that the rate is below
    the threshold.

Rushing (``rushing_decision``)
    Share of judgements faster than the reading-time floor vs the allowed share r0: exact
    one-sided binomial test of H0 rate ≤ r0; acts when the rate exceeds r0 with ≥ 95% confidence
    (**alpha 5% per look** for an annotator at exactly r0, less below it).

Position bias (``position_bias_decision``)
    Picks of the response shown first among A/B choices, exact two-sided binomial test against
    0.5 (display order is random, so an unbiased annotator is at 0.5 whatever the data), with a
    **Bonferroni correction over the annotators tested** (``n_tested``): the chance that *any*
    unbiased annotator of the stream is flagged in one recompute is ≤ alpha (5%). A minimum
    effect (10 points, as in ``qc.metrics``) keeps a big sample from flagging 52%.

Length bias (``length_bias_decision``)
    Picks of the clearly longer response: the annotator's k of n against the rest of the team's
    (team counts *without* the annotator), **Fisher's exact test**, two-sided, Bonferroni over
    ``n_tested``, the same minimum effect. The team's own taste for longer answers is the
    reference, not 50%: on many data sets the longer answer *is* usually better.

    The three rate tests above are fixed-sample tests: each recompute is a new look, so over many
    recomputes on a growing window the chance of ever flagging rises above alpha. They raise
    alerts (rushing pauses only after a warning and fresh evidence); the pausing gold rule and
    the agreement rule use the sequential test.

Drift (``cusum_bernoulli``, ``cusum_time``)
    A careful annotator who later drifts is protected by the all-time figures they built up; a
    **CUSUM** forgets good history (it restarts at zero) and so catches the change. Bernoulli
    CUSUM (golden correctness, agreement with peers): S_t = max(0, S_{t-1} + log f(x_t | p_bad)
    / f(x_t | p_good)), alarm when S_t ≥ h. The threshold h is **calibrated exactly** for a
    false-alarm probability over a horizon (default ≤ 1% over 500 observations of an annotator
    at p_good) by a Markov chain on a fine grid (Brook & Evans), rounding each step against the
    annotator so the computed rate is an upper bound (``bernoulli_cusum_h``). Time CUSUM: log
    seconds standardised against the annotator's own first ``baseline_n`` judgements (mean and
    standard deviation), clipped to ±4, a one-sided lower CUSUM for a drop of ``shift``
    standard deviations; h is calibrated by simulation of normal log-times *including the
    error of the estimated baseline* (``time_cusum_h``; ≤ 1% over 500 judgements). **When the
    change began**: the observation after the last time the statistic was zero before the alarm
    (the maximum-likelihood change point of the CUSUM). The design rate is 1% so that "under 2%"
    shows in a few hundred simulated shifts. Simulated (``tests/qc/test_evidence.py``, 500 shifts):
    careful annotators flagged 0.8% (Bernoulli, 0.85) and 1.4% (time; 1.0% with heavy-tailed
    times); 0.85 → 0.55 after 150 observations detected in 99.2% (median delay 26), the change
    estimated within 40 observations in 99.0%; a 1 sd drop in log-time detected in 99.4%
    (median delay 26), the change within 40 in 97.8%. The horizon matters: the chance of a
    false alarm grows about linearly with the number of observations watched, so calibrate for
    the stretch the detector runs before someone looks (a shift, the time between resumes).

Good record (``rate_at_least_decision``; peer review, ``qc.peer_review``)
    The other direction: is a rate (golden answers right) *at or above* a threshold on the
    evidence? Exact one-sided binomial test of H0 rate < threshold, i.e. the one-sided 95%
    Clopper–Pearson lower bound of k/n is at or above the threshold, after at least
    ``min_count`` observations. A person whose true rate is below the threshold passes with
    probability ≤ 5% at one look (the PM's, when they appoint someone); a PM who asks again after
    every answer spends more, so the figure is shown with its n and bound, never as a bare yes.

Aggregation (``vote_share_confidence``, ``label_posterior``)
    The winning share of a majority vote (a tie for most votes: no label); and the posterior of
    each label under a one-coin Dawid–Skene model (annotator i right with probability a_i, wrong
    answers spread evenly over the other labels; prior = the stream's class frequencies). By
    default a tie for most votes (2–2) is never decided — majority's "no majority" — and the
    winner must have posterior above ``min_confidence`` = 0.5 (more likely than all the other
    labels together).

Trivial strategies (``trivial_strategy_scores``, ``trivial_strategy_warnings``)
    What "always the longer response", "always the first shown", "always A"… would score on a
    qualification test or golden set, and a warning when one reaches the pass mark. They live in
    ``annotation.strategies`` (pure, so the qualification room below qc can use them) and are
    re-exported here.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt
from scipy import special, stats

from annotation.strategies import STRATEGY_LABELS, QuestionFacts, trivial_strategy_scores, trivial_strategy_warnings

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

CHOICES = ("A", "B", "tie", "both_bad")

# Gold / agreement defaults.
GOLD_ALPHA = 0.02  # P(ever pausing an annotator at threshold + delta)
GOLD_DELTA = 0.1  # "careful" = at least this far above the threshold
MIN_CONFIDENCE = 0.95  # confidence that the rate is on the wrong side of the threshold
# Rate tests (rushing, position, length).
RATE_ALPHA = 0.05
MIN_EFFECT = 0.10  # as qc.metrics.MIN_EFFECT: act on effects that matter
# Drift.
DRIFT_FALSE_ALARM = 0.01  # design rate; leaves room to show "< 2%" in 500 simulated shifts
DRIFT_HORIZON = 500
TIME_BASELINE = 50
TIME_SHIFT = 1.0  # standard deviations of log-time
TIME_CLIP = 4.0
TIME_CALIBRATION_RUNS = 20_000
TIME_CALIBRATION_SEED = 20_240_601
MIN_SECONDS = 0.5  # log(0) guard


# --- Results ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Decision:
    """The outcome of one evidence test.

    ``pause`` is True when the evidence meets the standard and the rule should take its action
    (pause for the gold rule; review or an alert for the others). ``n`` and ``k`` are the sample
    the decision rests on (for the sequential gold test: the answers up to the first crossing),
    ``estimate`` = k / n, ``reference`` the threshold or reference rate, ``confidence`` how sure
    the data make us that the rate is on the wrong side of the reference (1 − the test's
    p-value), ``alpha`` the error rate the test was built for, ``p_value`` the test's p-value
    (Bonferroni-adjusted where ``n_tested`` > 1), ``message`` the sentence for the PM, and
    ``details`` the test's other figures (JSON-serialisable)."""

    pause: bool
    test: str
    n: int
    k: int
    estimate: float | None
    reference: float | None
    confidence: float | None
    alpha: float
    p_value: float | None
    message: str
    details: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable copy (for ``Alert.details``)."""
        return {
            "pause": self.pause,
            "test": self.test,
            "n": self.n,
            "k": self.k,
            "estimate": self.estimate,
            "reference": self.reference,
            "confidence": self.confidence,
            "alpha": self.alpha,
            "p_value": self.p_value,
            "message": self.message,
            "details": dict(self.details),
        }


@dataclass(frozen=True)
class DriftResult:
    """The outcome of a change detector over one annotator's time-ordered outcomes.

    ``alarm_index``: the index (into the sequence given) of the observation at which the
    statistic reached ``h``; ``change_index``: the estimated first observation of the changed
    behaviour (the one after the statistic was last zero before the alarm) — map both to
    timestamps to say since when the annotator's work is suspect. Both None when nothing was
    detected. ``statistic``: the CUSUM at the alarm, or at the end. ``n``: observations
    examined (the detector stops at the first alarm)."""

    detected: bool
    alarm_index: int | None
    change_index: int | None
    statistic: float
    h: float
    n: int
    test: str
    message: str
    details: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "detected": self.detected,
            "alarm_index": self.alarm_index,
            "change_index": self.change_index,
            "statistic": self.statistic,
            "h": self.h,
            "n": self.n,
            "test": self.test,
            "message": self.message,
            "details": dict(self.details),
        }


# --- Formatting -------------------------------------------------------------------------------
def _array(values: Iterable[Any] | npt.NDArray[Any], dtype: Any) -> npt.NDArray[Any]:
    """A flat numpy array of ``values`` (a list, a generator or an array)."""
    if isinstance(values, np.ndarray):
        return np.asarray(values, dtype=dtype).ravel()
    return np.asarray(list(values), dtype=dtype).ravel()


def _pct(value: float) -> str:
    """70% / 2% / 0.5%: a rate with at most one decimal, no trailing .0."""
    text = f"{value * 100:.1f}".rstrip("0").rstrip(".")
    return f"{text}%"


def _conf(value: float) -> str:
    """A confidence rounded *down* to 0.1%, so a message never overstates it (94.99% → 94.9%)."""
    return _pct(math.floor(value * 1000 + 1e-9) / 1000)


# --- Gold accuracy: one-sided SPRT with a confidence floor ----------------------------------
@dataclass(frozen=True)
class GoldDesign:
    """The gold (and agreement) test for one threshold: pause at answer n when at least
    ``boundary(n)[n]`` of the first n answers are wrong.

    ``threshold`` p0: the stream's minimum accuracy. ``p_good`` (default p0 + ``GOLD_DELTA``,
    at most halfway from p0 to 1): a careful annotator, paused with probability ≤ ``alpha``
    ever. ``p_bad`` (default p0 − 2·delta, at least p0 / 2): the accuracy the test is tuned to
    catch quickly. ``min_confidence``: the exact one-sided binomial confidence that accuracy is
    below p0 the pause also needs (0 = the SPRT alone). ``min_count``: no pause before this many
    answers (a larger value only lowers both error and power)."""

    threshold: float
    p_good: float
    p_bad: float
    alpha: float = GOLD_ALPHA
    min_confidence: float = MIN_CONFIDENCE
    min_count: int = 1

    def __post_init__(self) -> None:
        if not 0.0 < self.p_bad < self.threshold < self.p_good < 1.0:
            raise ValueError(
                f"need 0 < p_bad < threshold < p_good < 1, got {self.p_bad}, {self.threshold}, {self.p_good}"
            )
        if not 0.0 < self.alpha < 1.0:
            raise ValueError(f"alpha must be in (0, 1), got {self.alpha}")
        if not 0.0 <= self.min_confidence < 1.0:
            raise ValueError(f"min_confidence must be in [0, 1), got {self.min_confidence}")

    @classmethod
    def for_threshold(
        cls,
        threshold: float,
        *,
        delta: float = GOLD_DELTA,
        p_bad: float | None = None,
        alpha: float = GOLD_ALPHA,
        min_confidence: float = MIN_CONFIDENCE,
        min_count: int = 1,
    ) -> GoldDesign:
        """The design for a stream's threshold with the default careful / bad accuracies."""
        p_good = round(min(threshold + delta, threshold + (1.0 - threshold) / 2.0), 12)
        if p_bad is None:
            p_bad = round(max(threshold - 2.0 * delta, threshold / 2.0), 12)
        return cls(threshold, p_good, p_bad, alpha, min_confidence, max(int(min_count), 1))

    @property
    def log_boundary(self) -> float:
        """The SPRT's upper boundary, log(1 / alpha) (Ville's inequality)."""
        return math.log(1.0 / self.alpha)

    @property
    def step_correct(self) -> float:
        """Log-likelihood ratio (bad vs good) of a right answer (negative)."""
        return math.log(self.p_bad / self.p_good)

    @property
    def step_wrong(self) -> float:
        """Log-likelihood ratio (bad vs good) of a wrong answer (positive)."""
        return math.log((1.0 - self.p_bad) / (1.0 - self.p_good))

    def llr(self, k: int, n: int) -> float:
        """The SPRT statistic after k right answers of n."""
        return k * self.step_correct + (n - k) * self.step_wrong

    def boundary(self, n_max: int) -> IntArray:
        """Index n (0..n_max): the fewest wrong answers among the first n that pause; n + 1
        where no number of wrong answers pauses at n. Read-only (cached)."""
        size = max(256, -(-int(n_max) // 256) * 256)
        return _gold_boundary(
            self.threshold, self.p_good, self.p_bad, self.alpha, self.min_confidence, self.min_count, size
        )[: int(n_max) + 1]

    def pause_probability(self, accuracy: float, horizon: int) -> FloatArray:
        """Exact P(paused by answer n), n = 0..horizon, for an annotator whose answers are right
        independently with probability ``accuracy`` and who is checked after every answer."""
        return _first_passage(self.boundary(horizon), float(accuracy), int(horizon))

    def confidence(self, k: int, n: int) -> float:
        """1 − the exact one-sided binomial p-value of H0 accuracy ≥ threshold (k right of n)."""
        return float(stats.binom.sf(k, n, self.threshold)) if n > 0 else 0.0


@lru_cache(maxsize=64)
def _gold_boundary(
    threshold: float, p_good: float, p_bad: float, alpha: float, min_confidence: float, min_count: int, n_max: int
) -> IntArray:
    n = np.arange(n_max + 1, dtype=np.int64)
    step_correct = math.log(p_bad / p_good)
    step_wrong = math.log((1.0 - p_bad) / (1.0 - p_good))
    # SPRT: w·step_wrong + (n − w)·step_correct ≥ log(1/alpha).
    w_sprt = np.ceil((math.log(1.0 / alpha) - n * step_correct) / (step_wrong - step_correct) - 1e-9)
    w_sprt = np.maximum(w_sprt, 0).astype(np.int64)
    # Confidence: P(X ≤ k | n, threshold) ≤ 1 − min_confidence with k = n − w right answers.
    q = 1.0 - min_confidence
    k_max = stats.binom.ppf(q, n, threshold).astype(np.int64)  # smallest k with cdf(k) ≥ q
    k_max = np.where(stats.binom.cdf(k_max, n, threshold) <= q * (1 + 1e-12), k_max, k_max - 1)
    w_conf = n - k_max  # k_max = -1 → n + 1: impossible
    bound = np.maximum(w_sprt, w_conf)
    bound = np.where((bound > n) | (n < min_count), n + 1, bound)
    bound[0] = 1  # no pause before any answer
    bound.setflags(write=False)
    return bound


def _first_passage(boundary: IntArray, accuracy: float, horizon: int) -> FloatArray:
    """P(wrong count first reaches boundary[n] at some n' ≤ n) by dynamic programming over the
    number of wrong answers (absorbing at the boundary)."""
    q = 1.0 - accuracy
    alive = np.zeros(horizon + 2)
    alive[0] = 1.0
    paused = np.zeros(horizon + 1)
    for n in range(1, horizon + 1):
        nxt = alive * accuracy
        nxt[1:] += alive[:-1] * q
        b = int(boundary[n])
        hit = float(nxt[b:].sum()) if b <= n else 0.0
        if b <= n:
            nxt[b:] = 0.0
        paused[n] = paused[n - 1] + hit
        alive = nxt
    return paused


def gold_decision(
    outcomes: Iterable[bool] | npt.NDArray[Any],
    threshold: float,
    *,
    delta: float = GOLD_DELTA,
    p_bad: float | None = None,
    alpha: float = GOLD_ALPHA,
    min_confidence: float = MIN_CONFIDENCE,
    min_count: int = 1,
) -> Decision:
    """Should the annotator be paused for gold accuracy below ``threshold``?

    ``outcomes``: the golden answers since the last resume, oldest first, True = right. The test
    (module docstring) pauses at the first answer where the SPRT between p_good = threshold +
    delta and ``p_bad`` crossed log(1/alpha) *and* the one-sided binomial confidence that
    accuracy is below the threshold was ≥ ``min_confidence``. Valid when run after every answer;
    given a longer history it reports the first crossing (n, k then refer to the answers up to
    it; ``details['answers']`` is the full count)."""
    design = GoldDesign.for_threshold(
        threshold, delta=delta, p_bad=p_bad, alpha=alpha, min_confidence=min_confidence, min_count=min_count
    )
    right = _array(outcomes, bool)
    total = len(right)
    wrong = np.concatenate([[0], np.cumsum(~right)])
    crossed = np.flatnonzero(wrong >= design.boundary(total))
    pause = bool(len(crossed))
    n = int(crossed[0]) if pause else total
    k = n - int(wrong[n])
    details = _gold_details(design, k, n)
    details["answers"] = total
    details["right_total"] = int(right.sum())
    confidence = design.confidence(k, n)
    test = "SPRT"
    if n == 0:
        message = "No golden answers yet."
    elif pause:
        message = (
            f"{k} of {n} golden answers right: accuracy below {_pct(threshold)} with {_conf(confidence)} "
            f"confidence ({test}, alpha {_pct(alpha)}, n={n})"
        )
    else:
        message = (
            f"{k} of {n} golden answers right ({_pct(k / n)}): not enough evidence that accuracy is below "
            f"{_pct(threshold)} (confidence {_conf(confidence)}; {test}, alpha {_pct(alpha)}, n={n})"
        )
    return _decision(
        pause=pause,
        test=test,
        k=k,
        n=n,
        reference=threshold,
        confidence=confidence,
        alpha=alpha,
        p_value=1.0 - confidence if n else None,
        message=message,
        details=details,
    )


def _gold_details(design: GoldDesign, k: int, n: int) -> dict[str, Any]:
    upper = float(stats.beta.ppf(MIN_CONFIDENCE, k + 1, n - k)) if n > 0 and k < n else 1.0
    return {
        "p_good": round(design.p_good, 6),
        "p_bad": round(design.p_bad, 6),
        "llr": round(design.llr(k, n), 6),
        "llr_boundary": round(design.log_boundary, 6),
        "min_confidence": design.min_confidence,
        "min_count": design.min_count,
        "upper_95": round(upper, 6),  # one-sided 95% Clopper–Pearson upper bound of the rate
    }


def _decision(
    *,
    pause: bool,
    test: str,
    k: int,
    n: int,
    reference: float | None,
    confidence: float | None,
    alpha: float,
    p_value: float | None,
    message: str,
    details: Mapping[str, Any],
) -> Decision:
    return Decision(
        pause=bool(pause),
        test=test,
        n=n,
        k=k,
        estimate=k / n if n else None,
        reference=reference,
        confidence=confidence,
        alpha=alpha,
        p_value=p_value,
        message=message,
        details=details,
    )


def rate_below_decision(
    k: int,
    n: int,
    threshold: float,
    *,
    subject: str,
    rate_name: str,
    empty: str,
    delta: float = GOLD_DELTA,
    p_bad: float | None = None,
    alpha: float = GOLD_ALPHA,
    min_confidence: float = MIN_CONFIDENCE,
    min_count: int = 1,
) -> Decision:
    """Is a rate (k successes of n) below ``threshold`` on the evidence? The gold test on counts
    (``GoldDesign``): the SPRT statistic at (k, n) ≥ log(1/alpha) and ≥ ``min_confidence``
    one-sided binomial confidence. A rate at threshold + delta is ever flagged with probability
    ≤ alpha, however often this runs on a growing sample (Ville's inequality).

    ``subject`` opens the message ("Agrees with the others' majority on 40 of 80 shared items"),
    ``rate_name`` names the rate in it ("agreement"), ``empty`` is the message for n = 0."""
    design = GoldDesign.for_threshold(
        threshold, delta=delta, p_bad=p_bad, alpha=alpha, min_confidence=min_confidence, min_count=min_count
    )
    k, n = int(k), int(n)
    _check_counts(k, n)
    pause = n > 0 and n - k >= int(design.boundary(n)[n])
    confidence = design.confidence(k, n)
    test = "SPRT on counts"
    if n == 0:
        message = empty
    elif pause:
        message = (
            f"{subject} ({_pct(k / n)}): {rate_name} below {_pct(threshold)} with {_conf(confidence)} confidence "
            f"({test}, alpha {_pct(alpha)}, n={n})"
        )
    else:
        message = (
            f"{subject} ({_pct(k / n)}): not enough evidence that {rate_name} is below {_pct(threshold)} "
            f"(confidence {_conf(confidence)}; {test}, alpha {_pct(alpha)}, n={n})"
        )
    return _decision(
        pause=pause,
        test=test,
        k=k,
        n=n,
        reference=threshold,
        confidence=confidence,
        alpha=alpha,
        p_value=1.0 - confidence if n else None,
        message=message,
        details=_gold_details(design, k, n),
    )


def agreement_decision(
    k: int,
    n: int,
    threshold: float,
    *,
    delta: float = GOLD_DELTA,
    p_bad: float | None = None,
    alpha: float = GOLD_ALPHA,
    min_confidence: float = MIN_CONFIDENCE,
    min_count: int = 1,
) -> Decision:
    """Is the annotator's agreement with the others' leave-one-out majority (k of n shared items)
    below ``threshold`` on the evidence? ``threshold``: the stream's minimum agreement *rate*, or
    the team's rate minus the gap you tolerate (``rate_below_decision``)."""
    return rate_below_decision(
        k,
        n,
        threshold,
        subject=f"Agrees with the others' majority on {int(k)} of {int(n)} shared items",
        rate_name="agreement",
        empty="No shared items with a majority of the others yet.",
        delta=delta,
        p_bad=p_bad,
        alpha=alpha,
        min_confidence=min_confidence,
        min_count=min_count,
    )


# --- Rate tests -------------------------------------------------------------------------------
def _check_counts(k: int, n: int) -> None:
    if n < 0 or k < 0 or k > n:
        raise ValueError(f"need 0 ≤ k ≤ n, got k={k}, n={n}")


def rate_above_decision(
    k: int,
    n: int,
    allowed_rate: float,
    *,
    subject: str,
    empty: str,
    alpha: float = RATE_ALPHA,
    min_count: int = 1,
) -> Decision:
    """Is a rate (k of n) above ``allowed_rate`` on the evidence? Exact one-sided binomial test of
    H0 rate ≤ allowed_rate; acts with p ≤ alpha (≥ 95% confidence by default) and at least
    ``min_count`` observations. ``subject`` opens the message ("12 of 40 judgements faster than
    the reading-time floor")."""
    k, n = int(k), int(n)
    _check_counts(k, n)
    if not 0.0 <= allowed_rate < 1.0:
        raise ValueError(f"allowed_rate must be in [0, 1), got {allowed_rate}")
    test = "exact binomial, one-sided"
    p_value = float(stats.binom.sf(k - 1, n, allowed_rate)) if n else None  # P(X ≥ k)
    confidence = 1.0 - p_value if p_value is not None else None
    pause = p_value is not None and n >= min_count and p_value <= alpha
    if n == 0 or confidence is None:
        message = empty
    else:
        verdict = (
            f"above the allowed {_pct(allowed_rate)} with {_conf(confidence)} confidence"
            if pause
            else f"not enough evidence that it is above the allowed {_pct(allowed_rate)} "
            f"(confidence {_conf(confidence)})"
        )
        message = f"{subject} ({_pct(k / n)}): {verdict} ({test}, alpha {_pct(alpha)}, n={n})"
    return _decision(
        pause=pause,
        test=test,
        k=k,
        n=n,
        reference=allowed_rate,
        confidence=confidence,
        alpha=alpha,
        p_value=p_value,
        message=message,
        details={"min_count": min_count},
    )


def rate_at_least_decision(
    k: int,
    n: int,
    threshold: float,
    *,
    subject: str,
    rate_name: str,
    empty: str,
    alpha: float = RATE_ALPHA,
    min_count: int = 1,
) -> Decision:
    """Is a rate (k of n) at or above ``threshold`` on the evidence? Exact one-sided binomial test
    of H0 rate < threshold (p = P(X ≥ k | threshold)): acts (``pause`` True: "the record is good
    enough") when p ≤ alpha and n ≥ ``min_count`` — equivalently, when the one-sided
    (1 − alpha) Clopper–Pearson lower bound of k/n is at or above the threshold. A rate below
    the threshold passes with probability ≤ alpha per look. ``details``: ``lower`` (the bound),
    ``level`` (1 − alpha), ``min_count``."""
    k, n = int(k), int(n)
    _check_counts(k, n)
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must be in [0, 1], got {threshold}")
    test = "exact binomial, one-sided"
    p_value = float(stats.binom.sf(k - 1, n, threshold)) if n else None  # P(X ≥ k) at the threshold
    confidence = 1.0 - p_value if p_value is not None else None
    lower = float(stats.beta.ppf(alpha, k, n - k + 1)) if k > 0 else 0.0
    act = p_value is not None and n >= min_count and p_value <= alpha
    level = _pct(1.0 - alpha)
    if n == 0 or confidence is None:
        message = empty
    elif n < min_count:
        message = f"{subject} ({_pct(k / n)}): too few to tell (n={n}, at least {min_count} needed)"
    elif act:
        message = (
            f"{subject} ({_pct(k / n)}): {rate_name} at or above {_pct(threshold)} with {_conf(confidence)} "
            f"confidence ({level} lower bound {_pct(math.floor(lower * 1000) / 1000)}; {test}, alpha {_pct(alpha)}, "
            f"n={n})"
        )
    else:
        message = (
            f"{subject} ({_pct(k / n)}): not enough evidence that {rate_name} is at or above {_pct(threshold)} "
            f"({level} lower bound {_pct(math.floor(lower * 1000) / 1000)}; {test}, alpha {_pct(alpha)}, n={n})"
        )
    return _decision(
        pause=act,
        test=test,
        k=k,
        n=n,
        reference=threshold,
        confidence=confidence,
        alpha=alpha,
        p_value=p_value,
        message=message,
        details={"lower": round(lower, 6), "level": round(1.0 - alpha, 6), "min_count": min_count},
    )


def rushing_decision(
    fast: int,
    n: int,
    allowed_rate: float,
    *,
    alpha: float = RATE_ALPHA,
    min_count: int = 1,
) -> Decision:
    """Does the annotator judge faster than the reading-time floor more often than
    ``allowed_rate`` allows? ``fast`` of ``n`` timed judgements were too fast
    (``rate_above_decision``)."""
    return rate_above_decision(
        fast,
        n,
        allowed_rate,
        subject=f"{int(fast)} of {int(n)} judgements faster than the reading-time floor",
        empty="No timed judgements yet.",
        alpha=alpha,
        min_count=min_count,
    )


def reference_decision(
    k: int,
    n: int,
    expected: float,
    *,
    subject: str,
    reference_text: str,
    no_evidence: str,
    n_tested: int = 1,
    alpha: float = RATE_ALPHA,
    min_effect: float = MIN_EFFECT,
    min_count: int = 1,
    directions: tuple[str, str] = ("over", "under"),
) -> Decision:
    """Is a rate (k of n) different from ``expected``? Exact two-sided binomial test,
    Bonferroni-adjusted over the ``n_tested`` annotators tested in the same run (p × n_tested):
    when no annotator differs, the chance that any one is flagged is ≤ alpha. Acts when the
    adjusted p ≤ alpha and the rate is at least ``min_effect`` from ``expected``.
    ``details['direction']`` is ``directions[0]`` above the reference, ``directions[1]`` below."""
    k, n = int(k), int(n)
    _check_counts(k, n)
    n_tested = max(int(n_tested), 1)
    test = "exact binomial, two-sided" + (f", Bonferroni over {n_tested}" if n_tested > 1 else "")
    raw = float(stats.binomtest(k, n, expected).pvalue) if n and 0.0 < expected < 1.0 else None
    p_value = min(1.0, raw * n_tested) if raw is not None else None
    confidence = 1.0 - p_value if p_value is not None else None
    share = k / n if n else None
    pause = (
        p_value is not None
        and share is not None
        and n >= min_count
        and p_value <= alpha
        and abs(share - expected) >= min_effect - 1e-12
    )
    if share is None or confidence is None:
        message = f"{subject}: nothing to test yet."
    else:
        corrected = f" after Bonferroni over {n_tested} annotators" if n_tested > 1 else ""
        verdict = (
            f"differs from {reference_text} with {_conf(confidence)} confidence{corrected}"
            if pause
            else f"{no_evidence} (confidence {_conf(confidence)}{corrected}, minimum effect {_pct(min_effect)})"
        )
        message = f"{subject} ({_pct(share)}): {verdict} (exact binomial, two-sided, alpha {_pct(alpha)}, n={n})"
    return _decision(
        pause=pause,
        test=test,
        k=k,
        n=n,
        reference=expected,
        confidence=confidence,
        alpha=alpha,
        p_value=p_value,
        message=message,
        details={
            "p_value_raw": raw,
            "n_tested": n_tested,
            "alpha_per_annotator": alpha / n_tested,
            "min_effect": min_effect,
            "direction": None
            if share is None or share == expected
            else (directions[0] if share > expected else directions[1]),
        },
    )


def position_bias_decision(
    first: int,
    n: int,
    *,
    n_tested: int = 1,
    alpha: float = RATE_ALPHA,
    min_effect: float = MIN_EFFECT,
    min_count: int = 1,
) -> Decision:
    """Does the annotator pick the response shown first (``first`` of ``n`` A/B choices with a
    random display order) more or less often than half the time? ``reference_decision`` against
    0.5: display order is random, so an unbiased annotator is at 0.5 whatever the data."""
    decision = reference_decision(
        first,
        n,
        0.5,
        subject=f"Picked the response shown first {int(first)} of {int(n)} times",
        reference_text="50%",
        no_evidence="no evidence of a position bias",
        n_tested=n_tested,
        alpha=alpha,
        min_effect=min_effect,
        min_count=min_count,
        directions=("first", "second"),
    )
    if not n:
        return replace(decision, message="No A/B choices with a known display order yet.")
    return decision


def _log_choose(a: Any, b: Any) -> Any:
    return special.gammaln(a + 1) - special.gammaln(b + 1) - special.gammaln(a - b + 1)


def fisher_two_sided(k: int, n: int, team_k: int, team_n: int) -> float:
    """Fisher's exact test, two-sided, of the 2×2 table [[k, n − k], [team_k, team_n − team_k]]:
    the probability, given the margins, of a table no more likely than this one (as
    ``scipy.stats.fisher_exact``, relative tolerance 1e-7). One vectorised pass over the
    hypergeometric support in log space: ``fisher_exact`` (and ``hypergeom.pmf``) take tens of
    milliseconds on the tables of a 100,000-judgement stream, and the integrity figures test every
    annotator twice."""
    total, hits = n + team_n, k + team_k
    support = np.arange(max(0, hits - team_n), min(n, hits) + 1, dtype=np.float64)
    log_pmf = _log_choose(hits, support) + _log_choose(total - hits, n - support) - _log_choose(total, n)
    observed = _log_choose(hits, k) + _log_choose(total - hits, n - k) - _log_choose(total, n)
    extreme = log_pmf[log_pmf <= observed + math.log1p(1e-7)]
    if not len(extreme):
        return 0.0
    top = float(extreme.max())
    return float(min(1.0, math.exp(top) * float(np.exp(extreme - top).sum())))


def team_rate_decision(
    k: int,
    n: int,
    team_k: int,
    team_n: int,
    *,
    subject: str,
    no_evidence: str,
    empty: str,
    n_tested: int = 1,
    alpha: float = RATE_ALPHA,
    min_effect: float = MIN_EFFECT,
    min_count: int = 1,
    directions: tuple[str, str] = ("over", "under"),
) -> Decision:
    """Is the annotator's rate (``k`` of ``n``) different from the rest of the team's (``team_k``
    of ``team_n``, the annotator's own *not* included)?

    Fisher's exact test on the 2×2 table, two-sided, Bonferroni-adjusted over ``n_tested``
    annotators. Acts when the adjusted p ≤ alpha and the two rates differ by at least
    ``min_effect``. The team's rate is an estimate too, and may be 0 (nobody else copies item
    text), where a one-sample binomial test against it would be degenerate; Fisher's test counts
    both samples. ``subject`` opens the message ("Picked the longer response 70 of 100 times"),
    ``no_evidence`` is its verdict when the test does not act, ``empty`` the message when either
    side has no data. ``details['direction']`` is ``directions[0]`` above the team, ``directions[1]``
    below."""
    k, n, tk, tn = int(k), int(n), int(team_k), int(team_n)
    _check_counts(k, n)
    _check_counts(tk, tn)
    n_tested = max(int(n_tested), 1)
    test = "Fisher's exact, two-sided" + (f", Bonferroni over {n_tested}" if n_tested > 1 else "")
    share = k / n if n else None
    team = tk / tn if tn else None
    raw = fisher_two_sided(k, n, tk, tn) if n and tn else None
    p_value = min(1.0, raw * n_tested) if raw is not None else None
    confidence = 1.0 - p_value if p_value is not None else None
    pause = (
        p_value is not None
        and share is not None
        and team is not None
        and n >= min_count
        and p_value <= alpha
        and abs(share - team) >= min_effect - 1e-12
    )
    if share is None or team is None or confidence is None:
        message = empty
    else:
        corrected = f" after Bonferroni over {n_tested} annotators" if n_tested > 1 else ""
        verdict = (
            f"differs from the team with {_conf(confidence)} confidence{corrected}"
            if pause
            else f"{no_evidence} (confidence {_conf(confidence)}{corrected}, minimum effect {_pct(min_effect)})"
        )
        message = (
            f"{subject} ({_pct(share)}) vs the team's {_pct(team)} "
            f"({tk} of {tn}): {verdict} (Fisher's exact, two-sided, alpha {_pct(alpha)}, n={n})"
        )
    return _decision(
        pause=bool(pause),
        test=test,
        k=k,
        n=n,
        reference=team,
        confidence=confidence,
        alpha=alpha,
        p_value=p_value,
        message=message,
        details={
            "team_k": tk,
            "team_n": tn,
            "p_value_raw": raw,
            "n_tested": n_tested,
            "alpha_per_annotator": alpha / n_tested,
            "min_effect": min_effect,
            "direction": None
            if share is None or team is None or share == team
            else (directions[0] if share > team else directions[1]),
        },
    )


def anchoring_decision(
    shown_agree: int,
    shown_n: int,
    hidden_agree: int,
    hidden_n: int,
    *,
    alpha: float = RATE_ALPHA,
    min_effect: float = MIN_EFFECT,
    min_count: int = 1,
) -> Decision:
    """Do people agree with a model's pick more often when it is shown to them (``shown_agree``
    of ``shown_n`` judgements) than when it is held out (``hidden_agree`` of ``hidden_n``, items
    whose pick existed and was hidden: a random sample)? Fisher's exact test on the 2 × 2 table,
    two-sided (an effect either way is news); acts when p ≤ alpha, the two rates differ by at
    least ``min_effect`` and each side has at least ``min_count`` judgements.
    ``details['direction']``: "anchored" when shown is higher, "contrarian" when lower. The
    estimate in ``k`` / ``n`` is the shown side's."""
    k, n, hk, hn = int(shown_agree), int(shown_n), int(hidden_agree), int(hidden_n)
    _check_counts(k, n)
    _check_counts(hk, hn)
    test = "Fisher's exact, two-sided"
    shown = k / n if n else None
    hidden = hk / hn if hn else None
    p_value: float | None = None
    if n and hn:
        p_value = float(stats.fisher_exact([[k, n - k], [hk, hn - hk]], alternative="two-sided").pvalue)
    confidence = 1.0 - p_value if p_value is not None else None
    act = (
        p_value is not None
        and shown is not None
        and hidden is not None
        and min(n, hn) >= min_count
        and p_value <= alpha
        and abs(shown - hidden) >= min_effect - 1e-12
    )
    if shown is None or hidden is None or confidence is None:
        message = "Not enough judgements with the model's pick shown and held out to compare yet."
    else:
        verdict = (
            f"differs with {_conf(confidence)} confidence"
            if act
            else f"no evidence of a difference (confidence {_conf(confidence)}, minimum effect {_pct(min_effect)})"
        )
        message = (
            f"Agree with the model's pick on {_pct(shown)} of {n} judgements when it is shown, {_pct(hidden)} "
            f"of {hn} when it is held out: {verdict} ({test}, alpha {_pct(alpha)})"
        )
    return _decision(
        pause=bool(act),
        test=test,
        k=k,
        n=n,
        reference=hidden,
        confidence=confidence,
        alpha=alpha,
        p_value=p_value,
        message=message,
        details={
            "hidden_k": hk,
            "hidden_n": hn,
            "min_effect": min_effect,
            "min_count": min_count,
            "direction": None
            if shown is None or hidden is None or shown == hidden
            else ("anchored" if shown > hidden else "contrarian"),
        },
    )


def length_bias_decision(
    longer: int,
    n: int,
    team_longer: int,
    team_n: int,
    *,
    n_tested: int = 1,
    alpha: float = RATE_ALPHA,
    min_effect: float = MIN_EFFECT,
    min_count: int = 1,
) -> Decision:
    """Does the annotator pick the clearly longer response (``longer`` of ``n`` choices) at a
    different rate from the rest of the team (``team_longer`` of ``team_n``, the annotator's own
    judgements *not* included)? ``team_rate_decision``: Fisher's exact test, two-sided,
    Bonferroni over ``n_tested``, a minimum effect. ``details['direction']``: "longer" = prefers
    longer answers than the team."""
    return team_rate_decision(
        longer,
        n,
        team_longer,
        team_n,
        subject=f"Picked the longer response {int(longer)} of {int(n)} times",
        no_evidence="no evidence of a different taste for length",
        empty="Not enough choices between responses of clearly different length (the annotator's or the team's).",
        n_tested=n_tested,
        alpha=alpha,
        min_effect=min_effect,
        min_count=min_count,
        directions=("longer", "shorter"),
    )


# --- Drift: CUSUM -----------------------------------------------------------------------------
def _cusum(increments: FloatArray, h: float) -> tuple[int | None, int | None, float, FloatArray]:
    """One-sided CUSUM S_t = max(0, S_{t-1} + x_t) over ``increments``, vectorised through
    Lindley's identity S_t = C_t − min_{j ≤ t} C_j (C the cumulative sum, C_0 = 0).

    Returns (alarm index, change index, statistic at the alarm or the end, the path). The change
    index is the observation after the last zero of S before the alarm: the last argmin of C
    over [0, alarm]."""
    c = np.concatenate([[0.0], np.cumsum(increments)])
    s = c - np.minimum.accumulate(c)
    over = np.flatnonzero(s[1:] >= h - 1e-12)
    path = s[1:]
    if not len(over):
        return None, None, float(path[-1]) if len(path) else 0.0, path
    alarm = int(over[0])
    head = c[: alarm + 1]
    change = alarm - int(np.argmin(head[::-1]))
    return alarm, change, float(path[alarm]), path


def drop_start(outcomes: Iterable[bool] | npt.NDArray[Any], p_good: float, p_bad: float) -> int:
    """The most likely start of a drop of a success rate from ``p_good`` to ``p_bad`` in
    ``outcomes`` (oldest first), whether or not a detector alarmed: the index after the last
    minimum of the cumulative log-likelihood ratio (the start of the stretch with the most
    evidence of the lower rate). 0 when the whole sequence looks alike; ``len(outcomes)`` when it
    ends on its best stretch."""
    if not 0.0 < p_bad < p_good < 1.0:
        raise ValueError(f"need 0 < p_bad < p_good < 1, got {p_bad}, {p_good}")
    x = _array(outcomes, bool)
    steps = np.where(x, math.log(p_bad / p_good), math.log((1.0 - p_bad) / (1.0 - p_good)))
    c = np.concatenate([[0.0], np.cumsum(steps)])
    return len(c) - 1 - int(np.argmin(c[::-1]))


def bernoulli_cusum_false_alarm(
    h: float, p_good: float, p_bad: float, horizon: int, rate: float | None = None
) -> float:
    """P(the Bernoulli CUSUM (p_good → p_bad) alarms within ``horizon`` observations) for an
    annotator whose success rate is ``rate`` (default p_good: the false-alarm probability).

    A Markov chain on a grid of 1/400 of the smaller step (Brook & Evans 1972); each step is
    rounded against the annotator (up-steps up, down-steps down), so the result is an upper
    bound of the true probability, tight to a few percent of its value."""
    return _bernoulli_alarm(
        float(h), float(p_good), float(p_bad), int(horizon), float(p_good if rate is None else rate)
    )


@lru_cache(maxsize=256)
def _bernoulli_alarm(h: float, p_good: float, p_bad: float, horizon: int, rate: float) -> float:
    up = math.log((1.0 - p_bad) / (1.0 - p_good))  # a failure
    down = -math.log(p_bad / p_good)  # a success, as a positive size
    grid = min(up, down) / 400.0
    u = math.ceil(up / grid - 1e-9)
    d = math.floor(down / grid + 1e-9)
    states = math.ceil(h / grid - 1e-9)  # alarm at grid index ≥ states
    if states <= 0:
        return 1.0
    alive = np.zeros(states)
    alive[0] = 1.0
    alarmed = 0.0
    for _ in range(horizon):
        nxt = np.zeros(states)
        # Success: move down by d, reflect at 0.
        nxt[0] += alive[: d + 1].sum() * rate
        nxt[1 : max(states - d, 1)] += alive[d + 1 :] * rate
        # Failure: move up by u; beyond the last state = alarm.
        keep = max(states - u, 0)
        nxt[u:] += alive[:keep] * (1.0 - rate)
        alarmed += float(alive[keep:].sum()) * (1.0 - rate)
        alive = nxt
    return min(alarmed, 1.0)


def bernoulli_cusum_h(
    p_good: float, p_bad: float, *, horizon: int = DRIFT_HORIZON, false_alarm: float = DRIFT_FALSE_ALARM
) -> float:
    """The smallest h (to 0.001) whose false-alarm probability over ``horizon`` observations of
    an annotator at ``p_good`` is ≤ ``false_alarm`` (``bernoulli_cusum_false_alarm``)."""
    return _bernoulli_h(float(p_good), float(p_bad), int(horizon), float(false_alarm))


@lru_cache(maxsize=64)
def _bernoulli_h(p_good: float, p_bad: float, horizon: int, false_alarm: float) -> float:
    if not 0.0 < p_bad < p_good < 1.0:
        raise ValueError(f"need 0 < p_bad < p_good < 1, got {p_bad}, {p_good}")
    low, high = 0.0, math.log((1.0 - p_bad) / (1.0 - p_good))
    while _bernoulli_alarm(high, p_good, p_bad, horizon, p_good) > false_alarm:
        low, high = high, high * 2.0
    while high - low > 0.001:
        mid = (low + high) / 2.0
        if _bernoulli_alarm(mid, p_good, p_bad, horizon, p_good) > false_alarm:
            low = mid
        else:
            high = mid
    return math.ceil(high * 1000) / 1000


def cusum_bernoulli(
    outcomes: Iterable[bool] | npt.NDArray[Any],
    p_good: float,
    p_bad: float,
    h: float | None = None,
    *,
    horizon: int = DRIFT_HORIZON,
    false_alarm: float = DRIFT_FALSE_ALARM,
    what: str = "success rate",
) -> DriftResult:
    """Bernoulli CUSUM for a drop of a success rate from ``p_good`` to ``p_bad``.

    ``outcomes``: time-ordered, True = success (a right golden answer, an agreement with the
    others' majority). ``h``: the alarm threshold; None = calibrated for a false-alarm
    probability ≤ ``false_alarm`` over ``horizon`` observations of an annotator at p_good
    (``bernoulli_cusum_h``). ``what`` names the rate in the message."""
    if not 0.0 < p_bad < p_good < 1.0:
        raise ValueError(f"need 0 < p_bad < p_good < 1, got {p_bad}, {p_good}")
    if h is None:
        h = bernoulli_cusum_h(p_good, p_bad, horizon=horizon, false_alarm=false_alarm)
    x = _array(outcomes, bool)
    steps = np.where(x, math.log(p_bad / p_good), math.log((1.0 - p_bad) / (1.0 - p_good)))
    alarm, change, statistic, _path = _cusum(steps, h)
    test = f"Bernoulli CUSUM {_pct(p_good)} → {_pct(p_bad)}"
    details: dict[str, Any] = {"p_good": p_good, "p_bad": p_bad, "horizon": horizon, "false_alarm": false_alarm}
    if alarm is None or change is None:
        n = len(x)
        message = (
            f"No drop in {what} detected over {n} observations ({_pct(float(x.mean())) if n else '—'}; "
            f"{test}, h={h:g}, false-alarm rate {_pct(false_alarm)} over {horizon})"
        )
        return DriftResult(False, None, None, statistic, h, n, test, message, details)
    before, after = x[:change], x[change : alarm + 1]
    details.update(
        {
            "before_k": int(before.sum()),
            "before_n": len(before),
            "since_k": int(after.sum()),
            "since_n": len(after),
        }
    )
    before_text = f"{_pct(float(before.mean()))} before" if len(before) else "no observations before"
    message = (
        f"{what.capitalize()} dropped: since observation {change}, {int(after.sum())} of {len(after)} "
        f"({_pct(float(after.mean()))}) vs {before_text}; alarm at observation {alarm} "
        f"({test}, h={h:g}, false-alarm rate {_pct(false_alarm)} over {horizon})"
    )
    return DriftResult(True, alarm, change, statistic, h, alarm + 1, test, message, details)


def time_cusum_h(
    *,
    baseline_n: int = TIME_BASELINE,
    shift: float = TIME_SHIFT,
    horizon: int = DRIFT_HORIZON,
    false_alarm: float = DRIFT_FALSE_ALARM,
    clip: float = TIME_CLIP,
) -> float:
    """h for ``cusum_time``: the (1 − false_alarm) quantile of the CUSUM's maximum over
    ``horizon`` judgements after a baseline of ``baseline_n``, for normal log-times whose mean
    and standard deviation are *estimated* from that baseline (TIME_CALIBRATION_RUNS simulated
    annotators, a fixed seed: deterministic). Scale-free: it holds for any true mean and spread."""
    return _time_h(int(baseline_n), float(shift), int(horizon), float(false_alarm), float(clip))


@lru_cache(maxsize=32)
def _time_h(baseline_n: int, shift: float, horizon: int, false_alarm: float, clip: float) -> float:
    if baseline_n < 3:
        raise ValueError("baseline_n must be at least 3")
    rng = np.random.default_rng(TIME_CALIBRATION_SEED)
    maxima = []
    chunk = 2_000
    for start in range(0, TIME_CALIBRATION_RUNS, chunk):
        runs = min(chunk, TIME_CALIBRATION_RUNS - start)
        base = rng.standard_normal((runs, baseline_n))
        mean = base.mean(axis=1, keepdims=True)
        sd = np.maximum(base.std(axis=1, ddof=1, keepdims=True), 1e-6)
        z = np.clip((rng.standard_normal((runs, horizon)) - mean) / sd, -clip, clip)
        c = np.concatenate([np.zeros((runs, 1)), np.cumsum(-z - shift / 2.0, axis=1)], axis=1)
        maxima.append((c - np.minimum.accumulate(c, axis=1)).max(axis=1))
    return float(np.quantile(np.concatenate(maxima), 1.0 - false_alarm, method="higher"))


def cusum_time(
    seconds: Iterable[float] | npt.NDArray[Any],
    *,
    baseline_n: int = TIME_BASELINE,
    shift: float = TIME_SHIFT,
    h: float | None = None,
    horizon: int = DRIFT_HORIZON,
    false_alarm: float = DRIFT_FALSE_ALARM,
    clip: float = TIME_CLIP,
) -> DriftResult:
    """Lower CUSUM for a drop in labeling time against the annotator's own baseline.

    ``seconds``: active seconds per judgement, oldest first, starting right after qualifying
    (or seconds ÷ the item's reading-time floor, which removes the items' length from the
    series). The first ``baseline_n`` set the baseline: mean μ and standard deviation σ of log
    seconds; each later judgement gives z = (log s − μ) / σ clipped to ±``clip``, and
    S_t = max(0, S_{t-1} − z_t − shift / 2) detects a drop of ``shift`` σ. ``h`` None = calibrated
    (``time_cusum_h``) for ≤ ``false_alarm`` over ``horizon`` judgements after the baseline.
    Indices in the result are into ``seconds``."""
    t = _array(seconds, np.float64)
    if h is None:
        h = time_cusum_h(baseline_n=baseline_n, shift=shift, horizon=horizon, false_alarm=false_alarm, clip=clip)
    test = f"time CUSUM, drop of {shift:g} sd of log-time"
    details: dict[str, Any] = {"baseline_n": baseline_n, "shift": shift, "horizon": horizon, "false_alarm": false_alarm}
    if len(t) <= baseline_n:
        message = f"Baseline not complete: {len(t)} of {baseline_n} timed judgements."
        return DriftResult(False, None, None, 0.0, h, len(t), test, message, details)
    logs = np.log(np.maximum(t, MIN_SECONDS))
    mu = float(logs[:baseline_n].mean())
    sigma = max(float(logs[:baseline_n].std(ddof=1)), 0.05)
    z = np.clip((logs[baseline_n:] - mu) / sigma, -clip, clip)
    alarm, change, statistic, _path = _cusum(-z - shift / 2.0, h)
    baseline_median = float(np.exp(np.median(logs[:baseline_n])))
    details.update({"baseline_log_mean": round(mu, 6), "baseline_log_sd": round(sigma, 6)})
    details["baseline_median_seconds"] = round(baseline_median, 3)
    if alarm is None or change is None:
        n = len(t)
        message = (
            f"No drop in labeling time detected over {n - baseline_n} judgements after the baseline "
            f"(median {baseline_median:.1f} s; {test}, h={h:.3g}, false-alarm rate {_pct(false_alarm)} over "
            f"{horizon})"
        )
        return DriftResult(False, None, None, statistic, h, n, test, message, details)
    alarm += baseline_n
    change += baseline_n
    since = float(np.median(t[change : alarm + 1]))
    details["since_median_seconds"] = round(since, 3)
    message = (
        f"Labeling time dropped: median {since:.1f} s since judgement {change} vs {baseline_median:.1f} s "
        f"in the baseline; alarm at judgement {alarm} ({test}, h={h:.3g}, false-alarm rate "
        f"{_pct(false_alarm)} over {horizon})"
    )
    return DriftResult(True, alarm, change, statistic, h, alarm + 1, test, message, details)


# --- Aggregation confidence -------------------------------------------------------------------
class VoteShare(NamedTuple):
    """The majority label and its share of the votes; label None on a tie for most votes
    (reason "no_majority") or without votes ("no_votes")."""

    label: str | None
    share: float
    n: int
    reason: str = ""


def vote_share_confidence(counts: Mapping[str, int]) -> VoteShare:
    """Majority vote with its confidence = the winning label's share of the votes. A tie for the
    most votes decides nothing (as ``qc.aggregation.majority``)."""
    votes = {label: int(c) for label, c in counts.items() if int(c) > 0}
    n = sum(votes.values())
    if n == 0:
        return VoteShare(None, 0.0, 0, "no_votes")
    top = max(votes.values())
    winners = [label for label, c in votes.items() if c == top]
    if len(winners) > 1:
        return VoteShare(None, top / n, n, "no_majority")
    return VoteShare(winners[0], top / n, n)


@dataclass(frozen=True)
class LabelPosterior:
    """The posterior of each label of one comparison; ``label`` the decided one or None
    (``reason``: "no_votes", "tied_votes", "below_min_confidence"); ``probability`` the top
    label's posterior."""

    label: str | None
    probability: float
    posterior: Mapping[str, float]
    reason: str = ""


def label_posterior(
    votes: Sequence[tuple[str, float]],
    *,
    prior: Mapping[str, float] | None = None,
    labels: Sequence[str] = CHOICES,
    min_confidence: float = 0.5,
    break_vote_ties: bool = False,
) -> LabelPosterior:
    """Posterior of the true label of one comparison under a one-coin Dawid–Skene model.

    ``votes``: (label, the annotator's accuracy) per annotator. Annotator i gives the true label
    with probability a_i and each other label with (1 − a_i) / (K − 1) (accuracies clipped to
    [0.01, 0.99]). ``prior``: class frequencies (counts or shares; None = uniform), floored at
    0.1% so no label is impossible. Decides the top label when its posterior is *more than*
    ``min_confidence``.

    Defaults: ``min_confidence`` = 0.5 and ``break_vote_ties`` = False are equivalent to
    majority's "no majority": a tie for the most votes (a 2–2 split) is never decided, whatever
    the accuracies and the prior; and with equal accuracies and a uniform prior a tie gives
    each tied label at most 0.5, so the posterior alone would not decide it either. Set
    ``break_vote_ties`` to let reliable annotators outvote an equal number of unreliable ones
    (or the prior break an even split)."""
    k = len(labels)
    if k < 2:
        raise ValueError("need at least two labels")
    index = {label: i for i, label in enumerate(labels)}
    if prior is None:
        base = np.full(k, 1.0 / k)
    else:
        base = np.array([max(float(prior.get(label, 0.0)), 0.0) for label in labels])
        base = base / base.sum() if base.sum() > 0 else np.full(k, 1.0 / k)
        base = np.maximum(base, 1e-3)
        base /= base.sum()
    log_post = np.log(base)
    counts = np.zeros(k, dtype=np.int64)
    for label, accuracy in votes:
        if label not in index:
            raise ValueError(f"unknown label {label!r}; expected one of {list(labels)}")
        a = min(max(float(accuracy), 0.01), 0.99)
        like = np.full(k, math.log((1.0 - a) / (k - 1)))
        like[index[label]] = math.log(a)
        log_post += like
        counts[index[label]] += 1
    post = np.exp(log_post - log_post.max())
    post /= post.sum()
    posterior = {label: float(post[i]) for i, label in enumerate(labels)}
    top = int(np.argmax(post))
    probability = float(post[top])
    if not votes:
        return LabelPosterior(None, probability, posterior, "no_votes")
    if not break_vote_ties and int((counts == counts.max()).sum()) > 1:
        return LabelPosterior(None, probability, posterior, "tied_votes")
    if probability <= min_confidence:
        return LabelPosterior(None, probability, posterior, "below_min_confidence")
    return LabelPosterior(labels[top], probability, posterior)


# --- Trivial strategies: moved to annotation.strategies (the qualification room uses them) ----


__all__ = [
    "CHOICES",
    "STRATEGY_LABELS",
    "Decision",
    "DriftResult",
    "GoldDesign",
    "LabelPosterior",
    "QuestionFacts",
    "VoteShare",
    "agreement_decision",
    "bernoulli_cusum_false_alarm",
    "bernoulli_cusum_h",
    "cusum_bernoulli",
    "cusum_time",
    "drop_start",
    "fisher_two_sided",
    "gold_decision",
    "label_posterior",
    "length_bias_decision",
    "position_bias_decision",
    "rate_above_decision",
    "rate_below_decision",
    "reference_decision",
    "rushing_decision",
    "team_rate_decision",
    "time_cusum_h",
    "trivial_strategy_scores",
    "trivial_strategy_warnings",
    "vote_share_confidence",
]
