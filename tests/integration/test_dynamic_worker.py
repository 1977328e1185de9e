"""Dynamic labeling with a real ``celery -A quorum worker`` on Redis: the worker streams both
answers from a real demo model server (HTTP on loopback) into the test database, partial text
first, and the turn becomes ready to judge."""

from __future__ import annotations

import time

import pytest

from annotation.models import Item, Judgement
from dynamic import services as dynamic
from dynamic import tasks as dynamic_tasks
from dynamic.demo_model import Behaviour
from dynamic.models import Generation, Turn
from tests.annotation.conftest import make_annotator
from tests.integration.conftest import Worker
from tests.model_servers import GPT, MIXTRAL, corpus, dynamic_stream, model_server
from tests.processes import tail

pytestmark = [pytest.mark.redis, pytest.mark.xdist_group("celery")]


def _route_to(worker: Worker, monkeypatch: pytest.MonkeyPatch) -> None:
    """``tasks.queue_turn`` queues a turn's generations on commit; here they go to the real
    worker's queue (the test process itself runs tasks eagerly)."""

    def queue(jobs: list[tuple[int, int]]) -> None:
        for generation_id, attempt in jobs:
            worker.send("dynamic.tasks.generate", generation_id, attempt)

    monkeypatch.setattr(dynamic_tasks, "queue_generations", queue)


def _wait_for(turn: Turn, worker: Worker, statuses: set[str], timeout: float = 60) -> list[str]:
    """Waits for the turn to reach one of ``statuses``; returns the partial texts seen meanwhile."""
    partial: list[str] = []
    deadline = time.monotonic() + timeout
    while turn.status not in statuses:
        assert time.monotonic() < deadline, f"turn still {turn.status}:\n{tail(worker.log)}"
        partial += [g.text for g in turn.generations.filter(status=Generation.Status.STREAMING) if g.text]
        time.sleep(0.05)
        turn.refresh_from_db()
    return partial


def test_the_worker_streams_both_answers(
    celery_worker: Worker, transactional_db: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    _route_to(celery_worker, monkeypatch)
    question = "What are the names of some famous actors that started their careers on Broadway?"
    with model_server(Behaviour(token_delay=0.02)) as server:
        stream = dynamic_stream(server.url)
        alice = make_annotator(stream, "alice")
        turn = dynamic.send_message(stream=stream, annotator=alice, text=question)
        dynamic_tasks.queue_turn(turn.pk)
        partial = _wait_for(turn, celery_worker, {Turn.Status.READY, Turn.Status.FAILED})

    assert turn.status == Turn.Status.READY, [g.error_detail for g in turn.generations.all()]
    texts = {g.endpoint.model: g.text for g in turn.generations.select_related("endpoint")}
    assert texts == {GPT: corpus().answer(GPT, question), MIXTRAL: corpus().answer(MIXTRAL, question)}
    assert partial, "no partial answer was visible while the worker streamed"
    assert all(any(full.startswith(p) for full in texts.values()) for p in partial)

    result = dynamic.judge_turn(turn=turn, answer={"choice": "A", "strength": 2})
    assert Judgement.objects.get().source == Judgement.Source.DYNAMIC
    assert Item.objects.get(pk=result.judgement.item_id).context == [{"role": "user", "content": question}]


def test_a_failing_endpoint_fails_the_turn_on_the_worker(
    celery_worker: Worker, transactional_db: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    _route_to(celery_worker, monkeypatch)
    with model_server(Behaviour(token_delay=0, fail_after=3)) as server:
        stream = dynamic_stream(server.url)
        alice = make_annotator(stream, "alice")
        turn = dynamic.send_message(stream=stream, annotator=alice, text="hello")
        dynamic_tasks.queue_turn(turn.pk)
        _wait_for(turn, celery_worker, {Turn.Status.READY, Turn.Status.FAILED})
        assert turn.status == Turn.Status.FAILED
        errors = list(turn.generations.values_list("error", flat=True))
        assert errors == ["The model stopped with an error in the middle of its answer."] * 2

        server.behaviour.fail_after = None
        assert len(dynamic.retry_generations(turn=turn)) == 2
        dynamic_tasks.queue_turn(turn.pk)
        turn.refresh_from_db()
        _wait_for(turn, celery_worker, {Turn.Status.READY, Turn.Status.FAILED})
    assert turn.status == Turn.Status.READY
    assert set(turn.generations.values_list("attempts", flat=True)) == {2}
