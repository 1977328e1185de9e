"""Background work of the assignment engine: periodic (``CELERY_BEAT_SCHEDULE``) and queued."""

from __future__ import annotations

from celery import shared_task

from annotation import services
from projects.models import Stream


@shared_task(name="annotation.tasks.expire_leases", soft_time_limit=50, time_limit=60)
def expire_leases() -> int:
    """Ends leases past their expiry, in batches, so abandoned items return to the pool even in a
    stream nobody is claiming from. Idempotent: a lease is ended once; rows in use are skipped and
    left for the next run. Returns how many leases were ended."""
    total = 0
    while True:
        ended = services.expire_leases()
        total += ended
        if ended < services.EXPIRY_BATCH:
            return total


@shared_task(name="annotation.tasks.sync_open_items", soft_time_limit=600, time_limit=660)
def sync_open_items(stream_id: int) -> int:
    """After a stream's overlap changed: recomputes its items' ``is_open``. Idempotent; a stream
    deleted meanwhile is nothing to do. Returns how many items changed."""
    stream = Stream.objects.filter(pk=stream_id).first()
    return services.sync_open_items(stream=stream) if stream is not None else 0


@shared_task(
    name="annotation.tasks.generate",
    acks_late=True,
    # Above any endpoint timeout (at most 600 s, enforced by the form) and the final writes.
    soft_time_limit=660,
    time_limit=720,
)
def generate(generation_id: int, attempt: int) -> str:
    """Streams one model's answer for a dynamic-labeling turn (queued on commit by
    ``dynamic.send_message`` / ``retry_generations``). Idempotent: only a pending generation of
    this attempt runs. Not retried automatically: the error is shown to the annotator, who retries
    with one key press — a silent retry would hide a flaky endpoint from the comparison."""
    from annotation import dynamic

    return dynamic.run_generation(generation_id=generation_id, attempt=attempt)
