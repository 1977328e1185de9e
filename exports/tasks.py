"""Background work of exports: an export run in a Celery worker, queueing it, and the sweeper that
finds runs whose worker died (``CELERY_BEAT_SCHEDULE``)."""

from __future__ import annotations

import logging

from celery import shared_task
from django.db import transaction

from exports import services as exporting

log = logging.getLogger(__name__)


@shared_task(
    name="exports.tasks.run_export_task",
    acks_late=True,
    # A worker process killed under the run (out of memory, kill -9) hands the message back to the
    # broker instead of acknowledging it; the claim in run_export keeps a redelivery from running
    # a live export twice, and the sweeper covers a broker that does not redeliver.
    reject_on_worker_lost=True,
    soft_time_limit=3 * 3600,
    time_limit=3 * 3600 + 300,
)
def run_export_task(export_id: int) -> None:
    """Runs one export. Idempotent (``exporting.run_export`` claims it first). Not retried on an
    error: the failure is recorded on the export (status, error) for the PM to see and start again;
    a run whose worker died is queued again by ``sweep_stale_exports``."""
    exporting.run_export(export_id=export_id)


def queue_export(export_id: int) -> None:
    """Queues the run of a recorded export once the caller's transaction commits (the pages and
    the API call this after ``exporting.create_export``)."""
    transaction.on_commit(lambda: run_export_task.delay(export_id))


@shared_task(name="exports.tasks.sweep_stale_exports", soft_time_limit=50, time_limit=60)
def sweep_stale_exports() -> int:
    """Periodic: exports whose worker stopped responding are queued again or failed with the
    reason (``exporting.sweep_stale_exports``). Returns how many were queued again."""
    requeue = exporting.sweep_stale_exports()
    for export_id in requeue:
        run_export_task.delay(export_id)
    return len(requeue)
