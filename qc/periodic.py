"""Periodic jobs without celery beat, and the heartbeat of every periodic job.

The periodic jobs are the entries of ``CELERY_BEAT_SCHEDULE`` (settings): lease expiry,
expired qualification attempts, the QC recompute (figures and rules). Two things run them:

- production: ``celery -A quorum beat`` sends them to the workers. The worker that runs one
  records it (``connect_task_signals``: Celery's ``task_prerun`` / ``task_postrun`` signals);
- the embedded mode (``make run``: SQLite, eager Celery, no Redis): ``manage.py run_periodic``, a
  small process started beside the server, reads the same schedule and calls each task in its own
  process when it is due (``run_due``).

Either way each job has one ``qc.models.PeriodicJob`` row: when it last started and finished,
whether it raised. ``qc.selectors.periodic_health`` reads them, so a dead scheduler shows.

**The lock.** ``run_periodic`` runs a job only after *claiming* it: one conditional UPDATE of the
job's row that succeeds only when the job is due (``next_run_at <= now``) and nobody holds it
(``claimed_until`` unset or past). The UPDATE moves ``next_run_at`` one interval on and sets
``claimed_until``, so of two runners that see the job due at the same moment exactly one updates
the row (the database serialises writes to one row) and the other sees it not due. A runner
killed mid-run frees its claim after ``LEASE_SECONDS``.

Only fixed intervals are supported here (seconds or a ``timedelta``); a crontab entry needs celery
beat and is refused with a clear error.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db.models import F, Q
from django.utils import timezone
from django.utils.module_loading import import_string

from qc.models import PeriodicJob

log = logging.getLogger(__name__)

# A claim outlives a run by this much at most: a runner killed mid-run (SIGKILL, power loss) holds
# its job no longer. Longer than any periodic task's hard time limit (the QC recompute's is 90 s).
LEASE_SECONDS = 600.0
# The longest the loop sleeps between looks at the schedule (a job added or made due by another
# process is seen within this).
MAX_WAIT_SECONDS = 5.0


@dataclass(frozen=True)
class Job:
    """One ``CELERY_BEAT_SCHEDULE`` entry: its key, the task's name (its dotted path, as every
    Quorum task is named), the interval in seconds, and the call's arguments."""

    name: str
    task: str
    interval: float
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)


def interval_seconds(name: str, value: Any) -> float:
    """Seconds between runs of a schedule entry: a number, a ``timedelta`` or a
    ``celery.schedules.schedule``. A crontab has no fixed interval: refused, naming the entry."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif hasattr(value, "run_every") and isinstance(value.run_every, timedelta):
        seconds = value.run_every.total_seconds()
    else:
        raise ImproperlyConfigured(
            f"CELERY_BEAT_SCHEDULE[{name!r}]: run_periodic runs fixed intervals (seconds or a timedelta), "
            f"not {value!r}; run celery beat for this schedule."
        )
    if seconds <= 0:
        raise ImproperlyConfigured(f"CELERY_BEAT_SCHEDULE[{name!r}]: the interval must be positive, not {seconds}.")
    return seconds


def schedule_jobs(schedule: dict[str, dict[str, Any]] | None = None) -> list[Job]:
    """The jobs of ``schedule`` (default: ``settings.CELERY_BEAT_SCHEDULE``), by name."""
    schedule = settings.CELERY_BEAT_SCHEDULE if schedule is None else schedule
    return [
        Job(
            name=name,
            task=str(entry["task"]),
            interval=interval_seconds(name, entry["schedule"]),
            args=tuple(entry.get("args") or ()),
            kwargs=dict(entry.get("kwargs") or {}),
        )
        for name, entry in sorted(schedule.items())
    ]


def runner_name() -> str:
    """Who holds a claim: ``host:pid`` (plus the thread when it is not the main one)."""
    thread = threading.current_thread()
    suffix = "" if thread is threading.main_thread() else f":{thread.name}"
    return f"{socket.gethostname()}:{os.getpid()}{suffix}"[:200]


def ensure_rows(jobs: list[Job], *, now: datetime | None = None) -> None:
    """One ``PeriodicJob`` row per job, due now when it is new (so a fresh scheduler runs every
    job at once). A job whose interval shrank since its row was written is due no later than one
    new interval from now."""
    now = now or timezone.now()
    for job in jobs:
        row, created = PeriodicJob.objects.get_or_create(
            name=job.name, defaults={"task": job.task, "interval_seconds": job.interval, "next_run_at": now}
        )
        if not created and (row.task != job.task or row.interval_seconds != job.interval):
            PeriodicJob.objects.filter(pk=row.pk).update(task=job.task, interval_seconds=job.interval)
            PeriodicJob.objects.filter(pk=row.pk, next_run_at__gt=now + timedelta(seconds=job.interval)).update(
                next_run_at=now + timedelta(seconds=job.interval)
            )


def claim(job: Job, *, runner: str, now: datetime) -> bool:
    """Takes ``job`` for ``runner`` if it is due and nobody holds it (see the module's docstring):
    True when this runner is to run it now. One UPDATE."""
    claimed = (
        PeriodicJob.objects.filter(name=job.name, next_run_at__lte=now)
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lte=now))
        .update(
            claimed_by=runner[:200],
            claimed_until=now + timedelta(seconds=max(LEASE_SECONDS, 2 * job.interval)),
            next_run_at=now + timedelta(seconds=job.interval),
            last_started_at=now,
        )
    )
    return claimed == 1


def record_start(*, job: Job, now: datetime) -> None:
    """A run of ``job`` began (the Celery worker's path; ``claim`` does it for ``run_periodic``)."""
    updated = PeriodicJob.objects.filter(name=job.name).update(
        last_started_at=now, task=job.task, interval_seconds=job.interval
    )
    if not updated:
        PeriodicJob.objects.get_or_create(
            name=job.name,
            defaults={"task": job.task, "interval_seconds": job.interval, "next_run_at": now, "last_started_at": now},
        )


def record_end(*, job: Job, now: datetime, ok: bool, result: Any = None, error: str = "", runner: str = "") -> None:
    """A run of ``job`` ended: its heartbeat (finish time, outcome, result or error) and, when
    ``runner`` held the job's claim, the claim released."""
    values: dict[str, Any] = {
        "last_finished_at": now,
        "last_ok": ok,
        "last_result": "" if result is None else repr(result)[:200],
        "last_error": error[-4000:],
        "runs": F("runs") + 1,
        "failures": F("failures") + (0 if ok else 1),
    }
    if ok:
        values["last_succeeded_at"] = now
    PeriodicJob.objects.filter(name=job.name).update(**values)
    if runner:
        PeriodicJob.objects.filter(name=job.name, claimed_by=runner[:200]).update(claimed_by="", claimed_until=None)


def resolve(task: str) -> Callable[..., Any]:
    """The callable a task name stands for: the Celery task registered under that name, else the
    object at that dotted path (every Quorum task's name is its path)."""
    from quorum.celery import app

    registered = app.tasks.get(task)
    if registered is not None:
        return registered
    return import_string(task)


def run_job(job: Job) -> tuple[bool, Any, str]:
    """Calls the job's task in this process (as an eager Celery call would, without the signals).
    Returns (succeeded, result, error text); an exception is logged and reported, not raised."""
    try:
        result = resolve(job.task)(*job.args, **job.kwargs)
    except Exception:
        log.exception("periodic job %s (%s) failed", job.name, job.task)
        return False, None, traceback.format_exc()
    return True, result, ""


def run_due(
    jobs: list[Job],
    *,
    runner: str | None = None,
    now: datetime | None = None,
    clock: Callable[[], datetime] = timezone.now,
) -> list[str]:
    """Runs, one after the other, every job that is due at ``now`` and that this runner manages to
    claim; each run's end is recorded at ``clock()``. Returns the names of the jobs it ran."""
    runner = runner or runner_name()
    now = now or clock()
    ran = []
    for job in jobs:
        if not claim(job, runner=runner, now=now):
            continue
        ok, result, error = run_job(job)
        record_end(job=job, now=clock(), ok=ok, result=result, error=error, runner=runner)
        log.info("periodic job %s: %s", job.name, "done" if ok else "failed")
        ran.append(job.name)
    return ran


def seconds_until_due(jobs: list[Job], *, now: datetime) -> float:
    """How long until the first of ``jobs`` is due (0 when one is), at most ``MAX_WAIT_SECONDS``."""
    next_at = (
        PeriodicJob.objects.filter(name__in=[job.name for job in jobs])
        .order_by("next_run_at")
        .values_list("next_run_at", flat=True)
        .first()
    )
    if next_at is None:
        return 0.0
    return min(max((next_at - now).total_seconds(), 0.0), MAX_WAIT_SECONDS)


def run_forever(
    jobs: list[Job],
    *,
    stop: threading.Event,
    clock: Callable[[], datetime] = timezone.now,
    wait: Callable[[float], Any] | None = None,
    runner: str | None = None,
) -> None:
    """The scheduler loop of ``run_periodic``: run what is due, wait until the next job is due (at
    most ``MAX_WAIT_SECONDS``), until ``stop`` is set. ``clock`` and ``wait`` are the time source
    and the sleep (``stop.wait``), replaceable to drive the loop on a simulated clock."""
    from django.db import close_old_connections, connection

    runner = runner or runner_name()
    wait = wait or stop.wait
    ensure_rows(jobs, now=clock())
    while not stop.is_set():
        if not connection.in_atomic_block:  # (a caller's transaction keeps its connection)
            close_old_connections()  # a database restart or an idle timeout must not end the loop
        run_due(jobs, runner=runner, now=clock(), clock=clock)
        if stop.is_set():
            break
        wait(seconds_until_due(jobs, now=clock()))


# --- Production: the worker records what celery beat sends -----------------------------------
def _job_for_task(task_name: str) -> Job | None:
    for job in schedule_jobs():
        if job.task == task_name:
            return job
    return None


def _on_prerun(sender: Any = None, task_id: Any = None, task: Any = None, **_kwargs: Any) -> None:
    if task is None or getattr(task.request, "is_eager", False):
        return  # an eager call (tests, the embedded mode's own calls) is not the beat's run
    try:
        job = _job_for_task(task.name)
    except ImproperlyConfigured:
        return
    if job is not None:
        record_start(job=job, now=timezone.now())


def _on_postrun(sender: Any = None, task: Any = None, retval: Any = None, state: str | None = None, **_: Any) -> None:
    if task is None or getattr(task.request, "is_eager", False):
        return
    try:
        job = _job_for_task(task.name)
    except ImproperlyConfigured:
        return
    if job is not None:
        ok = state == "SUCCESS"
        record_end(job=job, now=timezone.now(), ok=ok, result=retval if ok else None, error="" if ok else repr(retval))


def connect_task_signals() -> None:
    """Records the runs of the scheduled tasks a Celery worker executes (production's heartbeat)."""
    from celery import signals

    signals.task_prerun.connect(_on_prerun, weak=False, dispatch_uid="qc.periodic.prerun")
    signals.task_postrun.connect(_on_postrun, weak=False, dispatch_uid="qc.periodic.postrun")
