"""An import batch whose process died does not stay "running": the sweeper queues a stored upload
again (up to QUORUM_JOB_MAX_ATTEMPTS runs) or fails the batch with the reason; the page says so."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from annotation import tasks
from annotation.models import ImportBatch, Item
from projects.models import Role
from tests.factories import PASSWORD, MembershipFactory, StreamFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def stored(settings: Any, tmp_path: Path) -> ImportBatch:
    settings.MEDIA_ROOT = tmp_path
    settings.QUORUM_JOB_STALE_SECONDS = 120
    settings.QUORUM_JOB_SWEEP_SECONDS = 30
    settings.QUORUM_JOB_MAX_ATTEMPTS = 3
    path = tmp_path / "imports" / "upload.jsonl"
    path.parent.mkdir()
    path.write_text(
        "".join(json.dumps({"id": f"q{n}", "prompt": "Q?", "responses": ["a", "b"]}) + "\n" for n in range(3))
    )
    return ImportBatch.objects.create(
        stream=StreamFactory.create(), filename="upload.jsonl", file_path=str(path), format="native"
    )


def _killed(batch: ImportBatch, *, silent_for: float, attempts: int = 1) -> ImportBatch:
    """As a worker killed mid-import leaves it: running, its transaction rolled back."""
    ImportBatch.objects.filter(pk=batch.pk).update(
        status=ImportBatch.Status.RUNNING,
        attempts=attempts,
        lines_read=2,
        heartbeat_at=timezone.now() - timedelta(seconds=silent_for),
    )
    batch.refresh_from_db()
    return batch


def test_it_queues_again_a_stored_upload_whose_worker_died(stored: ImportBatch) -> None:
    _killed(stored, silent_for=121)
    assert tasks.sweep_stale_imports() == 1  # eager Celery: the new run happens here
    stored.refresh_from_db()
    assert (stored.status, stored.attempts, stored.created_count) == ("done", 2, 3)
    assert Item.objects.filter(stream=stored.stream).count() == 3


def test_it_fails_a_batch_after_its_last_attempt_and_removes_the_upload(stored: ImportBatch) -> None:
    _killed(stored, silent_for=121, attempts=3)
    assert tasks.sweep_stale_imports() == 0
    stored.refresh_from_db()
    assert stored.status == "failed"
    assert "stopped responding at" in stored.report["failure"]
    assert "retried 2 times" in stored.report["failure"]
    assert not Path(stored.file_path).exists()


def test_it_fails_an_import_run_in_a_web_request_whose_process_died(stored: ImportBatch) -> None:
    # Small uploads are imported inside the request: no stored file, nothing to run again.
    ImportBatch.objects.filter(pk=stored.pk).update(file_path="")
    _killed(stored, silent_for=121, attempts=0)
    assert tasks.sweep_stale_imports() == 0
    stored.refresh_from_db()
    assert stored.status == "failed"
    assert "upload the file again" in stored.report["failure"]


def test_it_leaves_a_live_import_alone(stored: ImportBatch) -> None:
    _killed(stored, silent_for=10)
    assert tasks.sweep_stale_imports() == 0
    stored.refresh_from_db()
    assert (stored.status, stored.attempts) == ("running", 1)
    # A redelivered message does not run it a second time either.
    assert tasks.run_import.delay(stored.pk).get() == "skipped"


def test_a_redelivered_message_runs_a_dead_workers_batch(stored: ImportBatch) -> None:
    _killed(stored, silent_for=121)
    assert tasks.run_import.delay(stored.pk).get() == "done"
    stored.refresh_from_db()
    assert stored.attempts == 2


def test_the_batch_page_shows_a_silent_import_and_when_it_will_be_retried(stored: ImportBatch) -> None:
    _killed(stored, silent_for=125)
    pm = MembershipFactory.create(project=stored.stream.project, role=Role.PM).user
    client = Client()
    assert client.login(username=pm.username, password=PASSWORD)
    live = stored.liveness()
    assert live is not None
    by = timezone.localtime(live.action_by).strftime("%H:%M:%S")
    page = client.get(f"/streams/{stored.stream.pk}/imports/{stored.pk}/").content.decode()
    assert "Run 1 of at most 3" in page
    assert f"the import will be retried by {by}" in page
