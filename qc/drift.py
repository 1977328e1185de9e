"""Drift: an annotator whose work gets worse after qualifying.

The all-time figures protect a careful annotator who later drifts (fatigue, rushing, pasting
items into a chatbot): the good history outweighs the new work for a long time. Three change
detectors of ``qc.evidence`` watch each annotator's work *since they last started* (joined the
stream, or were resumed by a PM), in the order it was submitted, after every full recompute:

``gold``
    Bernoulli CUSUM on golden correctness, from ``p_good`` = the stream's minimum gold accuracy
    + 0.1 down to ``p_bad`` = the minimum − 0.15.
``agreement``
    Bernoulli CUSUM on agreement with the other annotators' leave-one-out majority of the same
    item (non-golden items with such a majority), from the team's agreement rate − 0.05 (on a
    0.05 grid) down to that − 0.2.
``time``
    CUSUM on log(active seconds ÷ the item's reading-time floor) against the annotator's own
    first ``TIME_BASELINE`` judgements: a drop of one standard deviation.

Each is calibrated for a false-alarm probability of ``FALSE_ALARM`` (0.5%) over ``HORIZON`` (500)
observations of an annotator who does not change, so the three together stay ≤ 1.5% over a
shift, beside the gold test's ≤ 2% (``bench/qc_drift_sim.py`` measures the whole loop). The
first detector to alarm gives the **change point** (the observation after the CUSUM was last
zero: the maximum-likelihood start of the change) and its time; ``qc.rules`` pauses the
annotator, takes the work submitted since then out of the count (``excluded_reason`` =
``qc_drift``: the items reopen their slots, the default export leaves it out) and sends it to
review. Work from before the change stays.

Pure computation over the ``StreamData`` arrays of a recompute; the database work is the rule's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

from qc import evidence, metrics

FALSE_ALARM = 0.005
HORIZON = evidence.DRIFT_HORIZON
TIME_BASELINE = evidence.TIME_BASELINE
GOLD_UP, GOLD_DOWN = 0.1, 0.15
AGREE_MARGIN, AGREE_DROP = 0.05, 0.2
DETECTORS = ("gold", "agreement", "time")
LABELS = {
    "gold": "golden answers",
    "agreement": "agreement with the other annotators",
    "time": "labeling time",
}


@dataclass(frozen=True)
class Finding:
    """A detected drift of one annotator: the detector that alarmed first, its result, and the
    times of the estimated change and of the alarm."""

    annotator_index: int
    detector: str
    result: evidence.DriftResult
    change_at: datetime
    alarm_at: datetime
    judgements_since: int

    @property
    def message(self) -> str:
        return (
            f"Work changed from {self.change_at:%Y-%m-%d %H:%M} UTC ({LABELS[self.detector]}; "
            f"{self.judgements_since} judgement{'s' if self.judgements_since != 1 else ''} since): "
            f"{self.result.message}"
        )


def _grid(value: float, step: float = 0.05) -> float:
    return round(round(value / step) * step, 6)


def gold_rates(threshold: float) -> tuple[float, float]:
    """(p_good, p_bad) of the gold drift detector for the stream's minimum accuracy."""
    p_good = min(threshold + GOLD_UP, (threshold + 1.0) / 2.0)
    p_bad = max(threshold - GOLD_DOWN, threshold / 2.0)
    return round(p_good, 6), round(p_bad, 6)


def agreement_rates(team_rate: float | None) -> tuple[float, float] | None:
    """(p_good, p_bad) of the agreement drift detector from the team's agreement rate; None when
    the team's rate is unknown or too low for a drop to be told from noise."""
    if team_rate is None or not math.isfinite(team_rate):
        return None
    p_good = min(_grid(team_rate - AGREE_MARGIN), 0.95)
    p_bad = round(p_good - AGREE_DROP, 6)
    if p_bad < 0.2:
        return None
    return p_good, p_bad


def detect(
    data: metrics.StreamData,
    *,
    min_gold_accuracy: float,
    starts: dict[int, float],
    annotators: list[int] | None = None,
) -> list[Finding]:
    """The drift findings of a stream's annotators (indices into ``data``'s annotators).

    ``starts``: per annotator index, the POSIX time of their last start (the resume after a
    pause, or 0); only work submitted after it is watched. ``annotators``: the indices to look at
    (default all). At most one finding per annotator: the detector that alarmed earliest."""
    order = np.lexsort((data.submitted_at, data.annotator))
    bounds = np.searchsorted(data.annotator[order], np.arange(data.n_annotators + 1))
    plain = ~data.item_golden[data.item]
    rows = plain & (data.choice >= 0)
    majority = metrics._loo_majority(data, rows)
    has = majority >= 0
    team = float((majority[has] == data.choice[has]).mean()) if has.any() else None
    agree_rates = agreement_rates(team)
    g_good, g_bad = gold_rates(min_gold_accuracy)
    floor = metrics.reading_seconds(data.len_a + data.len_b)[data.item]
    relative = np.where(floor > 0, data.active_seconds / np.where(floor > 0, floor, 1.0), data.active_seconds)

    findings = []
    for index in annotators if annotators is not None else range(data.n_annotators):
        mine = order[bounds[index] : bounds[index + 1]]
        mine = mine[data.submitted_at[mine] > starts.get(index, 0.0)]
        if not len(mine):
            continue
        candidates: list[tuple[str, evidence.DriftResult, np.ndarray]] = []
        gold_rows = mine[data.gold_correct[mine] >= 0]
        if len(gold_rows):
            result = evidence.cusum_bernoulli(
                data.gold_correct[gold_rows] == 1,
                g_good,
                g_bad,
                horizon=HORIZON,
                false_alarm=FALSE_ALARM,
                what="gold accuracy",
            )
            candidates.append(("gold", result, gold_rows))
        agree_rows = mine[has[mine]]
        if agree_rates is not None and len(agree_rows):
            result = evidence.cusum_bernoulli(
                majority[agree_rows] == data.choice[agree_rows],
                *agree_rates,
                horizon=HORIZON,
                false_alarm=FALSE_ALARM,
                what="agreement with the others' majority",
            )
            candidates.append(("agreement", result, agree_rows))
        timed = mine[~np.isnan(relative[mine])]
        if len(timed) > TIME_BASELINE:
            result = evidence.cusum_time(
                relative[timed], baseline_n=TIME_BASELINE, horizon=HORIZON, false_alarm=FALSE_ALARM
            )
            candidates.append(("time", result, timed))
        alarms = [
            (float(data.submitted_at[where[r.alarm_index]]), name, r, where)
            for name, r, where in candidates
            if r.detected and r.alarm_index is not None and r.change_index is not None
        ]
        if not alarms:
            continue
        alarm_time, name, result, where = min(alarms, key=lambda a: a[0])
        assert result.change_index is not None
        change_time = float(data.submitted_at[where[result.change_index]])
        if name == "gold" and result.change_index > 0:
            # Golden answers are sparse: the drift began after the last golden answer that was
            # still part of the good stretch, so everything after it is suspect.
            change_time = float(data.submitted_at[where[result.change_index - 1]]) + 1e-3
        since = int((data.submitted_at[mine] >= change_time).sum())
        findings.append(
            Finding(
                annotator_index=index,
                detector=name,
                result=result,
                change_at=datetime.fromtimestamp(change_time, tz=UTC),
                alarm_at=datetime.fromtimestamp(alarm_time, tz=UTC),
                judgements_since=since,
            )
        )
    return findings
