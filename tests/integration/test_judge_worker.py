"""A judge run on a real ``celery -A quorum worker`` (Redis broker, the test database): the worker
asks a real demo judge server about every item in both orders, writes the verdicts and the
judgements, and beats while it works."""

from __future__ import annotations

import time

import pytest

from annotation.models import Judgement
from dynamic.demo_model import Behaviour
from judging import services
from judging.models import JudgeRun, Verdict
from tests.integration.conftest import Worker
from tests.judging.helpers import judged_stream
from tests.model_servers import model_server
from tests.processes import tail

pytestmark = [pytest.mark.redis, pytest.mark.xdist_group("celery")]


def test_the_worker_runs_a_judge(celery_worker: Worker, transactional_db: None) -> None:
    with model_server(Behaviour(token_delay=0.01, judge="longer")) as server:
        judge = judged_stream(server.url, n_items=6, concurrency=3)
        run, _ = services.start_run(judge=judge)
        celery_worker.send("judging.tasks.run_judge_task", run.pk)
        deadline = time.monotonic() + 90
        while run.status in (JudgeRun.Status.PENDING, JudgeRun.Status.RUNNING):
            assert time.monotonic() < deadline, f"run still {run.status}:\n{tail(celery_worker.log)}"
            time.sleep(0.2)
            run.refresh_from_db()
    assert run.status == JudgeRun.Status.DONE, run.last_error_detail
    assert (run.consistent, run.requests, run.attempts) == (6, 12, 1)
    assert run.heartbeat_at is not None
    assert Verdict.objects.filter(judge=judge, status=Verdict.Status.CONSISTENT).count() == 6
    assert Judgement.objects.filter(source=Judgement.Source.MODEL, counted=False).count() == 6
