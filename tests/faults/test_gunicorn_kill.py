"""kill -9 gunicorn workers while annotators submit over HTTP: every acknowledged judgement is
stored once, none twice. gunicorn (3 gthread workers) serves the PostgreSQL test database; a
killer sends SIGKILL to one worker at a time while six simulated annotators label, and the master
starts replacements (the app recovers by itself)."""

from __future__ import annotations

import random
import threading
import time
from pathlib import Path

import pytest
from django.db import connection

from tests.faults.harness import (
    JUDGEMENT_ROWS_SQL,
    children,
    count,
    gunicorn,
    gunicorn_env,
    judging_setup,
    kill,
    record,
    run_annotators,
    talks_to,
)
from tests.integration.conftest import url_of_test_database

pytestmark = [pytest.mark.faults, pytest.mark.postgres, pytest.mark.xdist_group("faults")]

SECONDS = 30.0  # of labeling
KILL_EVERY = 1.0  # seconds between two kills


def test_killed_gunicorn_workers_lose_and_duplicate_no_judgement(transactional_db: None, tmp_path: Path) -> None:
    stream_id, keys = judging_setup(items=3000, annotators=6)
    env = gunicorn_env(url_of_test_database())
    db_port = int(connection.settings_dict.get("PORT") or 5432)
    with gunicorn(env, tmp_path / "gunicorn.log", workers=3) as (master, port):
        killed: list[int] = []
        done = threading.Event()

        def killer() -> None:
            # Only a worker that is serving (it holds its database connection) is killed, and only
            # while another one serves: a replacement needs seconds to boot Django on a busy
            # machine, and killing workers before they serve would test only the clients' patience.
            rng = random.Random(7)
            while not done.wait(KILL_EVERY):
                serving = [pid for pid in children(master.pid) if talks_to(pid, db_port)]
                if len(serving) >= 2:
                    victim = rng.choice(serving)
                    kill(victim)
                    killed.append(victim)

        thread = threading.Thread(target=killer, daemon=True)
        thread.start()
        started = time.monotonic()
        tally = run_annotators(port, keys, stream_id, seconds=SECONDS)
        done.set()
        thread.join()
        elapsed = time.monotonic() - started
        assert master.poll() is None, "the gunicorn master died"
        # A worker killed just before the end may still be booting its replacement (10-20 s on a
        # loaded 2-core machine): give the master time, then insist.
        deadline = time.monotonic() + 60
        while len(children(master.pid)) < 3 and time.monotonic() < deadline:
            time.sleep(0.5)
        assert len(children(master.pid)) == 3, "gunicorn did not replace its killed workers"

    with connection.cursor() as cursor:
        cursor.execute(JUDGEMENT_ROWS_SQL, [stream_id])
        rows = cursor.fetchall()
    counts = count(tally, rows)
    record(
        "gunicorn kill -9",
        workers_killed=len(killed),
        seconds=round(elapsed, 1),
        acknowledged=counts.acknowledged,
        stored=counts.stored,
        lost=counts.lost,
        duplicated=counts.duplicated,
        resent=tally.retries,
        failed_requests=sum(n for what, n in tally.statuses.items() if not what.split()[-1].startswith(("2", "204"))),
    )
    assert tally.errors == [], (dict(tally.statuses), tally.errors[:3])
    assert len(killed) >= 3, "too few kills to mean anything"
    assert counts.acknowledged > 100
    assert counts.lost == 0
    assert counts.duplicated == 0
    # A killed worker's judgement that was stored but not acknowledged was resent and acknowledged
    # as a repeat; nothing is stored that no client was told about.
    assert counts.stored == counts.acknowledged
