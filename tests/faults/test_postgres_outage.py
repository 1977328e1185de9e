"""Stop PostgreSQL for 10 s while annotators submit: submits during the outage fail cleanly (a 5xx,
never acknowledged), the clients send them again, and afterwards every acknowledged judgement is
stored once and none twice; gunicorn serves again without a restart.

The database is the test's own PostgreSQL cluster (Debian's ``initdb``/``pg_ctl``, run as the
``postgres`` user when the test runs as root) on a free port, never the machine's shared server:
the test database's data is copied into it with ``pg_dump``. The stop is ``pg_ctl stop -m
immediate`` — a crash, as far as the clients can tell, so commits in flight lose their answer.
"""

from __future__ import annotations

import subprocess
import threading
import time
from pathlib import Path

import psycopg
import pytest
from django.db import connection

from tests.faults.harness import (
    JUDGEMENT_ROWS_SQL,
    Cluster,
    count,
    gunicorn,
    gunicorn_env,
    judging_setup,
    private_cluster,
    record,
    run_annotators,
)

pytestmark = [pytest.mark.faults, pytest.mark.postgres, pytest.mark.xdist_group("faults")]

SECONDS = 30.0  # of labeling
OUTAGE_AT = 8.0  # seconds into it
OUTAGE_SECONDS = 10.0


def _copy_test_database(cluster: Cluster, database: str) -> None:
    """The test database (schema and the rows this test made) into the private cluster:
    ``pg_dump | psql``, with the binaries of the cluster's version."""
    db = connection.settings_dict
    host, port, user = db.get("HOST") or "127.0.0.1", str(db.get("PORT") or 5432), db.get("USER") or "postgres"
    source = ["-h", host, "-p", port, "-U", user]
    dump = subprocess.run(
        [str(cluster.bin / "pg_dump"), "--no-owner", "--no-privileges", *source, db["NAME"]],
        check=True,
        capture_output=True,
        timeout=120,
    )
    target = ["-h", "127.0.0.1", "-p", str(cluster.port), "-U", "postgres", "-d", database]
    subprocess.run(
        [str(cluster.bin / "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", *target],
        input=dump.stdout,
        check=True,
        capture_output=True,
        timeout=120,
    )


def test_a_database_outage_loses_and_duplicates_no_judgement(transactional_db: None, tmp_path: Path) -> None:
    stream_id, keys = judging_setup(items=3000, annotators=6)
    with private_cluster() as cluster:
        with psycopg.connect(cluster.url("postgres"), autocommit=True) as admin:
            admin.execute("CREATE DATABASE quorum")
        _copy_test_database(cluster, "quorum")
        env = gunicorn_env(cluster.url("quorum"))
        with gunicorn(env, tmp_path / "gunicorn.log", workers=2) as (master, port):
            outage: dict[str, float] = {}

            def stop_and_start() -> None:
                time.sleep(OUTAGE_AT)
                outage["stopped_at"] = time.monotonic()
                cluster.stop("immediate")
                time.sleep(OUTAGE_SECONDS)
                cluster.start()
                outage["started_at"] = time.monotonic()

            thread = threading.Thread(target=stop_and_start, daemon=True)
            started = time.monotonic()
            thread.start()
            tally = run_annotators(port, keys, stream_id, seconds=SECONDS)
            thread.join()
            elapsed = time.monotonic() - started
            assert master.poll() is None, "gunicorn died with the database"
        with psycopg.connect(cluster.url("quorum")) as conn:
            rows = conn.execute(JUDGEMENT_ROWS_SQL, [stream_id]).fetchall()
    counts = count(tally, rows)
    failed = {what: n for what, n in tally.statuses.items() if not what.split()[-1].startswith("2")}
    record(
        "postgres stopped 10 s",
        seconds=round(elapsed, 1),
        down_s=round(outage["started_at"] - outage["stopped_at"], 1),  # 10 s stopped + the restart's recovery
        acknowledged=counts.acknowledged,
        stored=counts.stored,
        lost=counts.lost,
        duplicated=counts.duplicated,
        resent=tally.retries,
        failed_answers=failed,
    )
    assert tally.errors == [], (dict(tally.statuses), tally.errors[:3])
    assert outage["started_at"] - outage["stopped_at"] >= OUTAGE_SECONDS
    assert any(what.split()[-1].startswith("5") for what in failed), "no request met the outage"
    assert counts.acknowledged > 50
    assert counts.lost == 0
    assert counts.duplicated == 0
    assert counts.stored == counts.acknowledged
