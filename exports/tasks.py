"""Background work of exports: an export run in a Celery worker."""

from __future__ import annotations

from celery import shared_task

from exports import services as exporting


@shared_task(acks_late=True, soft_time_limit=3 * 3600, time_limit=3 * 3600 + 300)
def run_export_task(export_id: int) -> None:
    """Runs one export. Idempotent: a finished export is not written again. Not retried: a
    failure is recorded on the export (status, error) for the PM to see and start again."""
    exporting.run_export(export_id=export_id)
