"""Dynamic labeling services against a real demo model server: sending, generating, judging,
retrying, ending, and the items and judgements a conversation leaves behind."""

from __future__ import annotations

import random
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from annotation.models import Assignment, Item, Judgement
from dynamic import services as dynamic
from dynamic import tasks as dynamic_tasks
from dynamic.demo_model import Behaviour
from dynamic.models import Conversation, Generation, StreamEndpoint, Turn
from tests.annotation.conftest import make_annotator
from tests.model_servers import GPT, MIXTRAL, corpus, dynamic_stream, endpoint, model_server

pytestmark = pytest.mark.django_db


def _send(stream: Any, user: Any, text: str, capture: Any) -> Turn:
    with capture(execute=True):  # the generations are queued on commit; eager here
        turn = dynamic.send_message(stream=stream, annotator=user, text=text)
        dynamic_tasks.queue_turn(turn.pk)
    turn.refresh_from_db()
    return turn


def _answer(choice: str, strength: int | None = 2) -> dict[str, Any]:
    return {"choice": choice, "strength": strength if choice in ("A", "B") else None}


def test_a_message_gets_one_streamed_answer_per_candidate(django_capture_on_commit_callbacks: Any) -> None:
    with model_server() as server:
        stream = dynamic_stream(server.url)
        alice = make_annotator(stream, "alice")
        turn = _send(stream, alice, "How do I bake sourdough bread?", django_capture_on_commit_callbacks)
    assert turn.status == Turn.Status.READY
    assert turn.ready_at is not None
    generations = list(turn.generations.select_related("endpoint").order_by("position"))
    assert [g.status for g in generations] == [Generation.Status.DONE, Generation.Status.DONE]
    by_model = {g.endpoint.model: g.text for g in generations}
    assert by_model == {
        GPT: corpus().answer(GPT, "How do I bake sourdough bread?"),
        MIXTRAL: corpus().answer(MIXTRAL, "How do I bake sourdough bread?"),
    }
    assert all(g.finish_reason == "stop" and g.completion_tokens for g in generations)
    conversation = turn.conversation
    assert sorted(conversation.display_order) == [0, 1]
    assert conversation.candidates.count() == 2


def test_judging_a_turn_makes_an_item_and_a_judgement_and_continues(django_capture_on_commit_callbacks: Any) -> None:
    with model_server() as server:
        stream = dynamic_stream(server.url, max_turns=3)
        alice = make_annotator(stream, "alice")
        first = _send(stream, alice, "Give me a recipe for pancakes.", django_capture_on_commit_callbacks)
        result = dynamic.judge_turn(turn=first, answer=_answer("B", 3))
        second = _send(stream, alice, "Can I make them without eggs?", django_capture_on_commit_callbacks)

    judgement = result.judgement
    assert result.created
    assert judgement.source == Judgement.Source.DYNAMIC
    assert judgement.choice == "B"
    assert judgement.counted
    item = Item.objects.get(pk=judgement.item_id)
    assert item.stream_id == stream.pk
    assert item.context == [{"role": "user", "content": "Give me a recipe for pancakes."}]
    assert [r["model"] for r in item.responses] == ["gpt", "mixtral"] or [r["model"] for r in item.responses] == [
        "mixtral",
        "gpt",
    ]
    assert item.judgement_count == 1
    assert item.claim_count == 1
    assert not item.is_open  # never served by the static queue
    assignment = Assignment.objects.get(item=item)
    assert assignment.status == Assignment.Status.SUBMITTED
    assert assignment.display_order == first.conversation.display_order
    assert judgement.display_order == first.conversation.display_order

    first.refresh_from_db()
    assert first.status == Turn.Status.JUDGED
    assert first.item_id == item.pk
    assert first.chosen_position == 1
    chosen_text = item.responses[1]["text"]
    conversation = Conversation.objects.get(pk=first.conversation_id)
    assert conversation.messages == [
        {"role": "user", "content": "Give me a recipe for pancakes."},
        {"role": "assistant", "content": chosen_text},
    ]
    # The second turn's models saw the chosen answer; its item's context will be the same + message.
    assert second.index == 1
    assert dynamic.conversation_context(conversation, second)[-1] == {
        "role": "user",
        "content": "Can I make them without eggs?",
    }


def test_judging_twice_stores_one_judgement(django_capture_on_commit_callbacks: Any) -> None:
    with model_server() as server:
        stream = dynamic_stream(server.url)
        alice = make_annotator(stream, "alice")
        turn = _send(stream, alice, "hello", django_capture_on_commit_callbacks)
    first = dynamic.judge_turn(turn=turn, answer=_answer("A"))
    again = dynamic.judge_turn(turn=turn, answer=_answer("B"))
    assert not again.created
    assert again.judgement.pk == first.judgement.pk
    assert Judgement.objects.filter(stream=stream).count() == 1


def test_a_new_message_waits_for_the_judgement(django_capture_on_commit_callbacks: Any) -> None:
    with model_server() as server:
        stream = dynamic_stream(server.url)
        alice = make_annotator(stream, "alice")
        _send(stream, alice, "hello", django_capture_on_commit_callbacks)
        with pytest.raises(dynamic.ConversationError, match="Judge the answers"):
            dynamic.send_message(stream=stream, annotator=alice, text="again")
    assert Turn.objects.count() == 1


def test_the_conversation_ends_at_the_streams_max_turns(django_capture_on_commit_callbacks: Any) -> None:
    with model_server() as server:
        stream = dynamic_stream(server.url, max_turns=2)
        alice = make_annotator(stream, "alice")
        for text in ("one", "two"):
            turn = _send(stream, alice, text, django_capture_on_commit_callbacks)
            dynamic.judge_turn(turn=turn, answer=_answer("tie"))
        conversation = Conversation.objects.get(pk=turn.conversation_id)
        assert conversation.status == Conversation.Status.ENDED
        # The next message starts a new conversation.
        third = _send(stream, alice, "three", django_capture_on_commit_callbacks)
    assert third.conversation_id != conversation.pk
    assert third.index == 0


def test_a_tie_continues_with_one_of_the_two_at_random(django_capture_on_commit_callbacks: Any) -> None:
    with model_server() as server:
        stream = dynamic_stream(server.url)
        alice = make_annotator(stream, "alice")
        turn = _send(stream, alice, "hello", django_capture_on_commit_callbacks)
    dynamic.judge_turn(turn=turn, answer=_answer("both_bad"), rng=random.Random(3))
    turn.refresh_from_db()
    assert turn.chosen_position in (0, 1)
    conversation = Conversation.objects.get(pk=turn.conversation_id)
    texts = [g.text for g in turn.generations.order_by("position")]
    assert conversation.messages[-1]["content"] == texts[turn.chosen_position]


def test_a_failed_generation_is_shown_and_retried(django_capture_on_commit_callbacks: Any) -> None:
    with model_server(Behaviour(token_delay=0)) as good, model_server(Behaviour(token_delay=0, fail_after=2)) as bad:
        from django.test import override_settings

        with override_settings(QUORUM_ENDPOINT_ALLOWED_HOSTS=["127.0.0.1"]):
            stream = dynamic_stream(good.url, urls=(good.url, bad.url))
            alice = make_annotator(stream, "alice")
            turn = _send(stream, alice, "hello", django_capture_on_commit_callbacks)
            assert turn.status == Turn.Status.FAILED
            failed = turn.generations.get(status=Generation.Status.ERROR)
            kept = turn.generations.get(status=Generation.Status.DONE)
            assert failed.error == "The model stopped with an error in the middle of its answer."
            assert "crashed" in failed.error_detail
            with pytest.raises(dynamic.ConversationError):
                dynamic.judge_turn(turn=turn, answer=_answer("A"))

            bad.behaviour.fail_after = None  # the endpoint recovers
            with django_capture_on_commit_callbacks(execute=True):
                queued = dynamic.retry_generations(turn=turn)
                dynamic_tasks.queue_turn(turn.pk)
    assert queued == [failed.pk]
    turn.refresh_from_db()
    failed.refresh_from_db()
    kept_again = Generation.objects.get(pk=kept.pk)
    assert turn.status == Turn.Status.READY
    assert failed.status == Generation.Status.DONE
    assert failed.attempts == 2
    assert failed.error == ""
    assert kept_again.text == kept.text  # the good answer was not asked again
    assert kept_again.attempts == 1


def test_a_stale_task_of_an_old_attempt_does_nothing(django_capture_on_commit_callbacks: Any) -> None:
    with model_server() as server:
        stream = dynamic_stream(server.url)
        alice = make_annotator(stream, "alice")
        turn = _send(stream, alice, "hello", django_capture_on_commit_callbacks)
        generation = turn.generations.first()
        assert generation is not None
        assert dynamic.run_generation(generation_id=generation.pk, attempt=1) == "skipped"  # redelivered
        assert dynamic.run_generation(generation_id=generation.pk, attempt=7) == "skipped"


def test_a_generation_that_stops_moving_counts_as_stalled(django_capture_on_commit_callbacks: Any) -> None:
    with model_server() as server:
        stream = dynamic_stream(server.url)
        alice = make_annotator(stream, "alice")
        turn = _send(stream, alice, "hello", django_capture_on_commit_callbacks)
        generation = turn.generations.select_related("endpoint").first()
        assert generation is not None
        # As if its worker died mid-stream a while ago.
        Generation.objects.filter(pk=generation.pk).update(
            status=Generation.Status.STREAMING, updated_at=timezone.now() - timedelta(minutes=5)
        )
        Turn.objects.filter(pk=turn.pk).update(status=Turn.Status.GENERATING)
        generation.refresh_from_db()
        assert dynamic.is_stalled(generation, generation.endpoint)
        with django_capture_on_commit_callbacks(execute=True):
            assert dynamic.retry_generations(turn=turn) == [generation.pk]
            dynamic_tasks.queue_turn(turn.pk)
    turn.refresh_from_db()
    assert turn.status == Turn.Status.READY


def test_ending_a_conversation_keeps_what_was_judged(django_capture_on_commit_callbacks: Any) -> None:
    with model_server() as server:
        stream = dynamic_stream(server.url)
        alice = make_annotator(stream, "alice")
        turn = _send(stream, alice, "hello", django_capture_on_commit_callbacks)
        dynamic.judge_turn(turn=turn, answer=_answer("A"))
        _send(stream, alice, "and then?", django_capture_on_commit_callbacks)
    conversation = Conversation.objects.get(pk=turn.conversation_id)
    assert dynamic.end_conversation(conversation=conversation)
    assert not dynamic.end_conversation(conversation=conversation)
    conversation.refresh_from_db()
    assert conversation.status == Conversation.Status.ENDED
    assert Item.objects.filter(stream=stream).count() == 1  # the unjudged turn never became an item


def test_a_stream_needs_two_endpoints() -> None:
    with model_server() as server:
        stream = dynamic_stream(server.url)
        StreamEndpoint.objects.filter(stream=stream, endpoint__name="mixtral").delete()
        alice = make_annotator(stream, "alice")
        with pytest.raises(dynamic.ConversationError, match="at least two"):
            dynamic.send_message(stream=stream, annotator=alice, text="hello")


def test_endpoints_are_sampled_by_weight() -> None:
    with model_server() as server:
        stream = dynamic_stream(server.url)
        third = endpoint(stream.project, server.url, name="third")
        StreamEndpoint.objects.create(stream=stream, endpoint=third, weight=2.0)
    candidates = dynamic.stream_endpoints(stream)
    rng = random.Random(7)
    counts: Counter[str] = Counter()
    for _ in range(3000):
        pair = dynamic.sample_endpoints(candidates, rng=rng)
        assert len({e.pk for e in pair}) == 2
        counts.update(e.name for e in pair)
    # Weights 2:1:1 drawn without replacement: "third" takes part in 5/6 of the conversations.
    assert counts["third"] / 3000 == pytest.approx(5 / 6, abs=0.03)
    assert counts["gpt"] / 3000 == pytest.approx(7 / 12, abs=0.03)


def test_one_open_conversation_per_annotator_and_stream() -> None:
    from django.db import IntegrityError, transaction

    with model_server() as server:
        stream = dynamic_stream(server.url)
        alice = make_annotator(stream, "alice")
        first = dynamic.start_conversation(stream=stream, annotator=alice)
        with pytest.raises(IntegrityError), transaction.atomic():
            dynamic.start_conversation(stream=stream, annotator=alice)
        dynamic.end_conversation(conversation=first)
        dynamic.start_conversation(stream=stream, annotator=alice)  # once ended, a new one may open
    assert Conversation.objects.filter(stream=stream, annotator=alice).count() == 2
