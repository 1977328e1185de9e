"""Background work of the annotation room: lease expiry (periodic, ``CELERY_BEAT_SCHEDULE``),
re-opening items after an overlap change, and imports of large uploads (queued)."""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path
from typing import Any

from celery import shared_task
from django.db import OperationalError
from django.db.models import Q
from django.utils import timezone

from annotation import services
from annotation.importing import ImportOptionsError, InvalidImport, run_batch
from annotation.models import ImportBatch
from projects.models import Stream

log = logging.getLogger(__name__)


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


# An hour covers tens of millions of rows at the measured rate (see docs/import.md). The soft limit
# raises inside the import, which rolls back and marks the batch failed; the hard one is the backstop.
IMPORT_SOFT_TIME_LIMIT = 3600


IMPORT_TIME_LIMIT = IMPORT_SOFT_TIME_LIMIT + 120


@shared_task(
    bind=True,
    name="annotation.tasks.run_import",
    acks_late=True,
    soft_time_limit=IMPORT_SOFT_TIME_LIMIT,
    time_limit=IMPORT_TIME_LIMIT,
    max_retries=3,
)
def run_import(self: Any, batch_id: int) -> str:
    """Imports the stored upload of ``ImportBatch`` ``batch_id`` (queued by the upload view on
    commit). Idempotent: only a pending batch is run — or a running one older than the hard time
    limit, whose worker died — so a redelivered message does not import twice (an import is
    idempotent anyway; this keeps the batch's counts right). Retries when the database is
    unreachable. Returns the batch's final status."""
    stale = timezone.now() - timedelta(seconds=IMPORT_TIME_LIMIT)
    claimed = (
        ImportBatch.objects.filter(pk=batch_id)
        .filter(Q(status=ImportBatch.Status.PENDING) | Q(status=ImportBatch.Status.RUNNING, created_at__lt=stale))
        .update(status=ImportBatch.Status.RUNNING)
    )
    if not claimed:
        log.info("import batch %s is not pending (or does not exist): nothing to do", batch_id)
        return "skipped"
    batch = ImportBatch.objects.select_related("stream__project").get(pk=batch_id)
    try:
        run_batch(batch=batch)
    except (InvalidImport, ImportOptionsError, FileNotFoundError):
        pass  # the file's fault: the batch is failed with its report
    except OperationalError as exc:
        if self.request.retries < self.max_retries:
            ImportBatch.objects.filter(pk=batch_id).update(status=ImportBatch.Status.PENDING)
            raise self.retry(exc=exc, countdown=30 * (self.request.retries + 1)) from exc
        _discard_upload(batch)
        raise
    except Exception:
        _discard_upload(batch)
        raise
    _discard_upload(batch)
    batch.refresh_from_db(fields=["status"])
    return batch.status


def _discard_upload(batch: ImportBatch) -> None:
    """The stored upload is only needed until the batch is final: its report stays in the row."""
    if batch.file_path:
        Path(batch.file_path).unlink(missing_ok=True)
