"""Real processes: a Celery worker on Redis pointed at the test database, Celery beat.

The worker runs ``quorum.settings`` (not the test settings) in a subprocess, as in production,
with ``DATABASE_URL`` set to the PostgreSQL test database. Tests that use it need
``transactional_db`` so their rows are committed where the worker can see them. Each test run
consumes its own queue, so parallel runs on one Redis never take each other's tasks.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from celery import Celery
from django.conf import settings
from django.db import connection

from tests.processes import BASE_DIR, clean_environ, stop, tail

# A Redis database number the development setup (0) is unlikely to use.
REDIS_URL = os.environ.get("QUORUM_TEST_REDIS_URL", "redis://127.0.0.1:6379/9")
READY_TIMEOUT = 60.0


def url_of_test_database() -> str:
    """The URL of the database this test process uses (pytest-django's test database)."""
    db = connection.settings_dict
    user = quote(db.get("USER") or "", safe="")
    password = quote(db.get("PASSWORD") or "", safe="")
    auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    return f"postgres://{auth}{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/{db['NAME']}"


@dataclass
class Worker:
    """A running ``celery -A quorum worker``; ``sender`` queues tasks by name on its queue."""

    process: subprocess.Popen[bytes]
    queue: str
    nodename: str
    log: Path
    sender: Celery

    def send(self, task_name: str, *args: Any) -> Any:
        return self.sender.send_task(task_name, args=list(args), queue=self.queue)


@pytest.fixture(scope="session")
def celery_worker(
    django_db_setup: None, django_db_blocker: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Worker]:
    """Starts one worker for the session (pool solo, no gossip/mingle), waits until it answers a
    ping over the broker, and stops it before the test database is dropped."""
    queue = f"quorum-test-{uuid.uuid4().hex[:12]}"
    nodename = f"{queue}@{socket.gethostname()}"
    log = tmp_path_factory.mktemp("celery") / "worker.log"
    with django_db_blocker.unblock():
        database_url = url_of_test_database()
    env = clean_environ(
        DJANGO_SETTINGS_MODULE="quorum.settings",
        QUORUM_ENV="development",
        DATABASE_URL=database_url,
        DB_CONN_MAX_AGE="0",
        REDIS_URL=REDIS_URL,
        CELERY_TASK_ALWAYS_EAGER="0",
        MEDIA_ROOT=str(settings.MEDIA_ROOT),
        QUORUM_DEMO_DATA_DIR=str(settings.QUORUM_DEMO_DATA_DIR),
        # Dynamic labeling tests run their model servers on loopback, ephemeral ports.
        QUORUM_ENDPOINT_ALLOWED_HOSTS="127.0.0.1",
    )
    command = [
        sys.executable, "-m", "celery", "-A", "quorum", "worker",
        "--pool", "solo", "--without-gossip", "--without-mingle", "--without-heartbeat",
        "--queues", queue, "--hostname", nodename, "--loglevel", "INFO",
    ]  # fmt: skip
    sender = Celery("quorum-test-sender", broker=REDIS_URL, backend=REDIS_URL, set_as_current=False)
    with log.open("wb") as out:
        process = subprocess.Popen(command, cwd=BASE_DIR, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + READY_TIMEOUT
        while not sender.control.ping(destination=[nodename], timeout=1.0):
            if process.poll() is not None:
                pytest.fail(f"the Celery worker exited with {process.returncode}:\n{tail(log)}")
            if time.monotonic() > deadline:
                pytest.fail(f"the Celery worker did not answer a ping in {READY_TIMEOUT:.0f} s:\n{tail(log)}")
        yield Worker(process=process, queue=queue, nodename=nodename, log=log, sender=sender)
    finally:
        stop(process)
        sender.close()
