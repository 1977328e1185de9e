"""QC figures of one stream, computed from compact numpy arrays (no ORM in here).

``qc.services`` loads a stream's current judgements into a ``StreamData`` (one array element per
judgement) and calls ``compute_figures``; everything below is plain arithmetic on those arrays, so
it can be tested with hand-made data and runs a 100,000-judgement stream in well under a second.

Each figure is a ``Figure``: a value, the sample it was computed on, whether it is flagged and the
details a PM needs to read it (p-values, expected rates, breakdowns). The definitions, which the
PM dashboard, the annotator feedback page and ``docs/qc.md`` repeat in plain words:

Conventions
    *Choice* codes are canonical: A (= ``responses[0]``), B, tie, both_bad. The *pressed* answer is
    what the annotator clicked on the page: the response shown first, the one shown second, tie
    or both bad (``display_order[0]`` says which canonical response was shown first).
    Golden items are left out of every agreement figure (their answers are known; they measure
    annotators, not the data). Nothing flags anyone below ``min_sample`` judgements in the
    figure's sample (``min_gold_count`` for golden-item figures). Every flag is a decision of
    ``qc.evidence`` with a stated error rate, kept in the figure's ``details["evidence"]`` (the
    test, n, k, the confidence reached, alpha and a sentence): gold accuracy and agreement below
    the stream's minimum by the sequential test on counts (≤ 2% for an annotator 0.1 above the
    minimum, however often the recompute looks); rushing and straightlining by a one-sided exact
    binomial test (5%); tests against a reference rate (position, length, harmful flags, tie,
    skip and rejection rates) by a two-sided exact binomial test Bonferroni-corrected over the
    annotators tested (family-wise ``SIGNIFICANCE``) *and* a difference of at least the figure's
    minimum effect: a PM acts on effects that matter, not on any p-value a big sample makes tiny.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from scipy import sparse
from scipy.stats import binomtest

from qc import evidence

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

CHOICES = ("A", "B", "tie", "both_bad")
CHOICE_CODE = {name: code for code, name in enumerate(CHOICES)}
A, B, TIE, BOTH_BAD = range(4)
NO_CHOICE = -1  # a ranking judgement
PRESSED = ("first", "second", "tie", "both_bad")  # what was clicked, in display terms

# The recent window: judgements submitted in the last RECENT_DAYS days.
RECENT_DAYS = 7
# Flag a test against a reference rate only when p < SIGNIFICANCE (two-sided binomial test)...
SIGNIFICANCE = 0.01
# ...and the rate is at least this far from the reference.
MIN_EFFECT = 0.10  # position bias, length bias, tie / skip / rejection rate
MIN_EFFECT_HARMFUL = 0.02  # harmful flags are rare: 0% against a stream's 5% matters
# "Clearly longer": at least CLEARLY_LONGER times the characters of the other response.
CLEARLY_LONGER = 1.5
# Reading-time floor for "rushing": both responses read at READING_WPM words per minute (a fast
# skim; the average adult reads ~240), counting CHARS_PER_WORD characters (spaces included) a word.
READING_WPM = 400
CHARS_PER_WORD = 6
# Rolling gold accuracy: the last GOLD_ROLLING golden answers (at least stream.min_gold_count).
GOLD_ROLLING = 20
# Cohen's kappa is reported for annotator pairs with at least this many shared items.
KAPPA_MIN_SHARED = 20
STRAIGHTLINING_SHARE = 0.9
# Ordinal alpha: signed preference strength on a 5-point scale (index 0..4 = scale value 1..5).
#   1 = A clearly/much better, 2 = A slightly better, 3 = tie, 4 = B slightly, 5 = B clearly/much.
# "Clearly" and "much" share a point: the 5-point scale keeps the middle (slightly) apart from
# the strong preferences. A or B without a strength is left out (the stream did not ask for it).
ORDINAL_SCALE = (1, 2, 3, 4, 5)
# Logistic regression of the choice: L2 penalty with scikit-learn's default strength (C = 1).
LOGIT_C = 1.0
# Integrity signals: which part of the item a copy took text from (bits of StreamData.copied).
COPIED_PROMPT = 1
COPIED_RESPONSE = 2


@dataclass(frozen=True)
class Thresholds:
    """A stream's QC settings as plain numbers (``Stream`` fields of the same names)."""

    min_sample: int = 30
    min_gold_count: int = 10
    min_gold_accuracy: float = 0.7
    min_agreement: float = 0.5
    min_seconds: float = 8.0

    @property
    def gold_rolling(self) -> int:
        return max(GOLD_ROLLING, self.min_gold_count)


@dataclass
class Figure:
    """One QC figure: ``value`` (None when it cannot be computed), its sample size, whether it is
    flagged, and details (p-values, expected rates, breakdowns)."""

    metric: str
    value: float | None
    sample_size: int
    flagged: bool = False
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"value": self.value, "sample_size": self.sample_size, "flagged": self.flagged, "details": self.details}


@dataclass
class StreamData:
    """A stream's current judgements as parallel arrays (index = judgement), its items' facts
    (index = item), and per-annotator counts loaded apart (index = annotator)."""

    # Per judgement.
    item: IntArray  # item index
    annotator: IntArray  # annotator index
    choice: IntArray  # CHOICE_CODE, NO_CHOICE for a ranking
    strength: IntArray  # 1..3, 0 when none
    first_shown: IntArray  # canonical index of the response shown first, -1 unknown
    active_seconds: FloatArray  # nan when unknown
    submitted_at: FloatArray  # POSIX seconds
    flag_harmful: BoolArray
    gold_correct: IntArray  # 1/0 on golden items, -1 elsewhere
    # Per item.
    item_golden: BoolArray
    item_harmful: BoolArray  # golden item whose right answer includes the harmful flag
    len_a: IntArray  # characters of responses[0] / responses[1]
    len_b: IntArray
    # Rubric ratings, one element per (judgement, attribute, response) rating given.
    rubric_row: IntArray  # judgement index
    rubric_attribute: IntArray  # index into rubric_attributes
    rubric_response: IntArray  # canonical response index
    rubric_value: IntArray  # 0..4
    rubric_attributes: list[str]
    # Per annotator.
    n_annotators: int
    skipped: IntArray  # skipped assignments
    reviewed: IntArray  # judgements reviewed at least once
    rejected: IntArray  # judgements rejected by at least one reviewer
    # Integrity signals (``Judgement.signals``), per judgement; None: not loaded (all unrecorded).
    copied: IntArray | None = None  # COPIED_PROMPT | COPIED_RESPONSE bits, 0 none, -1 not recorded
    pasted: IntArray | None = None  # 1 pasted into the rationale, 0 not, -1 not recorded
    away_seconds: FloatArray | None = None  # hidden + unfocused seconds, nan not recorded
    first_action_seconds: FloatArray | None = None  # served → first action (the page's measure), nan unknown
    # Multi-axis task kinds (helpful_safe, attribute_pairwise): per axis name, in page order, the
    # answer of each judgement on that axis as a choice code (A, B, TIE; NO_CHOICE when missing).
    axes: dict[str, IntArray] = field(default_factory=dict)
    # helpful_safe: per judgement and canonical response, 1 safe, 0 unsafe, -1 not given (n × 2).
    safety: IntArray = field(default_factory=lambda: np.zeros((0, 2), dtype=np.int64))
    # Per judgement: the guideline version it was made under, 0 for "before versions were
    # recorded" (``Judgement.guideline_version``). Empty when not loaded (hand-made data).
    guideline_version: IntArray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    @property
    def n_items(self) -> int:
        return len(self.item_golden)

    @property
    def n(self) -> int:
        return len(self.item)

    def select(self, keep: BoolArray, *, skipped: IntArray, reviewed: IntArray, rejected: IntArray) -> StreamData:
        """The same stream restricted to the judgements in ``keep`` (a window), with that window's
        per-annotator counts."""
        new_index = np.cumsum(keep) - 1
        rubric_keep = keep[self.rubric_row]
        return StreamData(
            item=self.item[keep],
            annotator=self.annotator[keep],
            choice=self.choice[keep],
            strength=self.strength[keep],
            first_shown=self.first_shown[keep],
            active_seconds=self.active_seconds[keep],
            submitted_at=self.submitted_at[keep],
            flag_harmful=self.flag_harmful[keep],
            gold_correct=self.gold_correct[keep],
            item_golden=self.item_golden,
            item_harmful=self.item_harmful,
            len_a=self.len_a,
            len_b=self.len_b,
            rubric_row=new_index[self.rubric_row[rubric_keep]],
            rubric_attribute=self.rubric_attribute[rubric_keep],
            rubric_response=self.rubric_response[rubric_keep],
            rubric_value=self.rubric_value[rubric_keep],
            rubric_attributes=self.rubric_attributes,
            n_annotators=self.n_annotators,
            skipped=skipped,
            reviewed=reviewed,
            rejected=rejected,
            copied=None if self.copied is None else self.copied[keep],
            pasted=None if self.pasted is None else self.pasted[keep],
            away_seconds=None if self.away_seconds is None else self.away_seconds[keep],
            first_action_seconds=None if self.first_action_seconds is None else self.first_action_seconds[keep],
            axes={name: codes[keep] for name, codes in self.axes.items()},
            safety=self.safety[keep] if len(self.safety) else self.safety,
            guideline_version=self.guideline_version[keep]
            if len(self.guideline_version) == self.n
            else self.guideline_version,
        )


# A group of figures: the stream's, and per annotator index the annotator's.
Part = tuple[list[Figure], list[list[Figure]]]


@dataclass
class Figures:
    """The result of ``compute_figures``: the stream's figures and each annotator's (by index)."""

    stream: dict[str, Figure]
    annotators: list[dict[str, Figure]]


def reading_seconds(characters: npt.ArrayLike) -> FloatArray:
    """Seconds to skim ``characters`` at READING_WPM words per minute (CHARS_PER_WORD a word)."""
    return np.asarray(characters, dtype=np.float64) / CHARS_PER_WORD / READING_WPM * 60.0


def ordinal_code(choice: IntArray, strength: IntArray) -> IntArray:
    """Index 0..4 on ORDINAL_SCALE for each judgement, -1 where it has no place on the scale."""
    code = np.full(len(choice), -1, dtype=np.int64)
    strong = strength >= 2
    slight = strength == 1
    code[(choice == A) & strong] = 0
    code[(choice == A) & slight] = 1
    code[choice == TIE] = 2
    code[(choice == B) & slight] = 3
    code[(choice == B) & strong] = 4
    return code


def value_counts(units: IntArray, values: IntArray, n_units: int, n_values: int) -> IntArray:
    """units × values matrix of how many judgements gave each value to each unit."""
    flat = np.bincount(units * n_values + values, minlength=n_units * n_values)
    return flat.reshape(n_units, n_values)


def krippendorff_alpha(
    counts: IntArray,
    *,
    level: Literal["nominal", "ordinal", "interval"],
    value_domain: Sequence[float],
    m: IntArray | None = None,
) -> tuple[float | None, int]:
    """Krippendorff's alpha over the units with at least two values, and the number of pairable
    values. None when it is undefined: no pairable unit, or every pairable value the same (no
    variation to disagree on). ``m``: the units' totals (``counts.sum(axis=1)``) when known.

    Alpha = 1 − Σ o·δ² / Σ e·δ² from the coincidence matrix ``o`` (``coincidences``), the expected
    coincidences e_ck = (n_c·n_k − [c = k]·n_c) / (n − 1) and the level's distance δ²
    (``alpha_distances``): Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability" — the
    definition of the ``krippendorff`` package, which the tests check it against, computed in one
    matrix product over the units instead of a units × values × values array."""
    if m is None:
        m = counts.sum(axis=1)
    pairable = m >= 2
    n_v = pairable.astype(np.int64) @ counts  # pairable values per value, exactly
    n = int(n_v.sum())
    if n == 0 or int((n_v > 0).sum()) < 2:
        return None, n
    return alpha_from_coincidences(coincidences(counts, m=m), level=level, value_domain=value_domain), n


def alpha_distances(
    level: Literal["nominal", "ordinal", "interval"], value_domain: Sequence[float], n_v: FloatArray
) -> FloatArray:
    """Krippendorff's squared distance δ²(c, k) between the values of ``value_domain`` (ordered):
    nominal 0 / 1; interval (c − k)²; ordinal (Σ_{g=c..k} n_g − (n_c + n_k) / 2)², with n_g the
    pairable values equal to g (``n_v``, the coincidence matrix's column sums)."""
    values = np.asarray(value_domain, dtype=np.float64)
    if level == "nominal":
        return np.asarray(values[:, None] != values[None, :], dtype=np.float64)
    if level == "interval":
        return np.asarray((values[:, None] - values[None, :]) ** 2, dtype=np.float64)
    index = np.arange(len(values))
    low, high = np.minimum.outer(index, index), np.maximum.outer(index, index)
    cumulative = np.concatenate([[0.0], np.cumsum(n_v)])
    between = cumulative[high + 1] - cumulative[low]
    return np.asarray((between - (n_v[low] + n_v[high]) / 2) ** 2, dtype=np.float64)


def alpha_from_coincidences(
    o: FloatArray, *, level: Literal["nominal", "ordinal", "interval"], value_domain: Sequence[float]
) -> float | None:
    """Krippendorff's alpha of a coincidence matrix (see ``krippendorff_alpha``); None when no
    pairable values disagree by chance (the expected disagreement is 0)."""
    n_v = o.sum(axis=0)
    n = float(n_v.sum())
    if n <= 1:
        return None
    expected_coincidences = (np.outer(n_v, n_v) - np.diag(n_v)) / (n - 1)
    distance = alpha_distances(level, value_domain, n_v)
    expected = float((expected_coincidences * distance).sum())
    if expected <= 0:
        return None
    return _finite(1.0 - float((o * distance).sum()) / expected)


def coincidences(counts: npt.NDArray[Any], *, m: npt.NDArray[Any] | None = None) -> FloatArray:
    """Krippendorff's coincidence matrix of a units × values count matrix (units with fewer than
    two values contribute nothing): o_ck = Σ_u (n_uc·n_uk − [c = k]·n_uc) / (m_u − 1), m_u the
    unit's values (``counts.sum(axis=1)``, passed in when known)."""
    m = (counts.sum(axis=1) if m is None else m).astype(np.float64)
    weight = np.divide(1.0, m - 1, out=np.zeros_like(m), where=m >= 2)
    weighted = counts * weight[:, None]
    return np.asarray(weighted.T @ counts - np.diag(weighted.sum(axis=0)), dtype=np.float64)


def nominal_alpha_from_coincidences(o: FloatArray) -> float | None:
    """Nominal alpha = 1 − D_o / D_e from a coincidence matrix (same value as the package)."""
    n_v = o.sum(axis=0)
    n = n_v.sum()
    expected = (n * n - (n_v * n_v).sum()) / (n - 1) if n > 1 else 0.0
    if expected <= 0:
        return None
    return _finite(1.0 - (o.sum() - np.trace(o)) / expected)


def kappa_from_confusion(confusion: FloatArray) -> float | None:
    """Cohen's kappa from a confusion matrix (rows: rater 1, columns: rater 2); the formula of
    ``sklearn.metrics.cohen_kappa_score`` without weights. None when chance agreement is 1."""
    n = confusion.sum()
    if n == 0:
        return None
    observed = np.trace(confusion) / n
    expected = float(confusion.sum(axis=1) @ confusion.sum(axis=0)) / (n * n)
    if expected >= 1.0:
        return None
    return _finite((observed - expected) / (1.0 - expected))


def binomial_test(k: int, n: int, p: float) -> float | None:
    """Two-sided exact binomial test p-value (``scipy.stats.binomtest``); None on an empty sample."""
    if n <= 0:
        return None
    return float(binomtest(int(k), int(n), min(max(float(p), 0.0), 1.0)).pvalue)


def logistic_by_group(
    group: IntArray, x: FloatArray, y: FloatArray, n_groups: int, *, c: float = LOGIT_C, iterations: int = 30
) -> FloatArray:
    """One L2-penalised logistic regression per group, fitted together by Newton's method.

    Minimises, per group, C·Σ log-loss + ½‖w‖² (the intercept unpenalised): the objective of
    ``sklearn.linear_model.LogisticRegression(C=c)``, which a test checks. All groups are fitted
    at once: each Newton step sums the gradient and the k × k Hessian per group with one
    ``bincount`` per entry (no n × k × k array), so a million rows take well under a second a
    step. Returns (n_groups, 1 + k): intercept then one coefficient per column of ``x``."""
    design = np.column_stack([np.ones(len(y)), x])
    k = design.shape[1]
    columns = [np.ascontiguousarray(design[:, j]) for j in range(k)]
    ridge = np.full(k, 1.0 / c)
    ridge[0] = 0.0
    w = np.zeros((n_groups, k))
    for _ in range(iterations):
        z = np.einsum("ij,ij->i", design, w[group])
        p = 1.0 / (1.0 + np.exp(-np.clip(z, -35, 35)))
        residual = p - y
        grad = np.column_stack([_bincount(group, column * residual, n_groups) for column in columns]) + w * ridge
        weight = p * (1 - p)
        hessian = np.empty((n_groups, k, k))
        for row in range(k):
            weighted = weight * columns[row]
            for col in range(k):
                hessian[:, row, col] = _bincount(group, weighted * columns[col], n_groups)
        hessian += np.diag(ridge + 1e-9)  # a group without data stays at zero instead of failing
        step = np.linalg.solve(hessian, grad[:, :, None])[:, :, 0]
        w -= step
        if np.abs(step).max(initial=0.0) < 1e-8:
            break
    return w


def _bincount(group: IntArray, weights: FloatArray, n_groups: int) -> FloatArray:
    """Σ weights per group, as float64 (``np.bincount`` adds in row order, like ``np.add.at``)."""
    return np.bincount(group, weights=weights, minlength=n_groups).astype(np.float64, copy=False)[:n_groups]


def _sum_by_group(group: IntArray, values: FloatArray, n_groups: int) -> FloatArray:
    """Σ values (rows × columns) per group: one ``bincount`` per column."""
    out = np.zeros((n_groups, values.shape[1]))
    for column in range(values.shape[1]):
        out[:, column] = _bincount(group, values[:, column], n_groups)
    return out


def _finite(value: Any) -> float | None:
    value = float(value)
    return value if np.isfinite(value) else None


def _rate(k: float, n: float) -> float | None:
    return float(k) / float(n) if n > 0 else None


def _round(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(float(value), digits)


def _pct_text(value: float) -> str:
    return f"{value * 100:.1f}".rstrip("0").rstrip(".") + "%"


def _tested(n_by: npt.ArrayLike, min_sample: int) -> int:
    """How many annotators a per-annotator test runs on (its Bonferroni factor)."""
    return max(int((np.asarray(n_by) >= max(min_sample, 1)).sum()), 1)


# Plain words for the figures in the evidence sentences (the pages have their own labels).
LABELS = {
    "position_bias": "Picked the response shown first",
    "length_bias": "Picked the clearly longer response",
    "harmful_flag_rate": "Flagged harmful",
    "tie_rate": "Answered tie",
    "skip_rate": "Skipped",
    "rejection_rate": "Rejected in review",
    "copy_rate": "Copied item text (prompt or responses) on",
    "paste_rate": "Pasted into the rationale on",
}


def _against_reference(
    metric: str,
    k: int,
    n: int,
    expected: float | None,
    *,
    min_sample: int,
    min_effect: float,
    test: bool = True,
    n_tested: int = 1,
    details: dict[str, Any] | None = None,
) -> Figure:
    """A rate k/n tested against ``expected`` (``evidence.reference_decision``: two-sided exact
    binomial test, Bonferroni-corrected over the ``n_tested`` annotators tested). Flagged when
    n ≥ min_sample, the corrected p ≤ SIGNIFICANCE and |rate − expected| ≥ min_effect; details
    say which way, and ``details["evidence"]`` holds the decision."""
    value = _rate(k, n)
    info: dict[str, Any] = {"count": int(k), "expected": _round(expected), "p_value": None, "direction": None}
    flagged = False
    if test and value is not None and expected is not None and n >= min_sample:
        decision = evidence.reference_decision(
            k,
            n,
            expected,
            subject=f"{LABELS.get(metric, metric)}: {k} of {n}",
            reference_text=f"the expected {_pct_text(expected)}",
            no_evidence="no evidence of a difference",
            n_tested=n_tested,
            alpha=SIGNIFICANCE,
            min_effect=min_effect,
            min_count=min_sample,
        )
        info["p_value"] = decision.details["p_value_raw"]
        info["p_value_adjusted"] = decision.p_value
        info["direction"] = decision.details["direction"]
        info["evidence"] = decision.to_dict()
        flagged = decision.pause
    info.update(details or {})
    return Figure(metric, _round(value), int(n), flagged, info)


# --- The figures -----------------------------------------------------------------------------
def compute_figures(data: StreamData, thresholds: Thresholds) -> Figures:
    """Every QC figure of the stream and of each annotator for the judgements in ``data``."""
    counts = np.bincount(data.annotator, minlength=data.n_annotators)
    volume: Part = (
        [
            Figure(
                "judgements",
                float(data.n),
                data.n,
                details={"annotators": int((counts > 0).sum()), "items": len(np.unique(data.item))},
            )
        ],
        [[Figure("judgements", float(c), int(c))] for c in counts.tolist()],
    )
    parts = [
        volume,
        (_alphas(data, thresholds), []),
        _agreement(data, thresholds),
        _alpha_contribution(data),
        _pairwise_kappa(data),
        _gold_accuracy(data, thresholds),
        _harmful(data, thresholds),
        _labeling_time(data, thresholds),
        _rates(data, thresholds),
        _position_and_length(data, thresholds),
        _straightlining(data, thresholds),
        _integrity(data, thresholds),
    ]
    if data.axes:
        parts.append(_per_axis(data, thresholds))
    stream_figures, annotator_figures = _merge(parts, data.n_annotators)
    stream = {f.metric: f for f in stream_figures}
    annotators = [{f.metric: f for f in figures} for figures in annotator_figures]
    return Figures(stream=stream, annotators=annotators)


def _agreement_mask(data: StreamData) -> BoolArray:
    """Judgements that take part in agreement: a pairwise choice on a non-golden item."""
    return (data.choice >= 0) & ~data.item_golden[data.item]


def _alphas(data: StreamData, thresholds: Thresholds) -> list[Figure]:
    """Krippendorff's alpha over the non-golden items judged at least twice.

    - ``alpha_nominal``: the choice A / B / tie (both_bad and rankings left out).
    - ``alpha_ordinal``: signed preference strength on ORDINAL_SCALE.
    - ``alpha_interval``: rubric ratings 0–4; a unit is one (item, attribute, response); details
      give the alpha of each attribute.
    Sample size = pairable values. Flagged (nominal only) when below stream.min_agreement.
    """
    plain = ~data.item_golden[data.item]
    nominal_rows = plain & (data.choice >= 0) & (data.choice <= TIE)
    counts = value_counts(data.item[nominal_rows], data.choice[nominal_rows], data.n_items, 3)
    nominal, n_nominal = krippendorff_alpha(counts, level="nominal", value_domain=[0, 1, 2])
    units = int((counts.sum(axis=1) >= 2).sum())
    figures = [
        Figure(
            "alpha_nominal",
            _round(nominal),
            n_nominal,
            nominal is not None and n_nominal >= thresholds.min_sample and nominal < thresholds.min_agreement,
            {"units": units, "values": ["A", "B", "tie"], "threshold": thresholds.min_agreement},
        )
    ]

    code = ordinal_code(data.choice, data.strength)
    ordinal_rows = plain & (code >= 0)
    counts = value_counts(data.item[ordinal_rows], code[ordinal_rows], data.n_items, 5)
    ordinal, n_ordinal = krippendorff_alpha(counts, level="ordinal", value_domain=ORDINAL_SCALE)
    figures.append(
        Figure(
            "alpha_ordinal",
            _round(ordinal),
            n_ordinal,
            details={
                "units": int((counts.sum(axis=1) >= 2).sum()),
                "scale": {
                    "1": "A clearly or much better",
                    "2": "A slightly better",
                    "3": "tie",
                    "4": "B slightly better",
                    "5": "B clearly or much better",
                },
            },
        )
    )

    rows = plain[data.rubric_row] if data.rubric_row.size else np.zeros(0, dtype=bool)
    n_attributes = max(len(data.rubric_attributes), 1)
    slots = n_attributes * 2
    per_attribute: dict[str, Any] = {}
    interval: float | None = None
    n_interval = 0
    units = 0
    responses_ok = rows & (data.rubric_response < 2)
    if responses_ok.any():
        # unit = item × slots + attribute × 2 + response, built in place (one array per rating).
        unit = data.item[data.rubric_row[responses_ok]]
        unit *= slots
        unit += data.rubric_attribute[responses_ok] * 2
        unit += data.rubric_response[responses_ok]
        value = data.rubric_value[responses_ok]
        del responses_ok
        # Units never rated add nothing: count over every possible unit while they are not many
        # more than the ratings, else over the units rated (compacted by a sort).
        if data.n_items * slots <= 2 * len(unit):
            counts = value_counts(unit, value, data.n_items * slots, 5)
            unit_attribute = (np.arange(len(counts)) % slots) // 2
        else:
            unique_units, compact = np.unique(unit, return_inverse=True)
            counts = value_counts(compact, value, len(unique_units), 5)
            unit_attribute = (unique_units % slots) // 2
        m = counts.sum(axis=1)
        units = int((m >= 2).sum())
        interval, n_interval = krippendorff_alpha(counts, level="interval", value_domain=range(5), m=m)
        for index, name in enumerate(data.rubric_attributes):
            mine = unit_attribute == index
            alpha, n = krippendorff_alpha(counts[mine], level="interval", value_domain=range(5), m=m[mine])
            per_attribute[name] = {"value": _round(alpha), "sample_size": n}
    figures.append(
        Figure("alpha_interval", _round(interval), n_interval, details={"units": units, "attributes": per_attribute})
    )
    return figures


def _loo_majority(data: StreamData, rows: BoolArray) -> IntArray:
    """For each judgement in ``rows``: the choice a strict majority of the *other* judgements of
    the same item made (A, B, tie or both_bad), -1 when there is none (no other judgement, or a
    tie for most votes). Other rows get -1."""
    majority = np.full(data.n, -1, dtype=np.int64)
    if not rows.any():
        return majority
    item, choice = data.item[rows], data.choice[rows]
    counts = value_counts(item, choice, data.n_items, 4)
    others = counts[item].copy()
    others[np.arange(len(item)), choice] -= 1
    top = others.max(axis=1)
    unique = (others == top[:, None]).sum(axis=1) == 1
    majority[np.flatnonzero(rows)] = np.where(unique & (top > 0), others.argmax(axis=1), -1)
    return majority


def _agreement(data: StreamData, thresholds: Thresholds) -> Part:
    """``agreement``: the share of an annotator's choices (A / B / tie / both_bad, non-golden
    items) that match the strict majority of the other annotators of the same item (leave one
    out; items without such a majority are left out). Details give Cohen's kappa between the
    annotator and that majority — agreement corrected for chance, on alpha's scale — and the
    annotator is flagged when the evidence shows agreement below the rate that kappa =
    stream.min_agreement means for them (chance + min_agreement × (1 − chance);
    ``evidence.agreement_decision``). The stream figure pools every judgement."""
    rows = _agreement_mask(data)
    majority = _loo_majority(data, rows)
    has = majority >= 0
    agree = has & (majority == data.choice)
    n_by = np.bincount(data.annotator[has], minlength=data.n_annotators)
    agree_by = np.bincount(data.annotator[agree], minlength=data.n_annotators)
    confusion = np.zeros((data.n_annotators, 4, 4))
    np.add.at(confusion, (data.annotator[has], data.choice[has], majority[has]), 1)
    per_annotator = []
    for index in range(data.n_annotators):
        kappa = kappa_from_confusion(confusion[index])
        n = int(n_by[index])
        details: dict[str, Any] = {"kappa": _round(kappa), "threshold": thresholds.min_agreement}
        flagged = False
        if n:
            # min_agreement is a kappa: the agreement rate it means for this annotator is
            # chance + min_agreement × (1 − chance), chance from the confusion's margins.
            chance = float(confusion[index].sum(axis=1) @ confusion[index].sum(axis=0)) / n**2
            rate = min(max(chance + thresholds.min_agreement * (1.0 - chance), 0.05), 0.95)
            decision = evidence.agreement_decision(
                int(agree_by[index]), n, rate, min_count=max(thresholds.min_sample, 1)
            )
            flagged = decision.pause
            details.update(
                {"chance_agreement": _round(chance), "threshold_rate": _round(rate), "evidence": decision.to_dict()}
            )
        per_annotator.append([Figure("agreement", _round(_rate(agree_by[index], n)), n, flagged, details)])
    n_all = int(has.sum())
    stream = Figure(
        "agreement",
        _round(_rate(agree.sum(), n_all)),
        n_all,
        details={"kappa": _round(kappa_from_confusion(confusion.sum(axis=0)))},
    )
    return [stream], per_annotator


def _alpha_contribution(data: StreamData) -> Part:
    """``alpha_contribution``: nominal alpha of the stream minus nominal alpha with this
    annotator's judgements removed. Negative: the stream agrees better without them. Sample size =
    the annotator's judgements in the nominal alpha. Not flagged on its own (``agreement`` is)."""
    rows = _agreement_mask(data) & (data.choice <= TIE)
    item, choice, annotator = data.item[rows], data.choice[rows], data.annotator[rows]
    counts = value_counts(item, choice, data.n_items, 3)
    total = coincidences(counts)
    alpha_all = nominal_alpha_from_coincidences(total)
    # Removing one judgement changes only its item's row of the count matrix: the coincidence
    # matrix without an annotator is the total minus, for each of their items, the item's old
    # contribution plus its new one.
    before = counts[item]
    after = before.copy()
    after[np.arange(len(item)), choice] -= 1
    delta = _per_row_coincidences(after) - _per_row_coincidences(before)
    per_annotator_delta = _sum_by_group(annotator, delta.reshape(len(item), 9), data.n_annotators).reshape(-1, 3, 3)
    in_alpha = np.bincount(annotator[before.sum(axis=1) >= 2], minlength=data.n_annotators)
    figures = []
    for index in range(data.n_annotators):
        without = nominal_alpha_from_coincidences(total + per_annotator_delta[index])
        value = None if alpha_all is None or without is None or in_alpha[index] == 0 else alpha_all - without
        figures.append(
            [
                Figure(
                    "alpha_contribution",
                    _round(value),
                    int(in_alpha[index]),
                    details={"alpha": _round(alpha_all), "alpha_without": _round(without)},
                )
            ]
        )
    return [], figures


def _per_row_coincidences(counts: IntArray) -> FloatArray:
    m = counts.sum(axis=1).astype(np.float64)
    weight = np.divide(1.0, m - 1, out=np.zeros_like(m), where=m >= 2)
    outer = counts[:, :, None] * counts[:, None, :] - counts[:, :, None] * np.eye(counts.shape[1])[None]
    return np.asarray(outer * weight[:, None, None], dtype=np.float64)


def _pairwise_kappa(data: StreamData) -> Part:
    """``cohen_kappa``: Cohen's kappa on the choice (A / B / tie / both_bad) for every annotator
    pair sharing at least KAPPA_MIN_SHARED non-golden items. An annotator's value is the mean over
    their partners (details list each partner: ``annotator`` — the run's index here, the user id
    once stored —, ``shared``, ``kappa``); the stream's is the mean over all pairs. Sample size =
    shared items summed over those pairs. All pairs are computed at once from confusion matrices
    (the formula of scikit-learn's ``cohen_kappa_score``, checked against it in the tests). Not
    flagged on its own."""
    rows = _agreement_mask(data)
    item, choice, annotator = data.item[rows], data.choice[rows], data.annotator[rows]
    n_a = data.n_annotators
    presence = sparse.csr_matrix((np.ones(len(item)), (annotator, item)), shape=(n_a, max(data.n_items, 1)))
    shared = sparse.triu(presence @ presence.T, k=1).tocoo()
    keep = shared.data >= KAPPA_MIN_SHARED
    pair_a, pair_b = shared.row[keep], shared.col[keep]
    per_annotator_pairs: list[list[dict[str, Any]]] = [[] for _ in range(n_a)]
    kappas: list[float] = []
    n_stream = 0
    if len(pair_a):
        confusions = _pair_confusions(item, choice, annotator, n_a, pair_a, pair_b)
        for p, (a, b) in enumerate(zip(pair_a.tolist(), pair_b.tolist(), strict=True)):
            kappa = kappa_from_confusion(confusions[p].reshape(4, 4))
            n = int(confusions[p].sum())
            if kappa is None:
                continue
            kappas.append(kappa)
            n_stream += n
            per_annotator_pairs[a].append({"annotator": b, "shared": n, "kappa": _round(kappa)})
            per_annotator_pairs[b].append({"annotator": a, "shared": n, "kappa": _round(kappa)})
    figures = []
    for pairs in per_annotator_pairs:
        values = [p["kappa"] for p in pairs]
        figures.append(
            [
                Figure(
                    "cohen_kappa",
                    _round(float(np.mean(values))) if values else None,
                    sum(p["shared"] for p in pairs),
                    details={"pairs": sorted(pairs, key=lambda p: p["kappa"])},
                )
            ]
        )
    stream = Figure(
        "cohen_kappa",
        _round(float(np.mean(kappas))) if kappas else None,
        n_stream,
        details={
            "pairs": len(kappas),
            "min": _round(min(kappas)) if kappas else None,
            "median": _round(float(np.median(kappas))) if kappas else None,
            "max": _round(max(kappas)) if kappas else None,
            "min_shared": KAPPA_MIN_SHARED,
        },
    )
    return [stream], figures


def _pair_confusions(
    item: IntArray, choice: IntArray, annotator: IntArray, n_annotators: int, pair_a: IntArray, pair_b: IntArray
) -> FloatArray:
    """The 4 × 4 confusion matrix (flattened: a's choice × 4 + b's) of each annotator pair
    (``pair_a[p]`` < ``pair_b[p]``) over the items both judged. Built from the pairs of judgements
    within each item (sorted by item, then annotator) with one ``bincount``, not a set
    intersection per annotator pair."""
    order = np.lexsort((annotator, item))
    item, choice, annotator = item[order], choice[order], annotator[order]
    wanted = pair_a.astype(np.int64) * n_annotators + pair_b
    by_key = np.argsort(wanted, kind="stable")
    sorted_keys = wanted[by_key]
    confusions = np.zeros(len(wanted) * 16, dtype=np.int64)
    # Judgement i pairs with i + offset while both are of one item; only the judgements whose item
    # went on at the last offset can go on at the next, so the work is the number of pairs.
    first = np.arange(len(item))
    offset = 1
    while len(first):
        first = first[first + offset < len(item)]
        first = first[item[first] == item[first + offset]]
        second = first + offset
        other = annotator[first] != annotator[second]  # the same annotator twice is no pair
        a, b = annotator[first[other]], annotator[second[other]]
        keys = a * n_annotators + b
        position = np.searchsorted(sorted_keys, keys).clip(max=len(sorted_keys) - 1)
        found = sorted_keys[position] == keys
        confusions += np.bincount(
            by_key[position[found]] * 16 + choice[first[other][found]] * 4 + choice[second[other][found]],
            minlength=len(confusions),
        )
        offset += 1
    return confusions.reshape(-1, 16).astype(np.float64)


def _gold_accuracy(data: StreamData, thresholds: Thresholds) -> Part:
    """``gold_accuracy``: correct / answered golden items (``gold_answer_correct``), all of them;
    ``gold_accuracy_rolling``: the same over the annotator's last ``thresholds.gold_rolling``
    golden answers. Both flag below stream.min_gold_accuracy once at least stream.min_gold_count
    golden items were answered."""
    golden = data.gold_correct >= 0
    annotator, correct, when = data.annotator[golden], data.gold_correct[golden], data.submitted_at[golden]
    order = np.lexsort((when, annotator))
    starts = np.searchsorted(annotator[order], np.arange(data.n_annotators + 1))
    per_annotator = []
    for index in range(data.n_annotators):
        mine = correct[order[starts[index] : starts[index + 1]]]
        last = mine[-thresholds.gold_rolling :]
        per_annotator.append(
            [
                gold_figure("gold_accuracy", int(mine.sum()), len(mine), thresholds),
                gold_figure("gold_accuracy_rolling", int(last.sum()), len(last), thresholds),
            ]
        )
    stream = Figure("gold_accuracy", _round(_rate(correct.sum(), len(correct))), len(correct))
    return [stream], per_annotator


def gold_figure(metric: str, correct: int, n: int, thresholds: Thresholds) -> Figure:
    """A gold accuracy figure: flagged when the evidence shows accuracy below min_gold_accuracy
    (``evidence.rate_below_decision``: the sequential test on counts, ≥ 95% confidence), after
    at least min_gold_count answers."""
    value = _rate(correct, n)
    decision = evidence.rate_below_decision(
        correct,
        n,
        thresholds.min_gold_accuracy,
        subject=f"{correct} of {n} golden answers right",
        rate_name="accuracy",
        empty="No golden answers yet.",
        min_count=max(thresholds.min_gold_count, 1),
    )
    return Figure(
        metric,
        _round(value),
        n,
        decision.pause,
        {
            "correct": correct,
            "threshold": thresholds.min_gold_accuracy,
            "min_count": thresholds.min_gold_count,
            "evidence": decision.to_dict(),
        },
    )


def _loo_rates(
    metric: str,
    k_by: FloatArray,
    n_by: FloatArray,
    *,
    min_sample: int,
    min_effect: float,
) -> Part:
    """A rate per annotator tested against the rest of the stream, and the stream's pooled rate.

    The reference ("the stream's rate" for this annotator) is the median rate of the *other*
    annotators with at least min_sample in their sample — robust to one extreme colleague, which
    matters in a team of five — or, while fewer than three others qualify, the pooled rate of all
    the others' judgements."""
    k_all, n_all = float(k_by.sum()), float(n_by.sum())
    qualified = n_by >= max(min_sample, 1)
    n_tested = _tested(n_by, min_sample)
    rates = np.divide(k_by, n_by, out=np.zeros_like(k_by), where=n_by > 0)
    figures = []
    for index, (k, n) in enumerate(zip(k_by.tolist(), n_by.tolist(), strict=True)):
        others = qualified.copy()
        others[index] = False
        if others.sum() >= 3:
            expected: float | None = float(np.median(rates[others]))
            basis = "median_of_others"
        else:
            expected = _rate(k_all - k, n_all - n)
            basis = "pooled_others"
        figures.append(
            [
                _against_reference(
                    metric,
                    int(k),
                    int(n),
                    expected,
                    min_sample=min_sample,
                    min_effect=min_effect,
                    n_tested=n_tested,
                    details={"reference": basis},
                )
            ]
        )
    return [Figure(metric, _round(_rate(k_all, n_all)), int(n_all), details={"count": int(k_all)})], figures


def _harmful(data: StreamData, thresholds: Thresholds) -> Part:
    """``harmful_recall``: on golden items marked harmful, the share the annotator flagged as
    harmful; flagged below stream.min_gold_accuracy after stream.min_gold_count such items.
    ``harmful_flag_rate``: the share of ordinary (non-golden) judgements flagged harmful, against
    the stream's rate (``_loo_rates``; two-sided binomial test: under- and over-flagging are both
    flagged, details.direction says which), minimum effect MIN_EFFECT_HARMFUL."""
    on_harmful = data.item_harmful[data.item] & (data.gold_correct >= 0)  # served as golden
    hit = on_harmful & data.flag_harmful
    n_by = np.bincount(data.annotator[on_harmful], minlength=data.n_annotators)
    hit_by = np.bincount(data.annotator[hit], minlength=data.n_annotators)
    recall = []
    for k, n in zip(hit_by.tolist(), n_by.tolist(), strict=True):
        decision = evidence.rate_below_decision(
            k,
            n,
            thresholds.min_gold_accuracy,
            subject=f"Flagged {k} of {n} golden items marked harmful",
            rate_name="recall",
            empty="No golden items marked harmful answered yet.",
            min_count=max(thresholds.min_gold_count, 1),
        )
        recall.append(
            Figure(
                "harmful_recall",
                _round(_rate(k, n)),
                n,
                decision.pause,
                {"flagged_harmful": k, "evidence": decision.to_dict()},
            )
        )
    stream_recall = Figure("harmful_recall", _round(_rate(hit.sum(), on_harmful.sum())), int(on_harmful.sum()))

    plain = ~data.item_golden[data.item]
    flags = plain & data.flag_harmful
    stream_rates, rates = _loo_rates(
        "harmful_flag_rate",
        np.bincount(data.annotator[flags], minlength=data.n_annotators).astype(np.float64),
        np.bincount(data.annotator[plain], minlength=data.n_annotators).astype(np.float64),
        min_sample=thresholds.min_sample,
        min_effect=MIN_EFFECT_HARMFUL,
    )
    return [stream_recall, *stream_rates], [[r, *f] for r, f in zip(recall, rates, strict=True)]


def _labeling_time(data: StreamData, thresholds: Thresholds) -> Part:
    """``labeling_time``: median active seconds (details: p10, p90). *Rushing* (the flag): with at
    least min_sample timed judgements, the evidence shows that *most* judgements (more than half:
    the median) were too fast — below stream.min_seconds, or below the item's reading-time floor
    (both responses at READING_WPM words a minute, CHARS_PER_WORD characters a word) — by a
    one-sided exact binomial test at 5% (``evidence.rate_above_decision``; a sign test of the
    median). details.rushing lists the reasons (which median is below)."""
    timed = ~np.isnan(data.active_seconds)
    floor = reading_seconds(data.len_a + data.len_b)[data.item]
    ratio = np.where(floor > 0, data.active_seconds / np.where(floor > 0, floor, 1.0), np.nan)

    too_fast = (data.active_seconds < thresholds.min_seconds) | (ratio < 1.0)

    def figure(rows: BoolArray | IntArray, flag: bool) -> Figure:
        seconds = data.active_seconds[rows]
        if not len(seconds):
            return Figure("labeling_time", None, 0, details={"min_seconds": thresholds.min_seconds})
        p10, median, p90 = np.percentile(seconds, [10, 50, 90])
        ratios = ratio[rows]
        ratios = ratios[~np.isnan(ratios)]
        ratio_median = float(np.median(ratios)) if len(ratios) else None
        reasons = []
        extra: dict[str, Any] = {}
        if flag:
            fast = int(too_fast[rows].sum())
            decision = evidence.rate_above_decision(
                fast,
                len(seconds),
                0.5,
                subject=f"{fast} of {len(seconds)} judgements faster than {thresholds.min_seconds:g} s or "
                "the time it takes to read both responses",
                empty="No timed judgements yet.",
                min_count=max(thresholds.min_sample, 1),
            )
            extra = {"too_fast": fast, "evidence": decision.to_dict()}
            if decision.pause:
                if median < thresholds.min_seconds:
                    reasons.append("below_min_seconds")
                if ratio_median is not None and ratio_median < 1.0:
                    reasons.append("below_reading_time")
                reasons = reasons or ["mostly_too_fast"]
        return Figure(
            "labeling_time",
            _round(median, 2),
            len(seconds),
            bool(reasons),
            {
                **extra,
                "p10": _round(p10, 2),
                "p90": _round(p90, 2),
                "reading_ratio_median": _round(ratio_median, 3),
                "reading_floor_median": _round(float(np.median(floor[rows])), 2),
                "min_seconds": thresholds.min_seconds,
                "reading_wpm": READING_WPM,
                "rushing": reasons,
            },
        )

    order = np.argsort(data.annotator[timed], kind="stable")
    timed_rows = np.flatnonzero(timed)[order]
    starts = np.searchsorted(data.annotator[timed_rows], np.arange(data.n_annotators + 1))
    # Each annotator's timed rows, ascending (the order a boolean mask selects them in): a slice of
    # one stable sort instead of a mask over every judgement per annotator.
    per_annotator = [
        [figure(timed_rows[starts[index] : starts[index + 1]], flag=True)] for index in range(data.n_annotators)
    ]
    return [figure(timed, flag=False)], per_annotator


def _rates(data: StreamData, thresholds: Thresholds) -> Part:
    """Rates against the rest of the stream (``_loo_rates``; two-sided binomial test, minimum
    effect MIN_EFFECT):

    - ``tie_rate``: ties / pairwise choices (A, B, tie, both_bad).
    - ``skip_rate``: skipped assignments / (skipped + judgements).
    - ``rejection_rate``: judgements rejected by at least one reviewer / judgements reviewed.
    """
    pairwise = data.choice >= 0
    ties = data.choice == TIE
    n_a = data.n_annotators
    judged = np.bincount(data.annotator, minlength=n_a).astype(np.float64)
    parts = [
        _loo_rates(
            "tie_rate",
            np.bincount(data.annotator[ties], minlength=n_a).astype(np.float64),
            np.bincount(data.annotator[pairwise], minlength=n_a).astype(np.float64),
            min_sample=thresholds.min_sample,
            min_effect=MIN_EFFECT,
        ),
        _loo_rates(
            "skip_rate",
            data.skipped.astype(np.float64),
            data.skipped + judged,
            min_sample=thresholds.min_sample,
            min_effect=MIN_EFFECT,
        ),
        _loo_rates(
            "rejection_rate",
            data.rejected.astype(np.float64),
            data.reviewed.astype(np.float64),
            min_sample=thresholds.min_sample,
            min_effect=MIN_EFFECT,
        ),
    ]
    return _merge(parts, n_a)


def _merge(parts: Sequence[Part], n_annotators: int) -> Part:
    stream: list[Figure] = []
    per_annotator: list[list[Figure]] = [[] for _ in range(n_annotators)]
    for part_stream, part_annotators in parts:
        stream.extend(part_stream)
        for index, figures in enumerate(part_annotators):
            per_annotator[index].extend(figures)
    return stream, per_annotator


def _position_and_length(data: StreamData, thresholds: Thresholds) -> Part:
    """Over the non-tie choices (A or B) whose display order is known:

    ``position_bias``: the share that picked the response shown first; two-sided binomial test
    against 0.5 (display order is random, so an unbiased annotator is at 0.5 whatever the data).
    Flagged with p ≤ SIGNIFICANCE after Bonferroni over the annotators tested and
    |share − 0.5| ≥ MIN_EFFECT.

    ``length_bias``: among choices between responses of clearly different length (one at least
    CLEARLY_LONGER × the characters of the other), the share that picked the longer one, against
    the stream's *consensus share*: on the non-golden items with such a length difference where a
    strict majority of A/B choices exists, the share of majorities for the longer response (0.5
    while fewer than min_sample items have one). Two-sided binomial test; flagged like position
    bias (details.direction "over" = prefers longer).

    Both carry ``details.logit``: a logistic regression (L2, C = LOGIT_C) of choosing B on
    ``position`` (+½ when B was shown first, −½ when A was) and ``length`` ((len B − len A) /
    (len A + len B)); a coefficient is the change in log-odds of picking a response for being shown
    first / for a unit of normalised length advantage.
    """
    picked = (data.choice == A) | (data.choice == B)
    rows = picked & (data.first_shown >= 0)
    chosen = data.choice  # 0 = A, 1 = B on these rows
    first = rows & (chosen == data.first_shown)
    n_a = data.n_annotators

    len_a, len_b = data.len_a[data.item].astype(np.float64), data.len_b[data.item].astype(np.float64)
    longer = np.where(len_b > len_a, B, A)
    clear = np.maximum(len_a, len_b) >= CLEARLY_LONGER * np.minimum(len_a, len_b)
    clear &= np.maximum(len_a, len_b) > 0
    length_rows = picked & clear
    picked_longer = length_rows & (chosen == longer)

    # The stream's consensus share of the longer response.
    plain = length_rows & ~data.item_golden[data.item]
    votes = value_counts(data.item[plain], chosen[plain], data.n_items, 2)
    has_majority = votes[:, 0] != votes[:, 1]
    item_longer = np.where(data.len_b > data.len_a, B, A)
    majority_longer = has_majority & (votes.argmax(axis=1) == item_longer)
    consensus_items = int(has_majority.sum())
    consensus = float(majority_longer.sum() / consensus_items) if consensus_items else None
    expected = consensus if consensus is not None and consensus_items >= thresholds.min_sample else 0.5

    # Logistic regression of "chose B" on position and length, one per annotator plus the stream.
    total = len_a + len_b
    x = np.column_stack(
        [
            np.where(data.first_shown == B, 0.5, -0.5),
            np.divide(len_b - len_a, total, out=np.zeros_like(total), where=total > 0),
        ]
    )[rows]
    y = (chosen[rows] == B).astype(np.float64)
    group = data.annotator[rows]
    coefficients = logistic_by_group(group, x, y, n_a) if len(y) else np.zeros((n_a, 3))
    stream_coefficients = logistic_by_group(np.zeros(len(y), dtype=np.int64), x, y, 1)[0] if len(y) else np.zeros(3)
    n_logit = np.bincount(group, minlength=n_a)

    def logit(coef: FloatArray, n: int) -> dict[str, Any] | None:
        if n < thresholds.min_sample:
            return None
        return {"intercept": _round(coef[0]), "position": _round(coef[1]), "length": _round(coef[2]), "n": int(n)}

    first_by = np.bincount(data.annotator[first], minlength=n_a)
    rows_by = np.bincount(data.annotator[rows], minlength=n_a)
    longer_by = np.bincount(data.annotator[picked_longer], minlength=n_a)
    length_by = np.bincount(data.annotator[length_rows], minlength=n_a)
    per_annotator = []
    position_tested, length_tested = _tested(rows_by, thresholds.min_sample), _tested(length_by, thresholds.min_sample)
    for index in range(n_a):
        details = {"logit": logit(coefficients[index], int(n_logit[index]))}
        per_annotator.append(
            [
                _against_reference(
                    "position_bias",
                    int(first_by[index]),
                    int(rows_by[index]),
                    0.5,
                    min_sample=thresholds.min_sample,
                    min_effect=MIN_EFFECT,
                    n_tested=position_tested,
                    details=details,
                ),
                _against_reference(
                    "length_bias",
                    int(longer_by[index]),
                    int(length_by[index]),
                    expected,
                    min_sample=thresholds.min_sample,
                    min_effect=MIN_EFFECT,
                    n_tested=length_tested,
                    details={**details, "consensus_share": _round(consensus), "consensus_items": consensus_items},
                ),
            ]
        )
    stream_logit = {"logit": logit(stream_coefficients, len(y))}
    stream = [
        # A stream-wide pull towards the first position points at the page, not at annotators.
        _against_reference(
            "position_bias",
            int(first.sum()),
            int(rows.sum()),
            0.5,
            min_sample=thresholds.min_sample,
            min_effect=MIN_EFFECT,
            details=stream_logit,
        ),
        Figure(
            "length_bias",
            _round(_rate(picked_longer.sum(), length_rows.sum())),
            int(length_rows.sum()),
            details={
                **stream_logit,
                "count": int(picked_longer.sum()),
                "consensus_share": _round(consensus),
                "consensus_items": consensus_items,
                "clearly_longer": CLEARLY_LONGER,
            },
        ),
    ]
    return stream, per_annotator


def _straightlining(data: StreamData, thresholds: Thresholds) -> Part:
    """``straightlining``: the share of the annotator's pairwise answers that are the same
    *pressed* answer (first shown, second shown, tie, both bad); flagged when the evidence shows
    the share above STRAIGHTLINING_SHARE (one-sided exact binomial test at 5%) with at least
    min_sample answers. details.answer names it, details.counts
    gives all four."""
    rows = (data.choice >= 0) & ((data.choice > B) | (data.first_shown >= 0))
    pressed = np.where(data.choice <= B, (data.choice != data.first_shown).astype(np.int64), data.choice)[rows]
    counts = np.zeros((data.n_annotators, 4), dtype=np.int64)
    np.add.at(counts, (data.annotator[rows], pressed), 1)

    def figure(row: IntArray, flag: bool) -> Figure:
        n = int(row.sum())
        if n == 0:
            return Figure("straightlining", None, 0)
        share = float(row.max() / n)
        answer = PRESSED[int(row.argmax())]
        info: dict[str, Any] = {"answer": answer, "counts": dict(zip(PRESSED, row.tolist(), strict=True))}
        flagged = False
        if flag:
            decision = evidence.rate_above_decision(
                int(row.max()),
                n,
                STRAIGHTLINING_SHARE,
                subject=f"Gave the same answer ({answer.replace('_', ' ')}) {int(row.max())} of {n} times",
                empty="No answers yet.",
                min_count=max(thresholds.min_sample, 1),
            )
            flagged = decision.pause
            info["evidence"] = decision.to_dict()
        return Figure("straightlining", _round(share), n, flagged, info)

    return [figure(counts.sum(axis=0), flag=False)], [[figure(row, flag=True)] for row in counts]


def _codes(values: IntArray | None, n: int) -> IntArray:
    return np.full(n, -1, dtype=np.int64) if values is None else values


def _seconds_or_nan(values: FloatArray | None, n: int) -> FloatArray:
    return np.full(n, np.nan) if values is None else values


def _integrity(data: StreamData, thresholds: Thresholds) -> Part:
    """Integrity signals (``annotation.signals``; issue 14), over the judgements whose page recorded
    them (an API client or a page without JavaScript records nothing: left out, counted in
    ``details.unrecorded``):

    - ``copy_rate``: share of items on which the annotator copied text of the prompt or of the
      responses (details: ``prompt``, ``response``: items per part; ``copied_and_left``: items with
      a copy *and* time away from the page). Flagged when it is **above** the rest of the team's
      rate (the others' items pooled, the annotator's own not included) by Fisher's exact test,
      two-sided, Bonferroni over the annotators tested, p ≤ SIGNIFICANCE, and at least MIN_EFFECT
      above — ``evidence.team_rate_decision``, as length bias; copying *less* than the team is
      never flagged, so the chance of flagging anyone who copies like the others is ≤ half of it.
    - ``paste_rate``: share of items with a paste into the rationale; flagged as ``copy_rate``.
    - ``away_seconds``: mean seconds per item with the page hidden or without the focus while the
      item was open (details: median, p90, ``left``: items with any time away). Shown, never flagged.
    - ``first_interaction``: median seconds from serving the item to the first action on it (the
      page's own measure, ``Judgement.first_interaction_at``; details p10, p90). Shown, never flagged.

    Both rates carry ``details.away_seconds_mean`` (the annotator's mean time away), which the
    alert's sentence quotes: a copy is weak evidence alone; a copy and a long absence together say
    more, and the PM reads both."""
    n_a = data.n_annotators
    copied = _codes(data.copied, data.n)
    pasted = _codes(data.pasted, data.n)
    away = _seconds_or_nan(data.away_seconds, data.n)
    first = _seconds_or_nan(data.first_action_seconds, data.n)
    who = data.annotator
    unrecorded = np.bincount(who[copied < 0], minlength=n_a)
    away_known = ~np.isnan(away)
    away_sum = np.bincount(who[away_known], weights=away[away_known], minlength=n_a)
    away_n = np.bincount(who[away_known], minlength=n_a)
    away_mean = np.divide(away_sum, away_n, out=np.full(n_a, np.nan), where=away_n > 0)
    left = np.bincount(who[away_known & (away > 0)], minlength=n_a)

    def rates(metric: str, hit: BoolArray, recorded: BoolArray, extra: dict[str, IntArray]) -> Part:
        k_by = np.bincount(who[hit], minlength=n_a)
        n_by = np.bincount(who[recorded], minlength=n_a)
        k_all, n_all = int(k_by.sum()), int(n_by.sum())
        n_tested = _tested(n_by, thresholds.min_sample)
        figures = []
        for index in range(n_a):
            k, n = int(k_by[index]), int(n_by[index])
            mean = away_mean[index]
            details: dict[str, Any] = {
                "count": k,
                "expected": _round(_rate(k_all - k, n_all - n)),
                "reference": "pooled_others",
                "unrecorded": int(unrecorded[index]),
                "away_seconds_mean": None if np.isnan(mean) else round(float(mean), 1),
                **{name: int(values[index]) for name, values in extra.items()},
            }
            flagged = False
            if n >= max(thresholds.min_sample, 1):
                decision = evidence.team_rate_decision(
                    k,
                    n,
                    k_all - k,
                    n_all - n,
                    subject=f"{LABELS[metric]} {k} of {n} items",
                    no_evidence="no evidence of a difference",
                    empty="Not enough recorded items (the annotator's or the others').",
                    n_tested=n_tested,
                    alpha=SIGNIFICANCE,
                    min_effect=MIN_EFFECT,
                    min_count=thresholds.min_sample,
                )
                details.update(
                    p_value=decision.details["p_value_raw"],
                    p_value_adjusted=decision.p_value,
                    direction=decision.details["direction"],
                    evidence=decision.to_dict(),
                )
                flagged = decision.pause and decision.details["direction"] == "over"
            figures.append([Figure(metric, _round(_rate(k, n)), n, flagged, details)])
        stream = Figure(metric, _round(_rate(k_all, n_all)), n_all, details={"count": k_all})
        return [stream], figures

    any_copy = copied > 0
    copy_part = rates(
        "copy_rate",
        any_copy,
        copied >= 0,
        {
            "prompt": np.bincount(who[(copied > 0) & ((copied & COPIED_PROMPT) > 0)], minlength=n_a),
            "response": np.bincount(who[(copied > 0) & ((copied & COPIED_RESPONSE) > 0)], minlength=n_a),
            "copied_and_left": np.bincount(who[any_copy & away_known & (away > 0)], minlength=n_a),
        },
    )
    paste_part = rates("paste_rate", pasted > 0, pasted >= 0, {})

    def spread(metric: str, values: FloatArray, centre: Literal["mean", "median"], extra: dict[str, Any]) -> Figure:
        known = values[~np.isnan(values)]
        if not len(known):
            return Figure(metric, None, 0, details=extra)
        p10, median, p90 = np.percentile(known, [10, 50, 90])
        value = float(known.mean()) if centre == "mean" else float(median)
        details = {"median": _round(median, 1), "p10": _round(p10, 1), "p90": _round(p90, 1), **extra}
        return Figure(metric, _round(value, 1), len(known), details=details)

    per_annotator = []
    for index in range(n_a):
        mine = who == index
        per_annotator.append(
            [
                spread("away_seconds", away[mine], "mean", {"left": int(left[index])}),
                spread("first_interaction", first[mine], "median", {}),
            ]
        )
    stream_spread = [
        spread("away_seconds", away, "mean", {"left": int(left.sum())}),
        spread("first_interaction", first, "median", {}),
    ]
    return _merge([copy_part, paste_part, (stream_spread, per_annotator)], n_a)


# --- Multi-axis task kinds --------------------------------------------------------------------
def _per_axis(data: StreamData, thresholds: Thresholds) -> Part:
    """``axes``: the pairwise figures computed on each axis of a multi-axis stream (helpful_safe:
    helpful, safer; attribute_pairwise: each attribute), exactly as the stream's own figures are
    computed on the choice: the stream is taken with that axis's answer as its choice (no
    strength) and given to ``_alphas`` (nominal alpha over A / B / tie, flagged below
    stream.min_agreement), ``_agreement`` (leave-one-out majority agreement, its kappa and, per
    annotator, the sequential test against the stream's minimum), ``_pairwise_kappa`` (mean Cohen's
    kappa over annotator pairs sharing KAPPA_MIN_SHARED items) and ``_position_and_length``
    (position bias: binomial test against 0.5, Bonferroni over the annotators; length bias against
    the axis's consensus). The stream's own figures stay those of ``choice`` (the main axis), which
    the QC rules act on; these say on which axis people disagree or lean, and are not acted on.

    helpful_safe also gets ``safe_alpha``: nominal alpha of the safe / unsafe flags, a unit being
    one (item, response). The figure's value is the lowest alpha over the axes; sample size = the
    judgements with axes. Details list one entry per axis, in page order."""
    zeros = np.zeros(data.n, dtype=np.int64)
    stream_axes: list[dict[str, Any]] = []
    annotator_axes: list[list[dict[str, Any]]] = [[] for _ in range(data.n_annotators)]
    alphas: list[float] = []
    for name, codes in data.axes.items():
        view = replace(data, choice=codes, strength=zeros)
        nominal = _alphas(view, thresholds)[0]
        agreement_stream, agreement_annotators = _agreement(view, thresholds)
        kappa_stream, _kappa_annotators = _pairwise_kappa(view)
        position_stream, position_annotators = _position_and_length(view, thresholds)
        if nominal.value is not None:
            alphas.append(nominal.value)
        stream_axes.append(
            {
                "name": name,
                "answers": int((codes >= 0).sum()),
                "alpha_nominal": nominal.to_dict(),
                "agreement": agreement_stream[0].to_dict(),
                "cohen_kappa": kappa_stream[0].to_dict(),
                "position_bias": position_stream[0].to_dict(),
                "length_bias": position_stream[1].to_dict(),
            }
        )
        for index in range(data.n_annotators):
            annotator_axes[index].append(
                {
                    "name": name,
                    "agreement": agreement_annotators[index][0].to_dict(),
                    "position_bias": position_annotators[index][0].to_dict(),
                    "length_bias": position_annotators[index][1].to_dict(),
                }
            )
    details: dict[str, Any] = {"axes": stream_axes}
    if len(data.safety):
        rows = ~data.item_golden[data.item][:, None] & (data.safety >= 0)
        judgement, response = np.nonzero(rows)
        units = data.item[judgement] * 2 + response
        counts = value_counts(units, data.safety[judgement, response], data.n_items * 2, 2)
        alpha, n = krippendorff_alpha(counts, level="nominal", value_domain=[0, 1])
        unsafe = int((data.safety[rows] == 0).sum())
        details["safe_alpha"] = {
            "value": _round(alpha),
            "sample_size": n,
            "units": int((counts.sum(axis=1) >= 2).sum()),
            "unsafe_share": _round(_rate(unsafe, int(rows.sum()))),
        }
    n_axes = int(np.any(np.column_stack(list(data.axes.values())) >= 0, axis=1).sum()) if data.n else 0
    stream = Figure("axes", _round(min(alphas)) if alphas else None, n_axes, details=details)
    answered = np.bincount(data.annotator, minlength=data.n_annotators)
    per_annotator = [
        [Figure("axes", None, int(answered[index]), details={"axes": entries})]
        for index, entries in enumerate(annotator_axes)
    ]
    return [stream], per_annotator
