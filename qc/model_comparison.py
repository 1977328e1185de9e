"""Model comparison for a dynamic stream: which endpoint (model, checkpoint) do annotators prefer?

Data: every current, counted judgement of a judged turn of the stream (one per turn), with the two
endpoints of the turn's conversation in canonical order. Judgements flagged "cannot judge" are left
out. Outcome for the pair (i, j): a win for the preferred endpoint; **tie and "both bad" count as a
tie** — neither was preferred — (shown separately in the table).

**Bradley–Terry.** P(i preferred to j) = σ(θᵢ − θⱼ). θ is the maximum-likelihood fit with a tie
counted as half a win for each side (the usual treatment, as in Chatbot Arena's first ratings)
and a weak Gaussian prior (an L2 penalty of ``RIDGE`` on θ, i.e. θ ~ N(0, 50)) so a model that won
every comparison still gets a finite rating. Ratings are on the Elo scale:
``1000 + 400·log10(e)·(θᵢ − mean θ)`` — 400 points = 10:1 odds.

**95% intervals**: percentile bootstrap over judged turns (``BOOTSTRAP`` resamples of the turns
with replacement, each refitted; the 2.5th and 97.5th percentiles), seeded so a page shows the
same figures on every view. ``p_better`` for a pair is the share of resamples in which the first
endpoint's rating is above the second's.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import combinations
from typing import Any

import numpy as np
from django.core.cache import cache

from annotation.models import Judgement
from dynamic.models import ConversationCandidate, ModelEndpoint
from projects.models import Stream

BOOTSTRAP = 1000
RIDGE = 0.01
SEED = 20240531
CACHE_SECONDS = 600
ELO = 400 / math.log(10)


@dataclass(frozen=True)
class PairRecord:
    """Win/tie/loss from the first endpoint's side."""

    first: ModelEndpoint
    second: ModelEndpoint
    wins: int
    ties: int
    both_bad: int
    losses: int
    p_better: float | None  # bootstrap share: first rated above second

    @property
    def total(self) -> int:
        return self.wins + self.ties + self.both_bad + self.losses

    @property
    def win_rate(self) -> float | None:
        """Wins plus half the ties and both-bad, over all comparisons."""
        return (self.wins + 0.5 * (self.ties + self.both_bad)) / self.total if self.total else None


@dataclass(frozen=True)
class Rating:
    endpoint: ModelEndpoint
    rating: float
    low: float
    high: float
    comparisons: int
    wins: int
    ties: int
    losses: int


@dataclass(frozen=True)
class ModelComparison:
    stream: Stream
    comparisons: int
    pairs: list[PairRecord]
    ratings: list[Rating]  # best first
    bootstrap: int


def outcomes(stream: Stream) -> list[tuple[int, int, str]]:
    """(endpoint at canonical 0, endpoint at canonical 1, canonical choice) per judged turn. Two
    queries, whatever the number of turns."""
    return [(first, second, choice) for first, second, choice, _at in timed_outcomes(stream)]


def timed_outcomes(stream: Stream) -> list[tuple[int, int, str, datetime]]:
    """``outcomes`` with each judgement's submission time. Two queries."""
    rows = (
        Judgement.objects.filter(
            stream=stream,
            is_current=True,
            counted=True,
            choice__isnull=False,
            flag_cannot_judge=False,
            item__turn__isnull=False,
        )
        .values_list("choice", "item__turn__conversation_id", "submitted_at")
        .order_by()
    )
    endpoints: dict[int, dict[int, int]] = {}
    for conversation_id, position, endpoint_id in ConversationCandidate.objects.filter(
        conversation__stream=stream
    ).values_list("conversation_id", "position", "endpoint_id"):
        endpoints.setdefault(conversation_id, {})[position] = endpoint_id
    result = []
    for choice, conversation_id, submitted_at in rows:
        pair = endpoints.get(conversation_id, {})
        if 0 in pair and 1 in pair:
            result.append((pair[0], pair[1], str(choice), submitted_at))
    return result


def _scores(records: list[tuple[int, int, str]], index: dict[int, int]) -> np.ndarray:
    """Cells (i, j, score of i) with their counts, as an array of shape (cells, 4)."""
    counts: dict[tuple[int, int, float], int] = {}
    for first, second, choice in records:
        i, j = index[first], index[second]
        score = 1.0 if choice == "A" else 0.0 if choice == "B" else 0.5
        counts[(i, j, score)] = counts.get((i, j, score), 0) + 1
    return np.array([[i, j, s, c] for (i, j, s), c in sorted(counts.items())], dtype=float).reshape(-1, 4)


def fit_bradley_terry(
    k: int, cells: np.ndarray, counts: np.ndarray | None = None, start: np.ndarray | None = None
) -> np.ndarray:
    """θ (length k, mean 0) for cells (i, j, score of i, count); ``counts`` replaces the count
    column (a bootstrap resample), ``start`` is where Newton's method starts (the full-data fit,
    for resamples). The penalised log-likelihood is strictly concave, so Newton's method with step
    halving converges to its unique maximum in a few steps (k is small: a k×k solve per step)."""
    if counts is None:
        counts = cells[:, 3]
    i = cells[:, 0].astype(int)
    j = cells[:, 1].astype(int)
    won = cells[:, 2] * counts  # i's wins (ties are half)
    n = counts
    rows = np.arange(len(cells))
    design = np.zeros((len(cells), k))
    design[rows, i] = 1.0
    design[rows, j] -= 1.0

    def objective(theta: np.ndarray) -> float:
        diff = design @ theta
        # -log σ(d) = log(1 + e^-d), computed stably.
        return float(
            np.sum(won * np.logaddexp(0.0, -diff) + (n - won) * np.logaddexp(0.0, diff)) + RIDGE * theta @ theta
        )

    theta = np.zeros(k) if start is None else start.astype(float).copy()
    value = objective(theta)
    for _ in range(100):
        diff = design @ theta
        p = 0.5 * (1.0 + np.tanh(diff / 2))  # σ(d), stable
        grad = design.T @ (n * p - won) + 2 * RIDGE * theta
        hessian = (design.T * (n * p * (1 - p))) @ design + 2 * RIDGE * np.eye(k)
        step = np.linalg.solve(hessian, grad)
        size = 1.0
        while size > 1e-6:
            candidate = theta - size * step
            candidate_value = objective(candidate)
            if candidate_value <= value:
                break
            size /= 2
        theta, previous, value = candidate, value, candidate_value
        if previous - value < 1e-10 and np.max(np.abs(size * step)) < 1e-8:
            break
    centred: np.ndarray = theta - theta.mean()
    return centred


def fit_bradley_terry_batch(k: int, cells: np.ndarray, counts: np.ndarray, start: np.ndarray) -> np.ndarray:
    """``fit_bradley_terry`` for many resamples at once: ``counts`` has one row of cell counts per
    resample (shape (B, cells)); returns θ per resample (shape (B, k), each of mean 0). The same
    penalised likelihood, the same Newton steps with step halving, run on every row together with
    numpy (a batched k×k solve), so 1,000 bootstrap fits cost a few array operations per step
    instead of 1,000 Python loops (the model comparison page took 1.7 s on its first visit)."""
    i = cells[:, 0].astype(int)
    j = cells[:, 1].astype(int)
    won = cells[:, 2][None, :] * counts  # (B, cells)
    n = counts
    rows = np.arange(len(cells))
    design = np.zeros((len(cells), k))
    design[rows, i] = 1.0
    design[rows, j] -= 1.0
    eye = 2 * RIDGE * np.eye(k)
    outer = (design[:, :, None] * design[:, None, :]).reshape(len(cells), k * k)  # per cell, x xᵀ

    def objective(theta: np.ndarray, which: np.ndarray) -> np.ndarray:
        """The penalised negative log-likelihood of the resamples ``which`` (indices) at ``theta``."""
        diff = theta @ design.T
        loss = won[which] * np.logaddexp(0.0, -diff) + (n[which] - won[which]) * np.logaddexp(0.0, diff)
        return np.asarray(np.sum(loss, axis=1) + RIDGE * np.sum(theta * theta, axis=1))

    theta = np.repeat(start.astype(float)[None, :], len(counts), axis=0)
    value = objective(theta, np.arange(len(counts)))
    active = np.arange(len(counts))  # resamples still converging
    for _ in range(100):
        if not len(active):
            break
        t = theta[active]
        p = 0.5 * (1.0 + np.tanh((t @ design.T) / 2))  # σ(d), stable
        grad = (n[active] * p - won[active]) @ design + 2 * RIDGE * t
        hessian = ((n[active] * p * (1 - p)) @ outer).reshape(-1, k, k) + eye
        step = np.linalg.solve(hessian, grad[:, :, None])[:, :, 0]
        size = np.ones(len(active))
        current = value[active]
        candidate = t - step
        candidate_value = objective(candidate, active)
        worse = candidate_value > current
        while worse.any():  # step halving, row by row, as the single fit does
            size[worse] /= 2
            candidate[worse] = t[worse] - size[worse, None] * step[worse]
            candidate_value[worse] = objective(candidate[worse], active[worse])
            worse = (candidate_value > current) & (size > 1e-6)
        theta[active] = candidate
        value[active] = candidate_value
        done = (current - candidate_value < 1e-10) & (np.max(np.abs(size[:, None] * step), axis=1) < 1e-8)
        active = active[~done]
    centred: np.ndarray = theta - theta.mean(axis=1, keepdims=True)
    return centred


def compare_models(stream: Stream, *, bootstrap: int = BOOTSTRAP) -> ModelComparison:
    """Win/tie/loss per endpoint pair and Bradley–Terry ratings with bootstrap 95% intervals.
    Cached by the exact data (a new judgement changes the key), so a page view after nothing
    changed does not refit."""
    records = outcomes(stream)
    ids = sorted({e for first, second, _ in records for e in (first, second)})
    endpoints = ModelEndpoint.objects.in_bulk(ids)
    index = {endpoint_id: n for n, endpoint_id in enumerate(ids)}
    cells = _scores(records, index)
    key = (
        "qc:model-comparison:"
        + hashlib.sha256(f"{stream.pk}:{bootstrap}:{ids}:{cells.tobytes().hex()}".encode()).hexdigest()
    )
    fitted: dict[str, Any] | None = cache.get(key)
    if fitted is None:
        fitted = _fit(len(ids), cells, bootstrap)
        cache.set(key, fitted, CACHE_SECONDS)

    tallies = {(a, b): [0, 0, 0, 0] for a, b in combinations(ids, 2)}  # wins, ties, both bad, losses of a
    per_model = {e: [0, 0, 0] for e in ids}  # wins, ties, losses
    for first, second, choice in records:
        a, b = sorted((first, second))
        flipped = a != first
        outcome = {"A": 0, "tie": 1, "both_bad": 2, "B": 3}[choice]
        if flipped and outcome in (0, 3):
            outcome = 3 - outcome
        tallies[(a, b)][outcome] += 1
        won = {0: a, 3: b}.get(outcome)
        for e in (a, b):
            per_model[e][0 if won == e else 1 if won is None else 2] += 1

    theta = fitted["theta"]
    samples = fitted["samples"]
    ratings = []
    for endpoint_id, n in index.items():
        wins, ties, losses = per_model[endpoint_id]
        low, high = (
            (float(np.percentile(samples[:, n], 2.5)), float(np.percentile(samples[:, n], 97.5)))
            if len(samples)
            else (math.nan, math.nan)
        )
        ratings.append(
            Rating(
                endpoint=endpoints[endpoint_id],
                rating=1000 + ELO * float(theta[n]),
                low=1000 + ELO * low,
                high=1000 + ELO * high,
                comparisons=wins + ties + losses,
                wins=wins,
                ties=ties,
                losses=losses,
            )
        )
    ratings.sort(key=lambda r: -r.rating)
    pairs = []
    for (a, b), (wins, ties, both_bad, losses) in tallies.items():
        if wins + ties + both_bad + losses == 0:
            continue
        p_better = float(np.mean(samples[:, index[a]] > samples[:, index[b]])) if len(samples) else None
        pairs.append(PairRecord(endpoints[a], endpoints[b], wins, ties, both_bad, losses, p_better))
    pairs.sort(key=lambda p: -p.total)
    return ModelComparison(stream=stream, comparisons=len(records), pairs=pairs, ratings=ratings, bootstrap=bootstrap)


def _fit(k: int, cells: np.ndarray, bootstrap: int) -> dict[str, Any]:
    if k < 2 or not len(cells):
        return {"theta": np.zeros(k), "samples": np.zeros((0, k))}
    theta = fit_bradley_terry(k, cells)
    rng = np.random.default_rng(SEED)
    total = int(cells[:, 3].sum())
    probabilities = cells[:, 3] / total
    # Resampling turns with replacement = a multinomial draw over the distinct outcomes.
    counts = rng.multinomial(total, probabilities, size=bootstrap).astype(float)
    samples = fit_bradley_terry_batch(k, cells, counts, start=theta)
    return {"theta": theta, "samples": samples}


# --- Model versions over time (the program overview) -------------------------------------------
HISTORY_BOOTSTRAP = 200


@dataclass(frozen=True)
class WeekPoint:
    """One endpoint in one week: ``win_rate`` over that week's comparisons (wins plus half the
    ties and both-bad, over ``n``; None without comparisons that week), and the Bradley–Terry
    rating fitted on every judged turn up to the week's end (Elo scale, with the 2.5–97.5th
    percentiles of ``HISTORY_BOOTSTRAP`` resamples; None before the endpoint's first comparison)."""

    n: int
    win_rate: float | None
    rating: float | None
    low: float | None
    high: float | None


@dataclass(frozen=True)
class ModelHistory:
    stream: Stream
    weeks: list[str]  # ISO weeks, "2026-W48", oldest first
    week_starts: list[datetime]
    endpoints: list[ModelEndpoint]  # by first appearance, then name
    points: dict[int, list[WeekPoint]]  # endpoint id → one point per week
    comparisons: int

    @property
    def rows(self) -> list[tuple[str, ModelEndpoint, WeekPoint]]:
        """(week, endpoint, point) for the table, week by week."""
        return [
            (week, endpoint, self.points[endpoint.pk][n])
            for n, week in enumerate(self.weeks)
            for endpoint in self.endpoints
        ]

    def to_chart(self) -> dict[str, Any]:
        """The JSON the chart draws (``json_script``; model names are PM-only, like the page)."""

        def rounded(values: list[float | None], digits: int) -> list[float | None]:
            return [None if v is None else round(v, digits) for v in values]

        models = []
        for endpoint in self.endpoints:
            points = self.points[endpoint.pk]
            models.append(
                {
                    "name": endpoint.name,
                    "model": endpoint.model,
                    "rating": rounded([p.rating for p in points], 1),
                    "low": rounded([p.low for p in points], 1),
                    "high": rounded([p.high for p in points], 1),
                    "win_rate": rounded([p.win_rate for p in points], 4),
                    "n": [p.n for p in points],
                }
            )
        return {"weeks": self.weeks, "models": models}


def _week_start(at: datetime) -> datetime:
    day = at.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return day - timedelta(days=day.weekday())


def model_history(stream: Stream, *, bootstrap: int = HISTORY_BOOTSTRAP) -> ModelHistory:
    """Each endpoint's win rate per ISO week (UTC, Monday to Sunday) of judged turns, and its
    Bradley–Terry rating as of each week's end (the fit of ``compare_models`` on every turn judged
    so far, one scale for all weeks; ratings are relative to the endpoints compared so far). A new
    model version is a new endpoint: its line starts in the week of its first comparison, and the
    gap between its rating and the previous version's is what the last training round moved on
    this stream's prompts. Cached by the exact data, like ``compare_models``."""
    records = sorted(timed_outcomes(stream), key=lambda r: r[3])
    starts = sorted({_week_start(at) for _f, _s, _c, at in records})
    ids = sorted({e for first, second, _c, _at in records for e in (first, second)})
    endpoints = ModelEndpoint.objects.in_bulk(ids)
    first_seen: dict[int, datetime] = {}
    for first, second, _choice, at in records:
        for e in (first, second):
            first_seen.setdefault(e, at)
    order = sorted(ids, key=lambda e: (first_seen[e], endpoints[e].name))
    key = (
        "qc:model-history:"
        + hashlib.sha256(
            f"{stream.pk}:{bootstrap}:{[(f, s, c, a.timestamp()) for f, s, c, a in records]}".encode()
        ).hexdigest()
    )
    points: dict[int, list[WeekPoint]] | None = cache.get(key)
    if points is None:
        points = _history_points(records, starts, order, bootstrap)
        cache.set(key, points, CACHE_SECONDS)
    return ModelHistory(
        stream=stream,
        weeks=[f"{w.isocalendar().year}-W{w.isocalendar().week:02d}" for w in starts],
        week_starts=starts,
        endpoints=[endpoints[e] for e in order],
        points=points,
        comparisons=len(records),
    )


def _history_points(
    records: list[tuple[int, int, str, datetime]], starts: list[datetime], order: list[int], bootstrap: int
) -> dict[int, list[WeekPoint]]:
    points: dict[int, list[WeekPoint]] = {e: [] for e in order}
    upto = 0
    for start in starts:
        end = start + timedelta(days=7)
        week: dict[int, list[float]] = {e: [] for e in order}
        while upto < len(records) and records[upto][3] < end:
            first, second, choice, _at = records[upto]
            score = 1.0 if choice == "A" else 0.0 if choice == "B" else 0.5
            week[first].append(score)
            week[second].append(1.0 - score)
            upto += 1
        seen = sorted({e for f, s, _c, _a in records[:upto] for e in (f, s)}, key=order.index)
        index = {e: n for n, e in enumerate(seen)}
        cells = _scores([(f, s, c) for f, s, c, _a in records[:upto]], index)
        fitted = _fit(len(seen), cells, bootstrap)
        theta, samples = fitted["theta"], fitted["samples"]
        for e in order:
            scores = week[e]
            win_rate = sum(scores) / len(scores) if scores else None
            if e in index and len(seen) >= 2:
                n = index[e]
                low = float(np.percentile(samples[:, n], 2.5)) if len(samples) else math.nan
                high = float(np.percentile(samples[:, n], 97.5)) if len(samples) else math.nan
                points[e].append(
                    WeekPoint(len(scores), win_rate, 1000 + ELO * float(theta[n]), 1000 + ELO * low, 1000 + ELO * high)
                )
            else:
                points[e].append(WeekPoint(len(scores), win_rate, None, None, None))
    return points
