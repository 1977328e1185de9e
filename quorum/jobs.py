"""Heartbeats of long background jobs, and the rule that tells a dead worker's job.

Export runs, import batches and model generations run for seconds to hours in a worker. A worker
can die under them (an out-of-memory kill, ``kill -9``, a lost machine) without any code of ours
running, so a job's row cannot be trusted to leave "running" by itself. Instead:

- the run writes ``heartbeat_at`` on its row at least every ``QUORUM_JOB_HEARTBEAT_SECONDS``
  (``Heartbeat``: a thread of the worker, plus the run's own progress writes);
- a job still "running" whose heartbeat is older than ``QUORUM_JOB_STALE_SECONDS`` has lost its
  worker. Each room's sweeper (a ``CELERY_BEAT_SCHEDULE`` entry, every
  ``QUORUM_JOB_SWEEP_SECONDS``) queues it again, up to ``QUORUM_JOB_MAX_ATTEMPTS`` runs in all,
  or marks it failed with the reason (``lost_reason``).

A run owns its job only while the row still names its attempt: every heartbeat is a conditional
UPDATE of the run's rows, and when it matches nothing (the sweeper gave the job to another attempt
or failed it) the run is told (``Heartbeat.lost``) and stops at its next progress point
(``Heartbeat.check`` raises ``JobLost``), so a run wrongly taken for dead cannot overwrite the
next one.

The rooms' models, sweepers and pages use this module; it imports no room.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import DatabaseError, connection
from django.db.models import QuerySet
from django.utils import timezone

log = logging.getLogger(__name__)


class JobLost(BaseException):
    """This run no longer owns its job: the sweeper queued it again or marked it failed.

    A ``BaseException`` (like ``SystemExit``): the run must stop and roll back *without* the
    ``except Exception`` handlers that record a failure on the job's row — the row is not its own
    any more. The task that started the run catches it."""


def stale_seconds() -> int:
    return int(settings.QUORUM_JOB_STALE_SECONDS)


def heartbeat_seconds() -> int:
    return int(settings.QUORUM_JOB_HEARTBEAT_SECONDS)


def max_attempts() -> int:
    return int(settings.QUORUM_JOB_MAX_ATTEMPTS)


def stale_before(now: datetime | None = None) -> datetime:
    """A running job whose heartbeat is older than this has lost its worker."""
    return (now or timezone.now()) - timedelta(seconds=stale_seconds())


def lost_reason(*, heartbeat_at: datetime | None, attempts: int, what: str = "The worker") -> str:
    """Why a job was failed by a sweeper, for the page: when its worker was last heard of and how
    many times it was run."""
    when = timezone.localtime(heartbeat_at).strftime("%Y-%m-%d %H:%M:%S %Z") if heartbeat_at else "an unknown time"
    retried = attempts - 1
    tries = "not retried" if retried <= 0 else f"retried {retried} time{'s' if retried != 1 else ''}"
    runs = f"{attempts} run{'s' if attempts != 1 else ''}"
    return f"{what} stopped responding at {when}; {tries}; giving up after {runs}."


@dataclass(frozen=True)
class Liveness:
    """What a page says about a running job: is it silent, and what will happen when."""

    stale: bool  # no heartbeat for longer than QUORUM_JOB_STALE_SECONDS
    silent_seconds: int | None  # since the last heartbeat
    action: str  # "retried" or "marked failed": what the sweeper will do if it stays silent
    action_by: datetime | None  # the latest moment the sweeper acts (stale + one sweep interval)
    attempts: int
    max_attempts: int


def liveness(
    *, heartbeat_at: datetime | None, attempts: int, requeue: bool = True, now: datetime | None = None
) -> Liveness:
    """For a running job: how long it has been silent, and when the sweeper will requeue or fail
    it if it stays silent (its heartbeat + the stale time + one sweep interval, at the latest).
    ``requeue=False``: a job no worker can resume (it is failed, not retried)."""
    now = now or timezone.now()
    limit = max_attempts()
    action = "retried" if requeue and attempts < limit else "marked failed"
    if heartbeat_at is None:
        return Liveness(False, None, action, None, attempts, limit)
    silent = max(0, int((now - heartbeat_at).total_seconds()))
    action_by = heartbeat_at + timedelta(seconds=stale_seconds() + int(settings.QUORUM_JOB_SWEEP_SECONDS))
    return Liveness(silent > stale_seconds(), silent, action, action_by, attempts, limit)


class Heartbeat:
    """Keeps ``rows`` (a queryset naming this run's job *and attempt*) alive while a run works::

        with Heartbeat(Export.objects.filter(pk=pk, attempts=n, status="running")) as beat:
            ...
            beat.check()  # at progress points: raises JobLost if the job was taken away

    A daemon thread writes ``heartbeat_at = now`` every ``interval`` seconds on its own database
    connection, so a run busy in one long query or waiting for a model's first token still beats.
    When the run happens inside a caller's transaction (tests; a CLI command in ``atomic``),
    another connection would not see its rows — or would wait on their locks — so no thread is
    started and only ``beat()`` calls (the run's progress points) write. ``thread=False`` asks for
    no thread (SQLite, one writer at a time: an import's own transaction holds the file).
    """

    def __init__(self, rows: QuerySet[Any], *, interval: float | None = None, thread: bool = True) -> None:
        self.rows = rows
        self.thread = thread
        self.interval = float(interval if interval is not None else heartbeat_seconds())
        self.lost = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_beat = 0.0

    def beat(self, *, force: bool = False, **also: Any) -> bool:
        """Writes the heartbeat now (from the run's own thread; at most once a second unless
        ``force`` or ``also`` — other fields written in the same UPDATE, e.g. progress). Returns
        False, and marks the run lost, when the job is no longer this run's."""
        import time

        if not (force or also) and time.monotonic() - self._last_beat < 1.0:
            return not self.lost.is_set()
        self._last_beat = time.monotonic()
        if not self.rows.update(heartbeat_at=timezone.now(), **also):
            self.lost.set()
            return False
        return True

    def check(self) -> None:
        if self.lost.is_set():
            raise JobLost("this run no longer owns its job")

    def _run(self) -> None:
        try:
            while not self._stop.wait(self.interval):
                try:
                    if not self.rows.update(heartbeat_at=timezone.now()):
                        self.lost.set()
                        return
                except DatabaseError:
                    # The database is away: the run will find out itself; beat again next time.
                    log.warning("heartbeat not written", exc_info=True)
        finally:
            connection.close()  # this thread's own connection

    def __enter__(self) -> Heartbeat:
        self.beat(force=True)
        if self.thread and not connection.in_atomic_block:
            self._thread = threading.Thread(target=self._run, name="job-heartbeat", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
