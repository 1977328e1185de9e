"""Background work of the projects app: imports of large uploads."""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path
from typing import Any

from celery import shared_task
from django.db import OperationalError
from django.db.models import Q
from django.utils import timezone

from projects.importing import ImportOptionsError, InvalidImport, run_batch
from projects.models import ImportBatch
from projects.qualification.services import expire_overdue_attempts

log = logging.getLogger(__name__)

# An hour covers tens of millions of rows at the measured rate (see docs/import.md). The soft limit
# raises inside the import, which rolls back and marks the batch failed; the hard one is the backstop.
IMPORT_SOFT_TIME_LIMIT = 3600
IMPORT_TIME_LIMIT = IMPORT_SOFT_TIME_LIMIT + 120


@shared_task(
    bind=True,
    name="projects.tasks.run_import",
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


@shared_task(name="projects.tasks.expire_qualification_attempts", soft_time_limit=50, time_limit=60)
def expire_qualification_attempts() -> int:
    """Scores qualification attempts whose time limit passed while nobody looked (the pages do it
    lazily for what they show), so members do not stay ``testing`` forever. Idempotent: an attempt
    is scored once. Returns how many were scored."""
    return expire_overdue_attempts()
