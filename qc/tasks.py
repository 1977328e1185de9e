"""Celery tasks of the qc app: thin wrappers that re-fetch by id and call a service."""

from __future__ import annotations

from celery import shared_task
from django.db import OperationalError

from projects.models import Stream
from qc import calibration
from qc import rules as qc_rules
from qc import selectors as qc_selectors


@shared_task(name="qc.tasks.recompute_metrics", soft_time_limit=60, time_limit=90)
def recompute_metrics() -> int:
    """Periodic (``CELERY_BEAT_SCHEDULE``, every minute): queues one ``compute_stream_metrics_task``
    per active stream that received work since its last run or was not recomputed for an hour
    (``qc.selectors.streams_to_recompute``; streams with nothing new are skipped), so streams are
    computed in parallel by the workers and one slow stream delays no other. Returns how many were
    queued."""
    stream_ids = qc_selectors.streams_to_recompute()
    for stream_id in stream_ids:
        compute_stream_metrics_task.delay(stream_id)
    return len(stream_ids)


@shared_task(
    name="qc.tasks.compute_stream_metrics",
    acks_late=True,
    soft_time_limit=300,
    time_limit=360,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    max_retries=3,
)
def compute_stream_metrics_task(stream_id: int) -> int:
    """Recomputes one stream's QC snapshots, then runs its automatic QC rules on them. Idempotent
    (a rerun writes a newer run and thins the older one; a rule does not fire again while its
    alert is open); a stream deleted meanwhile is nothing to do; a lost database connection is
    retried. Returns the number of judgements read."""
    stream = Stream.objects.filter(pk=stream_id).first()
    if stream is None:
        return 0
    # Then the stream's automatic QC rules act on the fresh figures (qc.rules).
    result, _alerts = qc_rules.recompute_and_act(stream=stream)
    return int(result.windows["all"].stream["judgements"].sample_size)


@shared_task(name="qc.tasks.close_calibration_rounds", soft_time_limit=60, time_limit=90)
def close_calibration_rounds() -> int:
    """Periodic (``CELERY_BEAT_SCHEDULE``, every minute): closes the calibration rounds whose
    deadline has passed (``qc.calibration.close_due_rounds``). Idempotent. Returns how many."""
    return calibration.close_due_rounds()
