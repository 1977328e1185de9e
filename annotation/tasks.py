"""Periodic work of the assignment engine (scheduled in ``CELERY_BEAT_SCHEDULE``)."""

from __future__ import annotations

from celery import shared_task

from annotation import services


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
