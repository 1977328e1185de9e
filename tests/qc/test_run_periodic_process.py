"""``manage.py run_periodic`` as ``make run`` starts it: a real process on a temporary SQLite
database (the embedded mode: eager Celery, no Redis), stopped with SIGTERM."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from qc.periodic import schedule_jobs
from tests.processes import BASE_DIR, clean_environ, stop, tail


def _embedded_env(database: Path) -> dict[str, str]:
    return clean_environ(DATABASE_URL=f"sqlite:///{database}", DJANGO_SETTINGS_MODULE="quorum.settings")


def test_make_run_starts_the_scheduler_beside_the_server_and_stops_it_with_it() -> None:
    recipe = subprocess.run(
        ["make", "--dry-run", "--always-make", "serve"], cwd=BASE_DIR, capture_output=True, text=True, check=True
    ).stdout
    serve = next(line for line in recipe.splitlines() if "manage.py runserver" in line)
    assert "manage.py run_periodic & periodic=$!;" in serve
    assert "trap 'kill $demo_model $periodic 2>/dev/null' EXIT INT TERM" in serve
    # In the embedded environment (no DATABASE_URL, REDIS_URL or CELERY_TASK_ALWAYS_EAGER from the shell).
    before = serve.split("manage.py run_periodic")[0].rsplit(";", 1)[-1]
    assert "-u DATABASE_URL -u REDIS_URL -u CELERY_TASK_ALWAYS_EAGER" in before


def test_run_periodic_runs_every_job_in_a_real_process_and_stops_on_sigterm(tmp_path: Path) -> None:
    database = tmp_path / "embedded.sqlite3"
    env = _embedded_env(database)
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=BASE_DIR, env=env, check=True, timeout=300
    )
    log = tmp_path / "run_periodic.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "manage.py", "run_periodic"], cwd=BASE_DIR, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    expected = {job.name for job in schedule_jobs()}
    try:
        deadline = time.monotonic() + 120
        while True:
            assert process.poll() is None, f"run_periodic exited with {process.returncode}:\n{tail(log)}"
            with sqlite3.connect(database, timeout=20) as db:
                rows = db.execute(
                    "SELECT name, last_ok, runs FROM qc_periodicjob WHERE last_finished_at IS NOT NULL"
                ).fetchall()
            if {name for name, _ok, _runs in rows} == expected:
                break
            assert time.monotonic() < deadline, f"jobs recorded after 120 s: {rows}\n{tail(log)}"
            time.sleep(0.5)
        assert all(ok == 1 and runs == 1 for _name, ok, runs in rows), rows
    finally:
        stop(process)
    assert process.returncode == 0, tail(log)  # SIGTERM is a clean stop
    assert "Periodic jobs: annotation-expire-leases every 60 s" in log.read_text()
