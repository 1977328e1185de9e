"""Periodic jobs without celery beat (``qc.periodic``, ``manage.py run_periodic``), their heartbeat
(``qc.selectors.periodic_health``), the minute-by-minute choice of streams to recompute, and
"Recompute now" (``qc.services.recompute_now``: the API endpoint and the Quality page's POST)."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from projects.models import ApiToken, Role
from qc import periodic
from qc.models import MetricSnapshot, PeriodicJob, Review
from qc.selectors import FULL_REFRESH_SECONDS, periodic_health, streams_to_recompute
from qc.services import compute_stream_metrics
from tests.factories import ItemFactory, MembershipFactory, StreamFactory, UserFactory
from tests.qc.helpers import judge

T0 = datetime(2030, 1, 7, 9, 0, tzinfo=UTC)
CALLS: dict[str, list[Any]] = {}
CLOCK: list[Any] = []  # the simulated clock of the test that drives the loop, if any


def _record(name: str) -> str:
    """A job's run: when (seconds after T0 on the simulated clock) or in which thread."""
    CALLS.setdefault(name, []).append((CLOCK[0]() - T0).total_seconds() if CLOCK else threading.current_thread().name)
    return f"{name} ran"


# The jobs' "tasks": plain functions, resolved by dotted path like any task name.
def fast_job() -> str:
    return _record("fast")


def slow_job() -> str:
    return _record("slow")


def sleepy_job() -> str:
    time.sleep(0.3)  # long enough that a second runner would overlap it
    return _record("sleepy")


def broken_job() -> str:
    raise RuntimeError("the database is on fire")


def _job(name: str, interval: float) -> periodic.Job:
    return periodic.Job(name=name, task=f"{__name__}.{name}_job", interval=interval)


@pytest.fixture(autouse=True)
def _calls() -> None:
    CALLS.clear()
    CLOCK.clear()


class FakeClock:
    """A clock the loop's ``wait`` moves on instead of sleeping; it stops the loop at ``end``."""

    def __init__(self, start: datetime, end: datetime, stop: threading.Event) -> None:
        self.now, self.end, self.stop, self.waits = start, end, stop, 0

    def __call__(self) -> datetime:
        return self.now

    def wait(self, seconds: float) -> None:
        self.waits += 1
        self.now += timedelta(seconds=max(seconds, 0.001))
        if self.now >= self.end:
            self.stop.set()


# --- The scheduler ---------------------------------------------------------------------------------
@pytest.mark.django_db
def test_it_runs_each_job_on_its_interval() -> None:
    stop = threading.Event()
    clock = FakeClock(T0, T0 + timedelta(minutes=30), stop)
    CLOCK.append(clock)
    jobs = [_job("fast", 60), _job("slow", 900)]
    periodic.run_forever(jobs, stop=stop, clock=clock, wait=clock.wait, runner="test")

    # Thirty minutes of simulated time: the minute job ran 30 times, on the minute; the quarter-hour job twice.
    assert CALLS["fast"] == [60.0 * n for n in range(30)]
    assert CALLS["slow"] == [0.0, 900.0]
    row = PeriodicJob.objects.get(name="fast")
    assert (row.runs, row.failures, row.last_ok, row.last_result) == (30, 0, True, "'fast ran'")
    assert row.last_started_at == T0 + timedelta(minutes=29)
    assert row.next_run_at == T0 + timedelta(minutes=30)
    assert row.claimed_until is None
    assert row.claimed_by == ""
    assert clock.waits < 400  # it slept between runs (at most MAX_WAIT_SECONDS a time), it did not spin


@pytest.mark.django_db
def test_it_does_not_rerun_a_job_another_runner_claimed() -> None:
    job = _job("fast", 60)
    periodic.ensure_rows([job], now=T0)
    assert periodic.claim(job, runner="one", now=T0)
    assert not periodic.claim(job, runner="two", now=T0)  # claimed and no longer due
    # Due again one interval later, but still held by a runner that has not finished: not taken.
    assert not periodic.claim(job, runner="two", now=T0 + timedelta(seconds=61))
    periodic.record_end(job=job, now=T0 + timedelta(seconds=1), ok=True, runner="one")
    assert periodic.claim(job, runner="two", now=T0 + timedelta(seconds=61))
    # A runner that died mid-run frees the job when its lease runs out.
    assert periodic.claim(job, runner="three", now=T0 + timedelta(seconds=61 + periodic.LEASE_SECONDS + 1)), (
        "a dead runner's claim must expire"
    )


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_it_runs_a_job_once_when_two_runners_start_together() -> None:
    from django.db import connection

    job = _job("sleepy", 60)
    periodic.ensure_rows([job], now=T0)
    barrier = threading.Barrier(4)
    ran: list[list[str]] = []

    def runner(name: str) -> None:
        try:
            barrier.wait(timeout=10)
            ran.append(periodic.run_due([job], runner=name, now=T0 + timedelta(seconds=1)))
        finally:
            connection.close()

    threads = [threading.Thread(target=runner, args=(f"runner-{n}",), name=f"runner-{n}") for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(len(names) for names in ran) == [0, 0, 0, 1]
    assert len(CALLS["sleepy"]) == 1
    assert PeriodicJob.objects.get(name="sleepy").runs == 1


@pytest.mark.django_db
def test_it_records_a_failing_job_and_keeps_going() -> None:
    jobs = [_job("broken", 60), _job("fast", 60)]
    periodic.ensure_rows(jobs, now=T0)
    assert periodic.run_due(jobs, runner="test", now=T0, clock=lambda: T0) == ["broken", "fast"]
    broken = PeriodicJob.objects.get(name="broken")
    assert (broken.last_ok, broken.failures, broken.last_succeeded_at) == (False, 1, None)
    assert "the database is on fire" in broken.last_error
    assert broken.claimed_until is None


def test_it_refuses_a_schedule_it_cannot_keep() -> None:
    from celery.schedules import crontab

    with pytest.raises(ImproperlyConfigured, match=r"CELERY_BEAT_SCHEDULE\['nightly'\].*celery beat"):
        periodic.schedule_jobs({"nightly": {"task": "x.y", "schedule": crontab(hour=3)}})
    assert periodic.schedule_jobs({"a": {"task": "x.y", "schedule": timedelta(minutes=2)}})[0].interval == 120


def test_the_production_schedule_recomputes_qc_every_minute() -> None:
    jobs = {job.name: job for job in periodic.schedule_jobs()}
    assert jobs["qc-recompute-metrics"].interval == 60
    assert {job.task for job in jobs.values()} >= {
        "qc.tasks.recompute_metrics",
        "annotation.tasks.expire_leases",
        "qualification.tasks.expire_qualification_attempts",
    }
    for job in jobs.values():
        assert callable(periodic.resolve(job.task))


@pytest.mark.django_db
def test_run_periodic_once_runs_the_real_jobs_and_records_them() -> None:
    stream = StreamFactory.create(status="active")
    judge(ItemFactory.create(stream=stream), UserFactory.create(), "A")
    call_command("run_periodic", "--once")
    rows = {row.name: row for row in PeriodicJob.objects.all()}
    assert set(rows) == {job.name for job in periodic.schedule_jobs()}
    assert all(row.last_ok and row.runs == 1 for row in rows.values())
    assert rows["qc-recompute-metrics"].last_result == "1"  # one stream had new work
    assert MetricSnapshot.objects.filter(stream=stream, metric="run").exists()
    # Nothing is due a moment later: a second copy does not run the jobs again.
    call_command("run_periodic", "--once")
    assert all(row.runs == 1 for row in PeriodicJob.objects.all())
    with pytest.raises(CommandError, match="no periodic job named nope"):
        call_command("run_periodic", "--only", "nope")


# --- The heartbeat ---------------------------------------------------------------------------------
@pytest.mark.django_db
def test_it_tells_a_dead_scheduler_from_a_live_one(settings: Any) -> None:
    settings.CELERY_BEAT_SCHEDULE = {
        "minutely": {"task": "x.minutely", "schedule": 60.0},
        "hourly": {"task": "x.hourly", "schedule": 3600.0},
        "never": {"task": "x.never", "schedule": 60.0},
    }
    now = T0 + timedelta(hours=5)
    PeriodicJob.objects.create(
        name="minutely", task="x.minutely", interval_seconds=60, last_started_at=now - timedelta(seconds=119)
    )
    PeriodicJob.objects.create(
        name="hourly", task="x.hourly", interval_seconds=3600, last_started_at=now - timedelta(hours=2, seconds=1)
    )
    health = periodic_health(now=now)
    by_name = {job.name: job for job in health.jobs}
    assert not by_name["minutely"].overdue  # 119 s ≤ twice 60 s
    assert by_name["hourly"].overdue  # 2 h 1 s > twice 1 h
    assert by_name["never"].overdue
    assert by_name["never"].last_run_at is None
    assert [job.name for job in health.overdue] == ["hourly", "never"]
    assert not health.ok
    assert "hourly last ran 2 h ago (it should run every 60 min)" in health.message
    assert "never has never run" in health.message
    # 121 s after its start the minute job is overdue too: the boundary is twice the interval.
    assert periodic_health(now=now + timedelta(seconds=2)).jobs[1].overdue
    # All ran recently: nothing to say.
    PeriodicJob.objects.update(last_started_at=now, last_ok=True)
    PeriodicJob.objects.create(name="never", task="x.never", interval_seconds=60, last_started_at=now)
    assert periodic_health(now=now).ok
    assert periodic_health(now=now).message == ""
    PeriodicJob.objects.filter(name="hourly").update(last_ok=False, last_error="boom")
    assert "hourly failed on its last run" in periodic_health(now=now).message


# --- Which streams the minute's recompute refreshes -------------------------------------------------
@pytest.mark.django_db
def test_it_recomputes_only_streams_with_new_work() -> None:
    busy = StreamFactory.create(status="active")
    quiet = StreamFactory.create(status="active")
    StreamFactory.create(status="paused")
    first = judge(ItemFactory.create(stream=busy), UserFactory.create(), "A")
    judge(ItemFactory.create(stream=quiet), UserFactory.create(), "B")
    assert set(streams_to_recompute()) == {busy.pk, quiet.pk}  # never computed
    now = timezone.now()
    compute_stream_metrics(stream=busy, now=now)
    compute_stream_metrics(stream=quiet, now=now)
    assert streams_to_recompute(now=now + timedelta(seconds=60)) == []  # nothing new: skipped
    judge(ItemFactory.create(stream=busy), UserFactory.create(), "B")  # submitted after the run
    assert streams_to_recompute(now=now + timedelta(seconds=60)) == [busy.pk]
    compute_stream_metrics(stream=busy, now=timezone.now())
    Review.objects.create(judgement=first, reviewer=UserFactory.create(), decision="accept")
    assert streams_to_recompute() == [busy.pk]  # a review counts as new work
    # An hour without anything new: recomputed anyway (the recent window slides).
    later = now + timedelta(seconds=FULL_REFRESH_SECONDS + 1)
    assert quiet.pk in streams_to_recompute(now=later)


# --- Recompute now ---------------------------------------------------------------------------------
@pytest.fixture
def team(db: Any) -> dict[str, Any]:
    stream = StreamFactory.create()
    judge(ItemFactory.create(stream=stream), UserFactory.create(), "A")
    people = {role: MembershipFactory.create(project=stream.project, role=role).user for role in Role.values}
    outsider = MembershipFactory.create(project=StreamFactory.create().project, role=Role.PM).user
    return {"stream": stream, "outsider": outsider, **people}


def _api(user: Any) -> APIClient:
    _token, key = ApiToken.generate(user=user, name="test")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def test_the_api_recomputes_a_stream_for_its_pms_only(team: dict[str, Any]) -> None:
    stream = team["stream"]
    url = f"/api/streams/{stream.pk}/qc/recompute/"
    assert _api(team["outsider"]).post(url).status_code == 404
    assert _api(team[Role.ANNOTATOR]).post(url).status_code == 403
    assert _api(team[Role.REVIEWER]).post(url).status_code == 403
    assert _api(team[Role.PM]).post(f"/api/streams/{stream.pk + 1000}/qc/recompute/").status_code == 404
    assert not MetricSnapshot.objects.filter(stream=stream).exists()
    response = _api(team[Role.PM]).post(url)
    assert response.status_code == 200  # no broker in tests: it ran in the request
    run = MetricSnapshot.objects.get(stream=stream, metric="run")
    assert response.json() == {"stream": stream.pk, "queued": False, "computed_at": run.computed_at.isoformat()}
    assert run.sample_size == 1
    assert _api(team[Role.PM]).get(url).status_code == 405


def test_the_api_schema_shows_the_recompute_endpoint(client: Any, db: Any) -> None:
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    operation = schema["paths"]["/api/streams/{stream_id}/qc/recompute/"]["post"]
    assert {"200", "202"} <= set(operation["responses"])


def test_the_quality_page_recomputes_for_pms_only(client: Any, team: dict[str, Any]) -> None:
    stream = team["stream"]
    url = reverse("qc:stream_recompute", args=[stream.pk])
    assert url == f"/streams/{stream.pk}/qc/recompute/"
    client.force_login(team["outsider"])
    assert client.post(url).status_code == 404
    client.force_login(team[Role.ANNOTATOR])
    assert client.post(url).status_code == 403
    assert not MetricSnapshot.objects.filter(stream=stream).exists()
    client.force_login(team[Role.PM])
    assert client.get(url).status_code == 405
    response = client.post(url)
    assert response.status_code == 302
    assert response["Location"] == reverse("qc:stream_qc", args=[stream.pk])
    assert MetricSnapshot.objects.filter(stream=stream, metric="run").count() == 1
    page = client.get(response["Location"])
    assert page.status_code == 200
    assert "QC figures recomputed" in page.content.decode()
    assert not page.context["periodic_health"].ok  # no scheduler ran in this test database
