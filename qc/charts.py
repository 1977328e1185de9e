"""The Quality page's charts: their data, each with the table a screen reader (or a browser
without JavaScript) reads instead.

Everything here reads snapshots (``MetricSnapshot``, written by the recompute) or counts rows in
one aggregate query; nothing recomputes a figure. The intervals are stated where they are built:

- proportions from snapshots (gold accuracy, agreement with the others' majority) get a **95%
  Wilson score interval** on (k, n), k = round(value × n) (``wilson``);
- position and length bias get the **exact 95% Clopper–Pearson interval** on the counts the
  metric stored (``details.count`` of ``sample_size``), the interval of the binomial test the
  metric itself runs (``clopper_pearson``).

The JSON goes to the page through ``json_script``; ``static/js/quality_charts.js`` draws it with
Chart.js (``static/vendor/chartjs/``)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db.models import Count, Q
from django.db.models.functions import TruncDate
from django.utils import timezone
from scipy.stats import beta

from annotation.models import Judgement
from projects.models import Stream
from qc.models import MetricSnapshot

Z95 = 1.959963984540054  # the standard normal's 97.5% quantile: a two-sided 95% interval
HISTORY_DAYS = 30  # how far back the over-time and per-day charts look
MAX_POINTS = 60  # over-time series are thinned to at most this many points (the last of each bucket)
# Labeling-time histogram bins, in seconds: finer where people actually are (under two minutes).
TIME_BINS: tuple[float, ...] = (0, 5, 10, 20, 30, 45, 60, 90, 120, 180, 300, 600)
# The model judge's figures drawn over time (``qc.judge_quality``).
JUDGE_HISTORY = ("judge_agreement", "judge_swap_consistency", "judge_gold_accuracy")


def wilson(k: int, n: int) -> tuple[float, float] | None:
    """The 95% Wilson score interval of a proportion k/n (None when n = 0). Unlike the normal
    approximation it stays inside [0, 1] and is honest at k = 0 or k = n on small n."""
    if n <= 0:
        return None
    p = k / n
    denominator = 1 + Z95**2 / n
    centre = (p + Z95**2 / (2 * n)) / denominator
    half = Z95 * math.sqrt(p * (1 - p) / n + Z95**2 / (4 * n * n)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def clopper_pearson(k: int, n: int) -> tuple[float, float] | None:
    """The exact 95% Clopper–Pearson interval of k successes in n trials (None when n = 0): the
    beta quantiles that invert the two-sided binomial test."""
    if n <= 0:
        return None
    low = 0.0 if k == 0 else float(beta.ppf(0.025, k, n - k + 1))
    high = 1.0 if k == n else float(beta.ppf(0.975, k + 1, n - k))
    return low, high


def _r(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(float(value), digits)


@dataclass(frozen=True)
class _Point:
    at: datetime
    value: float | None
    n: int
    low: float | None
    high: float | None


def _thin(points: list[_Point]) -> list[_Point]:
    """At most MAX_POINTS points: the time range cut into equal buckets, the last point of each."""
    if len(points) <= MAX_POINTS:
        return points
    start, end = points[0].at, points[-1].at
    width = (end - start) / MAX_POINTS or timedelta(seconds=1)
    kept: dict[int, _Point] = {}
    for point in points:
        kept[min(int((point.at - start) / width), MAX_POINTS - 1)] = point
    return [kept[key] for key in sorted(kept)]


def _series(rows: Iterable[tuple[datetime, float | None, int]], *, interval: bool) -> list[_Point]:
    points = []
    for at, value, n in rows:
        bounds = wilson(round((value or 0.0) * n), n) if interval and value is not None else None
        points.append(_Point(at, value, n, bounds[0] if bounds else None, bounds[1] if bounds else None))
    return _thin(points)


def _point_json(point: _Point) -> dict[str, Any]:
    return {
        "t": point.at.isoformat(timespec="minutes"),
        "label": point.at.astimezone(UTC).strftime("%Y-%m-%d %H:%M"),
        "v": _r(point.value),
        "n": point.n,
        "lo": _r(point.low),
        "hi": _r(point.high),
    }


def history(
    stream: Stream,
    *,
    now: datetime | None = None,
    annotator_id: int | None = None,
    recent: int | None = None,
    whole: str | None = None,
) -> dict[str, Any]:
    """Gold accuracy and agreement over time, from every snapshot of the last HISTORY_DAYS days
    (window "all": each point is the figure as it stood then). The stream's series carry their 95%
    Wilson band; the stream's agreement is Krippendorff's alpha (no interval: its sampling
    distribution needs a bootstrap the recompute does not store, so none is drawn). Per annotator:
    gold accuracy and agreement with the others' majority, with their Wilson bands. The model
    judge (``judge``): agreement with the people's majority, swap consistency and gold accuracy,
    with their Wilson bands. One query.

    ``recent``: each annotator's series is their latest ``recent`` computations only, but for the
    annotator named ``whole``, or without one the first by name (the page's chart starts on them;
    ``annotator_history`` serves the others)."""
    now = now or timezone.now()
    snapshots = MetricSnapshot.objects.filter(
        stream=stream,
        window=MetricSnapshot.Window.ALL,
        metric__in=("gold_accuracy", "agreement", "alpha_nominal", *JUDGE_HISTORY),
        computed_at__gte=now - timedelta(days=HISTORY_DAYS),
    )
    if annotator_id is not None:  # one person's series only (``annotator_history``)
        snapshots = snapshots.filter(annotator_id=annotator_id)
    rows = snapshots.order_by("computed_at", "id").values_list(
        "metric", "annotator_id", "annotator__username", "computed_at", "value", "sample_size"
    )
    by_key: dict[tuple[str, int | None], list[tuple[datetime, float | None, int]]] = {}
    names: dict[int, str] = {}
    for metric, annotator_id, username, at, value, n in rows:
        by_key.setdefault((metric, annotator_id), []).append((at, value, n))
        if annotator_id is not None:
            names[annotator_id] = username
    stream_series = {
        "gold_accuracy": [_point_json(p) for p in _series(by_key.get(("gold_accuracy", None), []), interval=True)],
        "alpha_nominal": [_point_json(p) for p in _series(by_key.get(("alpha_nominal", None), []), interval=False)],
    }
    annotators = []
    ordered = sorted(names.items(), key=lambda item: item[1])
    whole = whole if whole in names.values() else (ordered[0][1] if ordered else None)
    for annotator_id, username in ordered:
        keep = None if recent is None or username == whole else -recent
        annotators.append(
            {
                "name": username,
                "id": annotator_id,
                **{
                    metric: [
                        _point_json(p)
                        for p in _series(by_key.get((metric, annotator_id), [])[keep or 0 :], interval=True)
                    ]
                    for metric in ("gold_accuracy", "agreement")
                },
            }
        )
    # The model judge, apart from the people (stream rows named judge_*): each with its Wilson band.
    judge = {
        metric.removeprefix("judge_"): [_point_json(p) for p in _series(by_key.get((metric, None), []), interval=True)]
        for metric in JUDGE_HISTORY
    }
    return {"stream": stream_series, "annotators": annotators, "judge": judge, "threshold": stream.min_gold_accuracy}


def throughput_per_day(stream: Stream, *, now: datetime | None = None) -> list[dict[str, Any]]:
    """Judgements submitted per day (UTC) over the last HISTORY_DAYS days, days without any
    included as 0, from the first day with work. One query."""
    now = now or timezone.now()
    since = now - timedelta(days=HISTORY_DAYS)
    counts = dict(
        Judgement.objects.filter(stream=stream, submitted_at__gte=since)
        .exclude(source=Judgement.Source.MODEL)
        .annotate(day=TruncDate("submitted_at"))
        .values_list("day")
        .annotate(n=Count("id"))
        .values_list("day", "n")
    )
    if not counts:
        return []
    day, last = min(counts), now.date()
    out = []
    while day <= last:
        out.append({"day": day.isoformat(), "n": counts.get(day, 0)})
        day += timedelta(days=1)
    return out


def labeling_time_counts(stream: Stream) -> list[int]:
    """How many current judgements took how long (active seconds, bins of TIME_BINS and one open
    bin above the last), all annotators of the stream, people only. One aggregate query over the
    stream's judgements: the QC run stores it (``qc.services._store``) so the page need not."""
    edges = list(TIME_BINS)
    aggregates: dict[str, Any] = {}
    for index, low in enumerate(edges):
        cond = Q(active_seconds__gte=low)
        if index + 1 < len(edges):
            cond &= Q(active_seconds__lt=edges[index + 1])
        aggregates[f"b{index}"] = Count("id", filter=cond)
    counts = (
        Judgement.objects.filter(stream=stream, is_current=True)
        .exclude(source=Judgement.Source.MODEL)
        .aggregate(**aggregates)
    )
    return [counts[f"b{index}"] for index in range(len(edges))]


def labeling_time_histogram(stream: Stream, *, stored: list[int] | None = None) -> list[dict[str, Any]]:
    """The labeling-time histogram's bins: ``stored`` counts (the last QC run's), else counted now."""
    edges = list(TIME_BINS)
    counts = stored if stored is not None and len(stored) == len(edges) else labeling_time_counts(stream)
    out = []
    for index, low in enumerate(edges):
        high = edges[index + 1] if index + 1 < len(edges) else None
        label = f"{low:g}–{high:g} s" if high is not None else f"≥ {low:g} s"
        out.append({"bin": label, "low": low, "high": high, "n": counts[index]})
    return out


def _interval_row(name: str, snapshot: MetricSnapshot | None) -> dict[str, Any] | None:
    if snapshot is None or snapshot.value is None or not snapshot.sample_size:
        return None
    details = snapshot.details or {}
    n = snapshot.sample_size
    k = details.get("count")
    k = int(k) if isinstance(k, int | float) else round(snapshot.value * n)
    bounds = clopper_pearson(k, n)
    assert bounds is not None  # n > 0 here
    expected = details.get("expected")
    return {
        "name": name,
        "v": _r(snapshot.value),
        "k": k,
        "n": n,
        "lo": _r(bounds[0]),
        "hi": _r(bounds[1]),
        "expected": _r(expected) if isinstance(expected, int | float) else None,
        "p": _r(details.get("p_value"), 6) if isinstance(details.get("p_value"), int | float) else None,
        "flagged": bool(details.get("flagged")),
    }


def bias(snapshots: Iterable[MetricSnapshot]) -> dict[str, list[dict[str, Any]]]:
    """Position bias (share of non-tie choices that picked the response shown first) and length
    bias (share that picked the clearly longer one) per annotator, window "all", with the exact
    95% Clopper–Pearson interval and the reference the metric tests against (0.5 for position, the
    stream's consensus share for length). Reads the snapshots the page already has."""
    per: dict[str, dict[str, MetricSnapshot]] = {}
    for row in snapshots:
        if row.annotator is None or row.window != MetricSnapshot.Window.ALL:
            continue
        if row.metric in ("position_bias", "length_bias"):
            per.setdefault(row.annotator.get_username(), {})[row.metric] = row
    out: dict[str, list[dict[str, Any]]] = {"position_bias": [], "length_bias": []}
    for name in sorted(per):
        for metric in out:
            entry = _interval_row(name, per[name].get(metric))
            if entry is not None:
                out[metric].append(entry)
    return out


def gold_now(snapshots: Iterable[MetricSnapshot]) -> list[dict[str, Any]]:
    """Each annotator's gold accuracy as it stands (window "all") with its 95% Wilson interval."""
    out = []
    for row in snapshots:
        if row.annotator is None or row.window != MetricSnapshot.Window.ALL or row.metric != "gold_accuracy":
            continue
        if row.value is None or not row.sample_size:
            continue
        k = (row.details or {}).get("correct")
        k = int(k) if isinstance(k, int | float) else round(row.value * row.sample_size)
        bounds = wilson(k, row.sample_size)
        assert bounds is not None
        out.append(
            {
                "name": row.annotator.get_username(),
                "v": _r(row.value),
                "k": k,
                "n": row.sample_size,
                "lo": _r(bounds[0]),
                "hi": _r(bounds[1]),
                "flagged": bool((row.details or {}).get("flagged")),
            }
        )
    return sorted(out, key=lambda r: r["name"])


# Points of each annotator's series the Quality page carries for its table (the latest few); the
# chart of one annotator over time fetches the whole series of the one chosen (``annotator_history``).
# 75 annotators' full series were half a megabyte of the page on a million-judgement program.
RECENT_POINTS = 5


def annotator_history(stream: Stream, annotator_id: int, *, now: datetime | None = None) -> dict[str, Any]:
    """One annotator's gold accuracy and agreement over the last HISTORY_DAYS days, with their
    Wilson bands (the series of ``history``). One query."""
    people = history(stream, now=now, annotator_id=annotator_id)["annotators"]
    person = people[0] if people else {"name": "", "gold_accuracy": [], "agreement": []}
    return {"gold_accuracy": person["gold_accuracy"], "agreement": person["agreement"]}


def quality_charts(
    stream: Stream,
    snapshots: list[MetricSnapshot],
    *,
    run_details: dict[str, Any] | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Everything the Quality page's charts draw (and their tables show). ``snapshots``: the
    stream's newest snapshots (``qc.selectors.latest_metrics``), already read by the page;
    ``run_details``: the last QC run's, whose labeling-time counts the histogram shows (as of that
    run, like every figure of the page). Two queries (the snapshot history, judgements per day),
    a third for the histogram of a stream never computed."""
    stored = (run_details or {}).get("time_histogram")
    gold = gold_now(snapshots)
    # The chart of one annotator starts on the first flagged in the gold chart: their whole series
    # comes with the page; everyone's latest points (their table, and the chart's first look at
    # another annotator until that person's whole series arrives).
    flagged = next((row["name"] for row in gold if row.get("flagged")), None)
    past = history(stream, now=now, recent=RECENT_POINTS, whole=flagged)
    people = past["annotators"]
    start = next((i for i, person in enumerate(people) if person["name"] == flagged), 0)
    past["annotator_start"] = {"index": start, **(people[start] if people else {})}
    for person in people:
        person["gold_accuracy"] = person["gold_accuracy"][-RECENT_POINTS:]
        person["agreement"] = person["agreement"][-RECENT_POINTS:]
    return {
        "history": past,
        "throughput": throughput_per_day(stream, now=now),
        "time_histogram": labeling_time_histogram(stream, stored=stored),
        "gold_now": gold,
        "bias": bias(snapshots),
        "min_gold_accuracy": stream.min_gold_accuracy,
    }
