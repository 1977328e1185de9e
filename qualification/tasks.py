"""Background work of qualification: attempts whose time ran out."""

from __future__ import annotations

from celery import shared_task

from qualification.services import expire_overdue_attempts


@shared_task(name="qualification.tasks.expire_qualification_attempts", soft_time_limit=50, time_limit=60)
def expire_qualification_attempts() -> int:
    """Scores qualification attempts whose time limit passed while nobody looked (the pages do it
    lazily for what they show), so members do not stay ``testing`` forever. Idempotent: an attempt
    is scored once. Returns how many were scored."""
    return expire_overdue_attempts()
