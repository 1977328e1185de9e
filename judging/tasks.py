"""Background work of model judges: a run in a Celery worker, queueing it, and the periodic job
that starts runs for new items, hands waiting runs to workers and sweeps runs whose worker died
(``CELERY_BEAT_SCHEDULE``: ``judging-run-judges``)."""

from __future__ import annotations

import logging
import threading

from celery import shared_task
from django.conf import settings
from django.db import connection, transaction

from judging import services
from judging.models import JudgeRun

log = logging.getLogger(__name__)


@shared_task(
    name="judging.tasks.run_judge_task",
    acks_late=True,
    # A worker killed mid-run hands the message back; the claim in run_judge keeps a redelivery
    # from running a live run twice, and the sweeper covers a broker that does not redeliver.
    reject_on_worker_lost=True,
    # One slice (QUORUM_JUDGE_SLICE_SECONDS, at most 3000 s) plus the items in flight.
    soft_time_limit=3300,
    time_limit=3600,
)
def run_judge_task(run_id: int) -> str:
    """Runs one time slice of a judge run (``services.run_judge``), then queues the next slice
    when items are left. Idempotent: only a pending run is taken. Errors of the model are the
    run's business (retried, recorded on the verdicts and the run), not the task's."""
    status = services.run_judge(run_id=run_id)
    if status == JudgeRun.Status.PENDING and not settings.CELERY_TASK_ALWAYS_EAGER:
        _send([run_id])
    return status


def queue_run(run_id: int) -> None:
    """Starts a recorded run once the caller's transaction commits: on a worker through the
    broker, or — embedded mode — in a thread of this process (the page does not wait for the
    model); with neither (tests), the eager task runs here and now. A run left pending after its
    slice is continued by the periodic job."""
    transaction.on_commit(lambda: _start([run_id]))


def _send(run_ids: list[int]) -> None:
    for run_id in run_ids:
        run_judge_task.delay(run_id)


def _start(run_ids: list[int]) -> None:
    if settings.CELERY_TASK_ALWAYS_EAGER and settings.QUORUM_GENERATE_IN_THREAD:
        for run_id in run_ids:
            threading.Thread(target=_run_in_thread, args=(run_id,), name=f"judge-run-{run_id}", daemon=True).start()
        return
    _send(run_ids)


def _run_in_thread(run_id: int) -> None:
    try:
        services.run_judge(run_id=run_id)
    except Exception:
        log.exception("judge run %s failed in its thread", run_id)
    finally:
        connection.close()  # the thread's own connection


@shared_task(name="judging.tasks.run_judges", soft_time_limit=540, time_limit=600)
def run_judges() -> dict[str, int]:
    """Periodic: (1) runs whose worker stopped responding go back to pending or fail; (2) judges
    that follow their stream get a run for their new items; (3) pending runs go to the workers —
    in the embedded mode (no broker) each runs here, for one slice of at most a minute, so the
    other periodic jobs keep their turn. Returns what it did, by kind."""
    requeued = services.sweep_stale_runs()
    started = services.runs_to_follow()
    queued = services.runs_to_queue()
    if settings.CELERY_TASK_ALWAYS_EAGER:
        for run_id in queued:
            services.run_judge(run_id=run_id, max_seconds=min(60, settings.QUORUM_JUDGE_SLICE_SECONDS))
    else:
        _send(queued)
    return {"requeued": len(requeued), "started": len(started), "queued": len(queued)}
