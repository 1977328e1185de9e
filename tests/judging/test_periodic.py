"""The periodic job: judges that follow their stream judge new items; waiting runs are run (here,
eager: in the job itself); runs whose worker died are queued again or failed."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import override_settings
from django.utils import timezone

from dynamic.demo_model import Behaviour
from judging import services, tasks
from judging.models import JudgeRun, Verdict
from qc import periodic
from tests.judging.helpers import items, judged_stream
from tests.model_servers import model_server

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast")]


@pytest.fixture
def fast() -> object:
    with override_settings(QUORUM_JUDGE_BACKOFF_MS=10):
        yield


def test_the_job_is_on_the_schedule() -> None:
    job = next(job for job in periodic.schedule_jobs() if job.name == "judging-run-judges")
    assert periodic.resolve(job.task).name == tasks.run_judges.name == job.task


def test_a_following_judge_judges_new_items_each_period() -> None:
    with model_server(Behaviour(token_delay=0, judge="longer")) as server:
        judge = judged_stream(server.url, n_items=2)
        assert tasks.run_judges() == {"requeued": 0, "started": 1, "queued": 1}
        assert Verdict.objects.count() == 2
        assert tasks.run_judges() == {"requeued": 0, "started": 0, "queued": 0}  # nothing new
        items(judge.stream, 3)
        tasks.run_judges()
    assert Verdict.objects.count() == 5
    assert list(JudgeRun.objects.values_list("trigger", "status")) == [("follow", "done")] * 2


def test_a_judge_not_following_or_out_of_budget_is_left_alone() -> None:
    with model_server(Behaviour(token_delay=0, judge="longer")) as server:
        judge = judged_stream(server.url, n_items=2, follow=False)
        spent = judged_stream(server.url, n_items=2, budget_requests=0)
        tasks.run_judges()
        assert server.behaviour.completions == 0
    assert not JudgeRun.objects.filter(judge__in=[judge, spent]).exists()


def test_a_pending_run_is_run_by_the_job() -> None:
    with model_server(Behaviour(token_delay=0, judge="longer")) as server:
        judge = judged_stream(server.url, n_items=2, follow=False)
        services.start_run(judge=judge)
        tasks.run_judges()
    assert JudgeRun.objects.get().status == JudgeRun.Status.DONE


def test_a_run_whose_worker_died_is_queued_again_then_failed() -> None:
    with model_server(Behaviour(token_delay=0, judge="longer")) as server:
        judge = judged_stream(server.url, n_items=2, follow=False)
        started, _ = services.start_run(judge=judge)
        long_ago = timezone.now() - timedelta(hours=1)
        JudgeRun.objects.filter(pk=started.pk).update(status="running", attempts=1, heartbeat_at=long_ago)
        assert tasks.run_judges()["requeued"] == 1  # and run again, here
        started.refresh_from_db()
        assert (started.status, started.attempts) == (JudgeRun.Status.DONE, 2)
    assert Verdict.objects.count() == 2
    JudgeRun.objects.filter(pk=started.pk).update(status="running", attempts=3, heartbeat_at=long_ago)
    assert services.sweep_stale_runs() == []
    started.refresh_from_db()
    assert started.status == JudgeRun.Status.FAILED
    assert "stopped responding" in started.last_error
