from __future__ import annotations

from quorum.celery import app as celery_app

__all__ = ["celery_app"]
