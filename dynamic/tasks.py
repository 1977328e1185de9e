"""Background work of dynamic labeling: one model's answer per task, queueing them, and the
sweeper that asks again for answers whose worker died (``CELERY_BEAT_SCHEDULE``)."""

from __future__ import annotations

import logging
import threading

from celery import shared_task
from django.conf import settings
from django.db import connection, transaction

from dynamic import services

log = logging.getLogger(__name__)


@shared_task(
    name="dynamic.tasks.generate",
    acks_late=True,
    # A worker process killed mid-answer hands the message back to the broker. The redelivered
    # task finds the generation streaming and does nothing (only a pending attempt runs); the
    # sweeper asks again as a new attempt once the heartbeat is stale.
    reject_on_worker_lost=True,
    # Above any endpoint timeout (at most 600 s, enforced by the form) and the final writes.
    soft_time_limit=660,
    time_limit=720,
)
def generate(generation_id: int, attempt: int) -> str:
    """Streams one model's answer for a dynamic-labeling turn (queued on commit by ``queue_turn``).
    Idempotent: only a pending generation of this attempt runs. A model's error is not retried
    automatically: it is shown to the annotator, who retries with one key press — a silent retry
    would hide a flaky endpoint from the comparison. A dead worker's answer is asked again by
    ``sweep_stale_generations``."""
    return services.run_generation(generation_id=generation_id, attempt=attempt)


def queue_generations(jobs: list[tuple[int, int]]) -> None:
    """Starts (generation id, attempt) jobs: on workers through the broker, or — embedded mode —
    in threads of this process so the page still sees tokens arrive; with neither (tests), the
    eager task runs here and now."""
    if settings.CELERY_TASK_ALWAYS_EAGER and settings.QUORUM_GENERATE_IN_THREAD:
        for generation_id, attempt in jobs:
            threading.Thread(
                target=_generate_in_thread, args=(generation_id, attempt), name=f"generate-{generation_id}", daemon=True
            ).start()
        return
    for generation_id, attempt in jobs:
        generate.delay(generation_id, attempt)


def queue_turn(turn_id: int) -> None:
    """Queues, once the caller's transaction commits, the turn's generations waiting for a worker
    (after ``services.send_message`` or ``services.retry_generations``)."""
    transaction.on_commit(lambda: queue_generations(services.pending_jobs(turn_id=turn_id)))


def _generate_in_thread(generation_id: int, attempt: int) -> None:
    try:
        services.run_generation(generation_id=generation_id, attempt=attempt)
    except Exception:
        log.exception("generation %s failed in its thread", generation_id)
    finally:
        connection.close()  # the thread's own connection


@shared_task(name="dynamic.tasks.sweep_stale_generations", soft_time_limit=50, time_limit=60)
def sweep_stale_generations() -> int:
    """Periodic: answers whose worker stopped responding are asked again or failed with the reason
    (``services.sweep_stale_generations``). Returns how many were queued again."""
    requeue = services.sweep_stale_generations()
    queue_generations(requeue)
    return len(requeue)
