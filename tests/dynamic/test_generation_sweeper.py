"""An answer whose worker died does not stay "streaming": the sweeper asks again as a new attempt
(up to QUORUM_JOB_MAX_ATTEMPTS runs) or fails it with the reason; the chat page says which."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from dynamic import services as dynamic
from dynamic import tasks
from dynamic.models import Generation, Turn
from tests.annotation.conftest import make_annotator
from tests.model_servers import corpus, dynamic_stream, model_server

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _limits(settings: Any) -> None:
    settings.QUORUM_JOB_STALE_SECONDS = 120
    settings.QUORUM_JOB_SWEEP_SECONDS = 30
    settings.QUORUM_JOB_MAX_ATTEMPTS = 3


def _turn_whose_worker_died(url: str, *, silent_for: float, lost_runs: int = 0) -> tuple[Turn, Generation]:
    """A turn whose first answer was streaming when its worker was killed (no task queued: the
    queued messages are what a dead worker loses)."""
    stream = dynamic_stream(url)
    alice = make_annotator(stream, "alice")
    turn = dynamic.send_message(stream=stream, annotator=alice, text="hello")
    first, second = turn.generations.order_by("position")
    Generation.objects.filter(pk=first.pk).update(
        status=Generation.Status.STREAMING,
        text="Half an ans",
        lost_runs=lost_runs,
        heartbeat_at=timezone.now() - timedelta(seconds=silent_for),
    )
    dynamic.run_generation(generation_id=second.pk, attempt=1)  # the other worker finished
    first.refresh_from_db()
    return turn, first


def test_it_asks_again_for_an_answer_whose_worker_died() -> None:
    with model_server() as server:
        turn, generation = _turn_whose_worker_died(server.url, silent_for=121)
        assert tasks.sweep_stale_generations() == 1  # eager: the new attempt runs here
    generation.refresh_from_db()
    turn.refresh_from_db()
    assert (generation.status, generation.attempts, generation.lost_runs) == ("done", 2, 1)
    assert generation.text == corpus().answer(generation.endpoint.model, "hello")  # whole, asked anew
    assert turn.status == Turn.Status.READY


def test_it_fails_the_answer_and_its_turn_after_the_last_attempt() -> None:
    with model_server() as server:
        turn, generation = _turn_whose_worker_died(server.url, silent_for=121, lost_runs=2)
        assert tasks.sweep_stale_generations() == 0
    generation.refresh_from_db()
    turn.refresh_from_db()
    assert generation.status == Generation.Status.ERROR
    assert generation.error == "The server stopped working on this answer. Ask again."
    assert "stopped responding at" in generation.error_detail
    assert "retried 2 times" in generation.error_detail
    assert turn.status == Turn.Status.FAILED


def test_it_leaves_a_live_answer_alone_and_a_redelivered_task_does_nothing() -> None:
    with model_server() as server:
        _, generation = _turn_whose_worker_died(server.url, silent_for=5)
        assert tasks.sweep_stale_generations() == 0
        assert tasks.generate(generation.pk, 1) == "skipped"
    generation.refresh_from_db()
    assert (generation.status, generation.attempts) == ("streaming", 1)


def test_the_run_that_lost_its_answer_stops_without_writing() -> None:
    with model_server() as server:
        _, generation = _turn_whose_worker_died(server.url, silent_for=121)
        requeued = dynamic.sweep_stale_generations()
        assert requeued == [(generation.pk, 2)]
        # The old attempt's task (say, a redelivery) finds nothing of its own to run.
        assert tasks.generate(generation.pk, 1) == "skipped"
    generation.refresh_from_db()
    assert (generation.status, generation.text) == ("pending", "")


def test_the_chat_page_says_the_answer_will_be_asked_again_and_when() -> None:
    with model_server() as server:
        turn, generation = _turn_whose_worker_died(server.url, silent_for=125)
        client = Client()
        client.force_login(turn.conversation.annotator)
        live = generation.liveness()
        assert live is not None
        assert live.stale
        by = timezone.localtime(live.action_by).strftime("%H:%M:%S")
        page = client.get(reverse("dynamic:converse", args=[turn.conversation.stream_id])).content.decode()
    assert f"asking again by itself by {by}" in page
