"""Production's heartbeat: a real ``celery -A quorum worker`` on Redis records each run of a
scheduled task (what ``celery beat`` sends) in the job's ``PeriodicJob`` row."""

from __future__ import annotations

import time

import pytest

from qc.models import PeriodicJob
from qc.selectors import periodic_health
from tests.integration.conftest import Worker
from tests.processes import tail

pytestmark = [pytest.mark.redis, pytest.mark.xdist_group("celery")]


def test_the_worker_records_the_runs_beat_sends(celery_worker: Worker, transactional_db: None) -> None:
    assert not PeriodicJob.objects.exists()
    # What beat sends for the "annotation-expire-leases" entry: the task by name, no arguments.
    assert celery_worker.send("annotation.tasks.expire_leases").get(timeout=60) == 0
    deadline = time.monotonic() + 30
    while not PeriodicJob.objects.filter(name="annotation-expire-leases", last_finished_at__isnull=False).exists():
        assert time.monotonic() < deadline, f"no run recorded:\n{tail(celery_worker.log)}"
        time.sleep(0.2)
    row = PeriodicJob.objects.get(name="annotation-expire-leases")
    assert (row.task, row.interval_seconds, row.last_ok, row.runs, row.last_result) == (
        "annotation.tasks.expire_leases",
        60.0,
        True,
        1,
        "0",
    )
    health = {job.name: job for job in periodic_health().jobs}
    assert not health["annotation-expire-leases"].overdue
    assert health["qc-recompute-metrics"].overdue  # not sent: never ran
