"""An export whose worker died does not stay "running": the sweeper queues it again (up to
QUORUM_JOB_MAX_ATTEMPTS runs) or fails it with the reason, and the pages say which and when."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from exports import services as exporting
from exports import tasks
from exports.models import Export
from projects.models import Role
from quorum import jobs
from tests.factories import PASSWORD, MembershipFactory, StreamFactory
from tests.qc.helpers import judged_item

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _media(settings: Any, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.QUORUM_JOB_STALE_SECONDS = 120
    settings.QUORUM_JOB_SWEEP_SECONDS = 30
    settings.QUORUM_JOB_MAX_ATTEMPTS = 3


def _running(*, silent_for: float, attempts: int = 1, queued: bool = True) -> Export:
    """An export a worker started and then stopped beating for (as kill -9 leaves it)."""
    stream = StreamFactory.create()
    judged_item(stream, ["A", "A"])
    export = exporting.create_export(
        project=stream.project, spec=exporting.ExportSpec(stream_ids=(stream.pk,)), queued=queued
    )
    Export.objects.filter(pk=export.pk).update(
        status=Export.Status.RUNNING,
        attempts=attempts,
        progress=0.033,
        heartbeat_at=timezone.now() - timedelta(seconds=silent_for),
    )
    export.refresh_from_db()
    return export


def test_it_queues_again_an_export_whose_worker_stopped_responding() -> None:
    export = _running(silent_for=121)
    # Eager Celery (test settings): the re-queued run happens inside the sweep.
    assert tasks.sweep_stale_exports() == 1
    export.refresh_from_db()
    assert export.status == Export.Status.DONE
    assert export.attempts == 2
    assert export.counts["pairs"]["kept"] == 1


def test_it_fails_an_export_after_its_last_attempt_with_the_reason() -> None:
    export = _running(silent_for=500, attempts=3)
    assert tasks.sweep_stale_exports() == 0
    export.refresh_from_db()
    assert export.status == Export.Status.FAILED
    assert "stopped responding at" in export.error
    assert "retried 2 times" in export.error
    assert export.finished_at is not None


def test_it_leaves_a_live_export_alone() -> None:
    export = _running(silent_for=10)
    assert tasks.sweep_stale_exports() == 0
    export.refresh_from_db()
    assert export.status == Export.Status.RUNNING
    assert export.attempts == 1


def test_it_fails_a_command_line_export_whose_process_died_instead_of_queueing_it() -> None:
    export = _running(silent_for=121, queued=False)
    assert tasks.sweep_stale_exports() == 0
    export.refresh_from_db()
    assert export.status == Export.Status.FAILED
    assert "export_preferences process stopped responding" in export.error


def test_a_redelivered_message_runs_a_dead_workers_export_but_not_a_live_one() -> None:
    dead = _running(silent_for=121)
    tasks.run_export_task(dead.pk)
    dead.refresh_from_db()
    assert (dead.status, dead.attempts) == (Export.Status.DONE, 2)

    live = _running(silent_for=5)
    tasks.run_export_task(live.pk)
    live.refresh_from_db()
    assert (live.status, live.attempts) == (Export.Status.RUNNING, 1)


def test_a_run_that_lost_its_job_stops_and_writes_nothing() -> None:
    export = _running(silent_for=0)
    beat = jobs.Heartbeat(Export.objects.filter(pk=export.pk, status=Export.Status.RUNNING, attempts=1))
    assert beat.beat(force=True)
    # The sweeper gave the job to a second run meanwhile.
    Export.objects.filter(pk=export.pk).update(attempts=2)
    assert not beat.beat(force=True)
    with pytest.raises(jobs.JobLost):
        beat.check()


def test_the_pages_show_a_silent_export_and_when_it_will_be_retried() -> None:
    export = _running(silent_for=125)
    pm = MembershipFactory.create(project=export.project, role=Role.PM).user
    client = Client()
    assert client.login(username=pm.username, password=PASSWORD)
    live = export.liveness()
    assert live is not None
    assert live.stale
    assert live.action == "retried"
    by = timezone.localtime(live.action_by).strftime("%H:%M:%S")

    detail = client.get(f"/projects/{export.project.slug}/exports/{export.pk}/")
    assert detail.status_code == 200
    assert "Run 1 of at most 3" in detail.content.decode()
    assert f"the export will be retried by {by}" in detail.content.decode()

    listing = client.get(f"/projects/{export.project.slug}/exports/")
    assert f"retried by {by}" in listing.content.decode()

    Export.objects.filter(pk=export.pk).update(attempts=3)
    detail = client.get(f"/projects/{export.project.slug}/exports/{export.pk}/")
    assert "the export will be marked failed by" in detail.content.decode()


def test_the_api_reports_attempts_and_heartbeat() -> None:
    export = _running(silent_for=5, attempts=2)
    pm = MembershipFactory.create(project=export.project, role=Role.PM).user
    client = Client()
    assert client.login(username=pm.username, password=PASSWORD)
    data = client.get(f"/api/exports/{export.pk}/").json()
    assert data["attempts"] == 2
    assert data["heartbeat_at"] is not None
