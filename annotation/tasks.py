"""Background work of the annotation room: lease expiry (periodic, ``CELERY_BEAT_SCHEDULE``),
re-opening items after an overlap change, and imports of large uploads (queued)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from celery import shared_task
from django.db import OperationalError, transaction

from annotation import services
from annotation.importing import ImportOptionsError, InvalidImport, run_batch
from annotation.importing import service as importing_service
from annotation.importing.service import IMPORT_SOFT_TIME_LIMIT, IMPORT_TIME_LIMIT, claim_batch
from annotation.models import ImportBatch
from projects.models import Stream
from quorum.jobs import JobLost

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


@shared_task(
    bind=True,
    name="annotation.tasks.run_import",
    acks_late=True,
    # A worker process killed under the import hands the message back to the broker; the claim
    # keeps a redelivery from running a live batch twice, and the sweeper covers the rest.
    reject_on_worker_lost=True,
    soft_time_limit=IMPORT_SOFT_TIME_LIMIT,
    time_limit=IMPORT_TIME_LIMIT,
    max_retries=3,
)
def run_import(self: Any, batch_id: int) -> str:
    """Imports the stored upload of ``ImportBatch`` ``batch_id`` (queued by the upload view on
    commit). Idempotent: only a pending batch is run — or a running one whose worker stopped
    beating (``claim_batch``) — so a redelivered message does not import twice (an import is
    idempotent anyway; this keeps the batch's counts right). Retries when the database is
    unreachable. Returns the batch's final status."""
    attempt = claim_batch(batch_id=batch_id)
    if attempt is None:
        log.info("import batch %s is not pending (or does not exist): nothing to do", batch_id)
        return "skipped"
    batch = ImportBatch.objects.select_related("stream__project").get(pk=batch_id)
    try:
        run_batch(batch=batch)
    except JobLost:
        log.warning("import batch %s: run %s lost the batch to the sweeper; rolled back", batch_id, attempt)
        return "lost"
    except (InvalidImport, ImportOptionsError, FileNotFoundError):
        pass  # the file's fault: the batch is failed with its report
    except OperationalError as exc:
        if self.request.retries < self.max_retries:
            ImportBatch.objects.filter(pk=batch_id, attempts=attempt).update(status=ImportBatch.Status.PENDING)
            raise self.retry(exc=exc, countdown=30 * (self.request.retries + 1)) from exc
        _discard_upload(batch)
        raise
    except Exception:
        _discard_upload(batch)
        raise
    _discard_upload(batch)
    batch.refresh_from_db(fields=["status"])
    return batch.status


def queue_import(batch_id: int) -> None:
    """Queues the import of a stored upload once the caller's transaction commits."""
    transaction.on_commit(lambda: run_import.delay(batch_id))


@shared_task(name="annotation.tasks.sweep_stale_imports", soft_time_limit=50, time_limit=60)
def sweep_stale_imports() -> int:
    """Periodic: import batches whose process stopped responding are queued again or failed with
    the reason (``sweep_stale_imports`` of the importing service). Returns how many were queued."""
    requeue = importing_service.sweep_stale_imports()
    for batch_id in requeue:
        run_import.delay(batch_id)
    return len(requeue)


def _discard_upload(batch: ImportBatch) -> None:
    """The stored upload is only needed until the batch is final: its report stays in the row."""
    if batch.file_path:
        Path(batch.file_path).unlink(missing_ok=True)
