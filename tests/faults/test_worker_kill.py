"""Kill the Celery worker under an export and under a model's answer: the job ends done (after
redelivery or the sweeper's re-queue) or failed with the reason, within a bounded time the page
shows, and never stays "running". Real processes: ``celery -A quorum worker`` (prefork, one pool
process, as in production) and ``celery -A quorum beat`` on Redis, against the PostgreSQL test
database; a local HTTP server speaking OpenAI chat-completions is the model.

Two kills, as the finding had them: the pool process alone (what an out-of-memory kill does: the
worker's main process lives on and hands the message back), and the whole worker (main and pool
process; a new worker is started afterwards — the app is not restarted). Short liveness settings
keep the suite quick: heartbeat 1 s, stale after 4 s, sweep every 1 s, 2 runs at most.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from celery import Celery
from django.conf import settings
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.utils import timezone

from dynamic import services as dynamic
from dynamic.demo_model import Behaviour
from dynamic.models import Generation, ModelEndpoint, Turn
from exports import services as exporting
from exports.models import Export
from projects.models import Role, Stream
from tests.annotation.conftest import make_annotator
from tests.factories import MembershipFactory, StreamFactory
from tests.faults.harness import children, kill, record
from tests.integration.conftest import REDIS_URL, url_of_test_database
from tests.model_servers import corpus, dynamic_stream, model_server
from tests.processes import BASE_DIR, clean_environ, stop, tail

pytestmark = [pytest.mark.faults, pytest.mark.redis, pytest.mark.xdist_group("faults")]

STALE_SECONDS = 4
MAX_ATTEMPTS = 2
# The bound a job must end within once its worker is dead: stale time + one sweep + a new worker's
# start and the re-run, with room for a machine shared by other work.
BOUND_SECONDS = 60.0


@dataclass
class Jobs:
    """celery beat plus the workers of one test queue; workers are started and killed at will."""

    env: dict[str, str]
    queue: str
    tmp: Path
    sender: Celery
    beat: subprocess.Popen[bytes] | None = None
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def start_worker(self) -> subprocess.Popen[bytes]:
        nodename = f"{self.queue}-{len(self.workers)}@{socket.gethostname()}"
        log = self.tmp / f"worker-{len(self.workers)}.log"
        command = [
            sys.executable, "-m", "celery", "-A", "quorum", "worker", "--pool", "prefork", "--concurrency", "1",
            "--without-gossip", "--without-mingle", "--queues", self.queue, "--hostname", nodename,
            "--loglevel", "INFO",
        ]  # fmt: skip
        with log.open("wb") as out:
            # Its own process group: "kill the whole worker" is killpg, main and pool process at once.
            process = subprocess.Popen(
                command, cwd=BASE_DIR, env=self.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.workers.append(process)
        deadline = time.monotonic() + 90
        while not self.sender.control.ping(destination=[nodename], timeout=1.0):
            if process.poll() is not None:
                pytest.fail(f"the Celery worker exited with {process.returncode}:\n{tail(log)}")
            if time.monotonic() > deadline:
                pytest.fail(f"the Celery worker did not answer a ping in 90 s:\n{tail(log)}")
        return process

    def worker(self) -> subprocess.Popen[bytes]:
        """The live worker (starting one if none is)."""
        live = [w for w in self.workers if w.poll() is None]
        return live[-1] if live else self.start_worker()

    def pool_process(self) -> int:
        worker = self.worker()
        deadline = time.monotonic() + 30
        while not (pids := children(worker.pid)):
            assert time.monotonic() < deadline, "the worker has no pool process"
            time.sleep(0.05)
        return pids[0]

    def kill_worker(self) -> None:
        """SIGKILL to the worker's main process and its pool process at once."""
        worker = self.worker()
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(timeout=10)

    def send(self, task: str, *args: Any) -> None:
        self.sender.send_task(task, args=list(args), queue=self.queue)

    def logs(self) -> str:
        return "\n".join(tail(path, 15) for path in sorted(self.tmp.glob("*.log")))


@pytest.fixture(scope="module")
def jobs(django_db_setup: None, django_db_blocker: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Jobs]:
    queue = f"quorum-faults-{uuid.uuid4().hex[:10]}"
    tmp = tmp_path_factory.mktemp("jobs")
    with django_db_blocker.unblock():
        database_url = url_of_test_database()
    env = clean_environ(
        DJANGO_SETTINGS_MODULE="quorum.settings",
        QUORUM_ENV="development",
        DATABASE_URL=database_url,
        DB_CONN_MAX_AGE="0",
        REDIS_URL=REDIS_URL,
        CELERY_TASK_ALWAYS_EAGER="0",
        # beat sends the sweepers to this test's queue, and the sweepers re-queue there too.
        CELERY_TASK_DEFAULT_QUEUE=queue,
        CELERY_BEAT_SCHEDULE_FILENAME=str(tmp / "celerybeat-schedule"),
        MEDIA_ROOT=str(settings.MEDIA_ROOT),
        QUORUM_DEMO_DATA_DIR=str(settings.QUORUM_DEMO_DATA_DIR),
        QUORUM_ENDPOINT_ALLOWED_HOSTS="127.0.0.1",
        QUORUM_JOB_HEARTBEAT_SECONDS="1",
        QUORUM_JOB_STALE_SECONDS=str(STALE_SECONDS),
        QUORUM_JOB_SWEEP_SECONDS="1",
        QUORUM_JOB_MAX_ATTEMPTS=str(MAX_ATTEMPTS),
    )
    sender = Celery("quorum-faults-sender", broker=REDIS_URL, backend=REDIS_URL, set_as_current=False)
    state = Jobs(env=env, queue=queue, tmp=tmp, sender=sender)
    with (tmp / "beat.log").open("wb") as out:
        state.beat = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "quorum", "beat", "--loglevel", "INFO"],
            cwd=BASE_DIR,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        yield state
    finally:
        for process in [state.beat, *state.workers]:
            if process is not None:
                stop(process)
        sender.close()
        # beat and the workers wrote until now, after the last test's own flush (periodic job
        # rows, sweeps): leave the database as clean as the next test on this worker expects.
        with django_db_blocker.unblock():
            call_command("flush", interactive=False, verbosity=0)


@pytest.fixture
def liveness_settings(settings: Any) -> None:
    """The test process renders pages with the workers' liveness settings."""
    settings.QUORUM_JOB_STALE_SECONDS = STALE_SECONDS
    settings.QUORUM_JOB_SWEEP_SECONDS = 1
    settings.QUORUM_JOB_MAX_ATTEMPTS = MAX_ATTEMPTS
    settings.QUORUM_JOB_HEARTBEAT_SECONDS = 1


def _insert_select(model: Any, exprs: dict[str, str], source: str, params: dict[str, Any]) -> None:
    """INSERT INTO model SELECT ...: columns not in ``exprs`` get their field's default."""
    columns, values = [], []
    for f in model._meta.concrete_fields:
        if f.primary_key:
            continue
        columns.append(connection.ops.quote_name(f.column))
        if f.column in exprs:
            values.append(exprs[f.column])
        else:
            name = f"default_{f.column}"
            values.append(f"%({name})s")
            params[name] = f.get_db_prep_save(f.get_default(), connection)
    sql = f"INSERT INTO {model._meta.db_table} ({', '.join(columns)}) SELECT {', '.join(values)} {source}"
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def _insert_judged_items(stream: Stream, items: int, overlap: int = 3) -> None:
    """``items`` judged items (``overlap`` judgements each) in one statement per table: enough for
    an export that runs for a moment."""
    from django.contrib.auth.models import User

    from annotation.models import Assignment, Item, Judgement

    users = [User.objects.create(username=f"judge-{uuid.uuid4().hex[:8]}") for _ in range(overlap)]
    ids = "ARRAY[" + ",".join(str(u.pk) for u in users) + "]"
    _insert_select(
        Item,
        {
            "stream_id": "%(stream)s",
            "external_id": "'item-' || g",
            "context": "jsonb_build_array(jsonb_build_object('role', 'user', 'content', 'Question ' || g || '?'))",
            "responses": "jsonb_build_array(jsonb_build_object('text', 'Answer A to ' || g), "
            "jsonb_build_object('text', 'Answer B to ' || g))",
            "num_responses": "2",
            "content_hash": "md5(g::text)",
            "judgement_count": "%(overlap)s",
            "claim_count": "%(overlap)s",
            "is_open": "false",
        },
        "FROM generate_series(1, %(n)s) AS g",
        {"stream": stream.pk, "n": items, "overlap": overlap},
    )
    _insert_select(
        Assignment,
        {
            "item_id": "i.id",
            "stream_id": "i.stream_id",
            "annotator_id": f"({ids})[k + 1]",
            "status": "'submitted'",
            "display_order": "'[0, 1]'::jsonb",
            "lease_expires_at": "now()",
            "finished_at": "now()",
        },
        "FROM annotation_item i CROSS JOIN generate_series(0, %(overlap)s - 1) AS k WHERE i.stream_id = %(stream)s",
        {"stream": stream.pk, "overlap": overlap},
    )
    _insert_select(
        Judgement,
        {
            "assignment_id": "a.id",
            "item_id": "a.item_id",
            "stream_id": "a.stream_id",
            "annotator_id": "a.annotator_id",
            "choice": "CASE WHEN mod(a.id, 4) = 0 THEN 'B' ELSE 'A' END",
            "strength": "2",
            "display_order": "'[0, 1]'::jsonb",
            "served_at": "now() - interval '1 minute'",
            "submitted_at": "now()",
            "active_seconds": "5.0",
            "idempotency_key": "'faults-' || a.id",
        },
        "FROM annotation_assignment a WHERE a.stream_id = %(stream)s",
        {"stream": stream.pk},
    )


def _export_of(stream: Stream) -> Export:
    return exporting.create_export(
        project=stream.project, spec=exporting.ExportSpec(stream_ids=(stream.pk,), format="trl"), queued=True
    )


def _stop_when_running(jobs: Jobs, export: Export, *, attempt: int) -> int:
    """Waits for run ``attempt`` of ``export`` to be running, then freezes the pool process running
    it (SIGSTOP) so the run cannot finish between the look and the kill, and checks it is still
    running. Returns the frozen process, for the caller to kill."""
    deadline = time.monotonic() + BOUND_SECONDS
    while True:
        row = Export.objects.filter(pk=export.pk).values("status", "attempts").get()
        if row["status"] == Export.Status.RUNNING and row["attempts"] == attempt:
            break
        assert row["status"] != Export.Status.DONE, "the export finished before it could be killed"
        assert time.monotonic() < deadline, f"run {attempt} never started: {row}\n{jobs.logs()}"
        time.sleep(0.005)
    child = jobs.pool_process()  # concurrency 1: the one pool process is the one running it
    kill(child, signal.SIGSTOP)
    row = Export.objects.filter(pk=export.pk).values("status", "attempts").get()
    assert row == {"status": Export.Status.RUNNING, "attempts": attempt}, f"the export moved on before the kill: {row}"
    return child


def _wait_final(jobs: Jobs, export: Export, since: float) -> float:
    """Waits until the export is done or failed; returns how long after ``since`` it got there."""
    while True:
        export.refresh_from_db()
        if export.status in (Export.Status.DONE, Export.Status.FAILED):
            return time.monotonic() - since
        assert time.monotonic() - since < BOUND_SECONDS, (
            f"export still {export.status} {BOUND_SECONDS:.0f} s after the kill:\n{jobs.logs()}"
        )
        time.sleep(0.1)


def _pm_page(export: Export) -> str:
    pm = MembershipFactory.create(project=export.project, role=Role.PM).user
    client = Client()
    client.force_login(pm)
    return client.get(f"/projects/{export.project.slug}/exports/{export.pk}/").content.decode()


def test_an_export_whose_pool_process_is_killed_is_run_again(
    jobs: Jobs, transactional_db: None, liveness_settings: None
) -> None:
    stream = StreamFactory.create()
    _insert_judged_items(stream, 20000)
    export = _export_of(stream)
    jobs.worker()
    jobs.send("exports.tasks.run_export_task", export.pk)
    kill(_stop_when_running(jobs, export, attempt=1))  # as the out-of-memory killer would
    killed_at = time.monotonic()
    export.refresh_from_db()
    live = export.liveness()
    assert live is not None
    assert live.action == "retried"
    assert live.action_by is not None
    promised = live.action_by  # what the pages show once it is silent (tests/exports/test_export_sweeper.py)
    while Export.objects.filter(pk=export.pk, attempts=1).exists():
        assert time.monotonic() - killed_at < BOUND_SECONDS, jobs.logs()
        time.sleep(0.05)
    requeued = timezone.now()
    took = _wait_final(jobs, export, killed_at)
    record(
        "celery: export, pool process killed",
        ended=export.status,
        runs=export.attempts,
        seconds=round(took, 1),
        requeued_vs_page_s=round((requeued - promised).total_seconds(), 1),
    )
    assert export.status == Export.Status.DONE, export.error
    assert export.attempts == 2
    assert export.counts["pairs"]["kept"] > 0
    # Re-queued by the time the page said (one sweep of slack for the beat's tick).
    assert requeued <= promised + timedelta(seconds=2)
    assert jobs.worker().poll() is None  # the same worker carried on with a new pool process


def test_an_export_whose_whole_worker_is_killed_ends_by_the_time_the_page_says(
    jobs: Jobs, transactional_db: None, liveness_settings: None
) -> None:
    stream = StreamFactory.create()
    _insert_judged_items(stream, 20000)
    export = _export_of(stream)
    jobs.worker()
    jobs.send("exports.tasks.run_export_task", export.pk)
    _stop_when_running(jobs, export, attempt=1)
    jobs.kill_worker()
    killed_at = time.monotonic()

    # Nobody is working on it now: once silent for the stale time, the page says what happens when.
    time.sleep(STALE_SECONDS + 1.5)
    export.refresh_from_db()
    assert export.status == Export.Status.RUNNING  # no worker: no sweeper either (beat queues it)
    page = _pm_page(export)
    promised = re.search(r"the export will be retried by (\d\d:\d\d:\d\d)", page)
    assert promised, page
    jobs.start_worker()  # a new worker; nothing else is restarted
    took = _wait_final(jobs, export, killed_at)
    record("celery: export, whole worker killed", ended=export.status, runs=export.attempts, seconds=round(took, 1))
    assert export.status == Export.Status.DONE, export.error
    assert export.attempts == 2
    assert export.finished_at is not None


def test_an_export_whose_worker_keeps_dying_fails_with_the_reason(
    jobs: Jobs, transactional_db: None, liveness_settings: None
) -> None:
    stream = StreamFactory.create()
    _insert_judged_items(stream, 20000)
    export = _export_of(stream)
    jobs.worker()  # the tests may run in any order: never rely on an earlier test's worker
    jobs.send("exports.tasks.run_export_task", export.pk)
    for attempt in range(1, MAX_ATTEMPTS + 1):
        kill(_stop_when_running(jobs, export, attempt=attempt))
    killed_at = time.monotonic()
    took = _wait_final(jobs, export, killed_at)
    record("celery: export, killed on every run", ended=export.status, runs=export.attempts, seconds=round(took, 1))
    assert export.status == Export.Status.FAILED
    assert "The worker stopped responding at" in export.error
    assert "retried 1 time" in export.error
    page = _pm_page(export)
    assert "Failed" in page
    assert export.error.split(";")[0] in page


def test_a_generation_whose_worker_is_killed_is_asked_again(
    jobs: Jobs, transactional_db: None, liveness_settings: None
) -> None:
    question = "What are the names of some famous actors that started their careers on Broadway?"
    with model_server(Behaviour(token_delay=0.03)) as server:
        stream = dynamic_stream(server.url)
        # Slow tokens on a busy machine: give the answers time (the kill is what is under test).
        ModelEndpoint.objects.filter(project=stream.project).update(timeout_seconds=60)
        alice = make_annotator(stream, "alice")
        turn = dynamic.send_message(stream=stream, annotator=alice, text=question)
        jobs.worker()
        for generation_id, attempt in dynamic.pending_jobs(turn_id=turn.pk):
            jobs.send("dynamic.tasks.generate", generation_id, attempt)
        deadline = time.monotonic() + BOUND_SECONDS
        while not Generation.objects.filter(turn=turn, status=Generation.Status.STREAMING).exclude(text="").exists():
            assert time.monotonic() < deadline, jobs.logs()
            time.sleep(0.02)
        victim = Generation.objects.get(turn=turn, status=Generation.Status.STREAMING)
        jobs.kill_worker()
        killed_at = time.monotonic()
        jobs.start_worker()
        while turn.status not in (Turn.Status.READY, Turn.Status.FAILED):
            assert time.monotonic() - killed_at < BOUND_SECONDS, f"turn still {turn.status}:\n{jobs.logs()}"
            time.sleep(0.1)
            turn.refresh_from_db()
        took = time.monotonic() - killed_at
    victim.refresh_from_db()
    record(
        "celery: generation, whole worker killed", ended=turn.status, runs=victim.lost_runs + 1, seconds=round(took, 1)
    )
    assert turn.status == Turn.Status.READY, [g.error_detail for g in turn.generations.all()]
    assert (victim.status, victim.attempts, victim.lost_runs) == ("done", 2, 1)
    assert victim.text == corpus().answer(victim.endpoint.model, question)
