"""Shared reads of QC figures: what pages, the API and ``qc_report`` show. They read snapshots
(written by ``qc.services``); nothing here recomputes a stream."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from projects.models import Stream
from qc import metrics
from qc.models import MetricSnapshot

RUN_METRIC = "run"  # the stream-level snapshot that marks a full run (qc.services writes it)


def active_stream_ids() -> list[int]:
    """Streams whose figures the periodic recompute refreshes: active ones."""
    return list(Stream.objects.filter(status=Stream.Status.ACTIVE).order_by("pk").values_list("pk", flat=True))


def latest_metrics(stream: Stream) -> list[MetricSnapshot]:
    """The newest snapshot of each (metric, window, annotator) of ``stream``: the last full run's
    rows, overridden by any incremental row written since (gold accuracy on submit). Ordered
    stream figures first, then by annotator, metric, window. Two queries."""
    run_at = (
        MetricSnapshot.objects.filter(stream=stream, metric=RUN_METRIC, annotator=None)
        .order_by("-computed_at")
        .values_list("computed_at", flat=True)
        .first()
    )
    rows: QuerySet[MetricSnapshot] = MetricSnapshot.objects.filter(stream=stream).select_related("annotator")
    if run_at is not None:
        rows = rows.filter(computed_at__gte=run_at)
    newest: dict[tuple[str, str, int | None], MetricSnapshot] = {}
    for row in rows.exclude(metric=RUN_METRIC).order_by("computed_at", "id"):
        newest[(row.metric, row.window, row.annotator_id)] = row
    return sorted(
        newest.values(),
        key=lambda r: (r.annotator_id is not None, r.annotator.username if r.annotator else "", r.metric, r.window),
    )


def metrics_report(
    stream: Stream,
    *,
    metric: str | None = None,
    window: str | None = None,
    annotator_id: int | None = None,
) -> dict[str, Any]:
    """The machine-readable figures of ``stream`` (``GET /api/streams/<id>/metrics/`` and
    ``qc_report --json``; fields documented in docs/qc.md): the stream, its thresholds, when the
    figures were computed, the annotators flagged on anything, and ``results`` — one entry per
    figure: scope (stream or annotator), annotator (username) and annotator_id, metric, window,
    value, sample_size, flagged, details, computed_at. Optional filters narrow ``results``."""
    snapshots = latest_metrics(stream)
    run_at = (
        MetricSnapshot.objects.filter(stream=stream, metric=RUN_METRIC, annotator=None)
        .order_by("-computed_at")
        .values_list("computed_at", flat=True)
        .first()
    )
    results = []
    flagged: dict[str, list[str]] = {}
    for row in snapshots:
        details = dict(row.details or {})
        is_flagged = bool(details.pop("flagged", False))
        username = row.annotator.get_username() if row.annotator else None
        if is_flagged and username is not None:
            flagged.setdefault(username, [])
            if row.metric not in flagged[username]:
                flagged[username].append(row.metric)
        if metric and row.metric != metric:
            continue
        if window and row.window != window:
            continue
        if annotator_id is not None and row.annotator_id != annotator_id:
            continue
        results.append(
            {
                "scope": "annotator" if row.annotator_id else "stream",
                "annotator": username,
                "annotator_id": row.annotator_id,
                "metric": row.metric,
                "window": row.window,
                "value": row.value,
                "sample_size": row.sample_size,
                "flagged": is_flagged,
                "details": details,
                "computed_at": row.computed_at.isoformat(),
            }
        )
    return {
        "stream": {
            "id": stream.pk,
            "project": stream.project.slug,
            "slug": stream.slug,
            "name": stream.name,
        },
        "computed_at": run_at.isoformat() if run_at else None,
        "recent_days": metrics.RECENT_DAYS,
        "thresholds": {
            "min_sample": stream.min_sample,
            "min_gold_count": stream.min_gold_count,
            "min_gold_accuracy": stream.min_gold_accuracy,
            "min_agreement": stream.min_agreement,
            "min_seconds": stream.min_seconds,
        },
        "flagged_annotators": [
            {"annotator": name, "metrics": sorted(names)} for name, names in sorted(flagged.items())
        ],
        "results": results,
    }
