"""The Celery app. Workers: ``celery -A quorum worker``; periodic tasks: ``celery -A quorum beat``
(one beat per deployment; its schedule is ``CELERY_BEAT_SCHEDULE`` in settings). Without
``REDIS_URL`` every task runs eagerly inside the calling process."""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "quorum.settings")

app = Celery("quorum")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.task(name="quorum.ping", ignore_result=False, acks_late=False)
def ping() -> str:
    """Health check for operators and tests: proves a worker is consuming the broker and can reach
    the database. Returns the database name the worker uses.
    ``celery -A quorum call quorum.ping`` queues it; ``celery -A quorum result <id>`` reads it."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return str(connection.settings_dict["NAME"])
