"""Tasks run by a real ``celery -A quorum worker`` on Redis, against the test database."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from annotation.models import ImportBatch, Item
from annotation.tasks import run_import
from tests.factories import StreamFactory
from tests.integration.conftest import REDIS_URL, Worker
from tests.processes import BASE_DIR, clean_environ, stop, tail

pytestmark = [pytest.mark.redis, pytest.mark.xdist_group("celery")]


def test_it_runs_a_task_on_the_worker_against_the_test_database(celery_worker: Worker) -> None:
    result = celery_worker.send("quorum.ping")
    assert result.get(timeout=30) == connection.settings_dict["NAME"]


def test_it_imports_an_uploaded_file_on_the_worker(celery_worker: Worker, transactional_db: None) -> None:
    # The upload view queues run_import.delay(batch_id); here the same message goes to the worker.
    stream = StreamFactory.create()
    lines = [
        {"id": f"q{n}", "prompt": f"Question {n}?", "responses": [f"Short answer {n}.", f"A longer answer {n}."]}
        for n in range(3)
    ]
    upload = Path(settings.MEDIA_ROOT) / "imports" / f"test-{uuid.uuid4().hex}.jsonl"
    upload.parent.mkdir(parents=True, exist_ok=True)
    upload.write_text("".join(json.dumps(line) + "\n" for line in lines))
    try:
        batch = ImportBatch.objects.create(
            stream=stream,
            filename="questions.jsonl",
            file_path=str(upload),
            format="native",
            total_bytes=upload.stat().st_size,
        )
        celery_worker.send(run_import.name, batch.id)

        deadline = time.monotonic() + 120
        while batch.status not in (ImportBatch.Status.DONE, ImportBatch.Status.FAILED):
            assert time.monotonic() < deadline, f"import still {batch.status} after 120 s:\n{tail(celery_worker.log)}"
            time.sleep(0.2)
            batch.refresh_from_db()
    finally:
        upload.unlink(missing_ok=True)

    assert batch.status == ImportBatch.Status.DONE, batch.report
    assert batch.created_count == 3
    items = Item.objects.filter(stream=stream).order_by("external_id")
    assert [item.external_id for item in items] == ["q0", "q1", "q2"]
    assert [len(item.responses) for item in items] == [2, 2, 2]


def test_beat_starts_with_the_configured_schedule(tmp_path: Path) -> None:
    schedule = tmp_path / "celerybeat-schedule"
    log = tmp_path / "beat.log"
    env = clean_environ(
        DJANGO_SETTINGS_MODULE="quorum.settings",
        REDIS_URL=REDIS_URL,
        CELERY_BEAT_SCHEDULE_FILENAME=str(schedule),
    )
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "quorum", "beat", "--loglevel", "INFO"],
            cwd=BASE_DIR,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 30
        while "beat: Starting..." not in log.read_text(errors="replace"):
            assert process.poll() is None, f"celery beat exited with {process.returncode}:\n{tail(log)}"
            assert time.monotonic() < deadline, f"celery beat did not start in 30 s:\n{tail(log)}"
            time.sleep(0.2)
        time.sleep(1)  # a beat that fails on its schedule does so right after starting
        assert process.poll() is None, tail(log)
    finally:
        stop(process)
    # The schedule file lands where CELERY_BEAT_SCHEDULE_FILENAME says (shelve may add a suffix).
    assert list(tmp_path.glob("celerybeat-schedule*")), tail(log)
