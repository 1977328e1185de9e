"""Logging filters used by ``settings.LOGGING``."""

from __future__ import annotations

import logging


class OneLineForbidden(logging.Filter):
    """A 403 is an expected answer (a member below the needed role), not a fault: Django logs it
    with the ``PermissionDenied`` traceback attached; this keeps the one WARNING line and drops
    the traceback. Every other record passes unchanged."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "status_code", None) == 403:
            record.exc_info = None
            record.exc_text = None
        return True
