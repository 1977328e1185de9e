"""Answers cut off at the token limit (``finish_reason`` "length"), from a real demo model server
whose endpoint asks for fewer tokens than the answer has: marked in the stored turn, item and
page, and judged or continued as the stream's ``truncated_answers`` says."""

from __future__ import annotations

import random
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from django.urls import reverse

from annotation.models import Item
from dynamic import services as dynamic
from dynamic import tasks as dynamic_tasks
from dynamic.models import Conversation, Generation, ModelEndpoint, Turn
from projects.forms import StreamForm
from projects.models import Stream
from tests.annotation.conftest import make_annotator
from tests.factories import ProjectFactory, StreamFactory
from tests.model_servers import GPT, corpus, dynamic_stream, model_server
from tests.projects.web_helpers import project_with_pm

pytestmark = pytest.mark.django_db
HTMX: dict[str, Any] = {"HTTP_HX_REQUEST": "true"}
MESSAGE = "How do I bake sourdough bread?"
CUT_AT = 5  # the GPT endpoint's max_tokens: its answer to MESSAGE is far longer


def _stream(url: str, setting: str) -> Stream:
    stream = dynamic_stream(url, truncated_answers=setting)
    ModelEndpoint.objects.filter(project=stream.project, model=GPT).update(parameters={"max_tokens": CUT_AT})
    return stream


def _send(stream: Stream, user: Any, capture: Any) -> Turn:
    with capture(execute=True):
        turn = dynamic.send_message(stream=stream, annotator=user, text=MESSAGE)
        dynamic_tasks.queue_turn(turn.pk)
    turn.refresh_from_db()
    return turn


def _cut(turn: Turn) -> Generation:
    return turn.generations.get(endpoint__model=GPT)


def _label_of(turn: Turn, generation: Generation) -> str:
    """The label ("A" or "B") the page shows ``generation`` under."""
    return "AB"[list(turn.conversation.display_order).index(generation.position)]


def _answer(label: str) -> dict[str, Any]:
    canonical = "AB"[Conversation.objects.get().display_order["AB".index(label)]]
    return {"choice": canonical, "strength": 2}


def test_a_cut_off_answer_is_stored_as_truncated(django_capture_on_commit_callbacks: Any) -> None:
    with model_server() as server:
        stream = _stream(server.url, "judge_only")
        turn = _send(stream, make_annotator(stream, "alice"), django_capture_on_commit_callbacks)
    cut = _cut(turn)
    whole = turn.generations.exclude(pk=cut.pk).get()
    assert (turn.status, turn.truncated) == (Turn.Status.READY, True)
    assert (cut.finish_reason, cut.truncated, cut.completion_tokens) == ("length", True, CUT_AT)
    assert len(corpus().answer(GPT, MESSAGE).split()) > CUT_AT
    assert (whole.finish_reason, whole.truncated) == ("stop", False)


def test_judge_only_stores_the_judgement_but_never_continues_with_a_cut_off_answer(
    django_capture_on_commit_callbacks: Any,
) -> None:
    with model_server() as server:
        stream = _stream(server.url, "judge_only")
        alice = make_annotator(stream, "alice")
        turn = _send(stream, alice, django_capture_on_commit_callbacks)
        cut = _cut(turn)
        result = dynamic.judge_turn(turn=turn, answer=_answer(_label_of(turn, cut)))
    assert result.created
    conversation = Conversation.objects.get()
    assert conversation.status == Conversation.Status.ENDED  # after turn 1 of 3: the cut answer ends it
    item = Item.objects.get()
    assert item.metadata["dynamic"]["truncated"] == [cut.position]
    assert [r["metadata"]["truncated"] for r in item.responses] == [
        g.truncated for g in turn.generations.order_by("position")
    ]


def test_judge_only_continues_with_the_whole_answer_when_preferred_or_tied(
    django_capture_on_commit_callbacks: Any,
) -> None:
    with model_server() as server:
        stream = _stream(server.url, "judge_only")
        alice = make_annotator(stream, "alice")
        turn = _send(stream, alice, django_capture_on_commit_callbacks)
        whole = turn.generations.exclude(pk=_cut(turn).pk).get()
        # A tie picks the answer that continues at random: never the cut one, whatever the draw.
        for seed in range(6):
            assert (
                dynamic._chosen_position({"choice": "tie"}, 2, random.Random(seed), [whole.position]) == whole.position
            )
        dynamic.judge_turn(turn=turn, answer={"choice": "tie", "strength": None}, rng=random.Random(1))
    conversation = Conversation.objects.get()
    assert conversation.status == Conversation.Status.OPEN
    assert conversation.messages[-1]["content"] == whole.text
    assert Turn.objects.get().chosen_position == whole.position


def test_allow_continues_with_a_cut_off_answer(django_capture_on_commit_callbacks: Any) -> None:
    with model_server() as server:
        stream = _stream(server.url, "allow")
        alice = make_annotator(stream, "alice")
        turn = _send(stream, alice, django_capture_on_commit_callbacks)
        cut = _cut(turn)
        dynamic.judge_turn(turn=turn, answer=_answer(_label_of(turn, cut)))
    conversation = Conversation.objects.get()
    assert conversation.status == Conversation.Status.OPEN
    assert conversation.messages[-1]["content"] == cut.text


def test_block_refuses_the_judgement_until_the_models_are_asked_again(django_capture_on_commit_callbacks: Any) -> None:
    with model_server() as server:
        stream = _stream(server.url, "block")
        alice = make_annotator(stream, "alice")
        turn = _send(stream, alice, django_capture_on_commit_callbacks)
        with pytest.raises(dynamic.ConversationError, match="cut off at the token limit"):
            dynamic.judge_turn(turn=turn, answer=_answer("A"))
        assert not Item.objects.exists()
        cut = _cut(turn)
        whole = turn.generations.exclude(pk=cut.pk).get()
        # With room enough, asking again gives a whole answer; only the cut one is asked again.
        ModelEndpoint.objects.filter(model=GPT).update(parameters={"max_tokens": 5000})
        with django_capture_on_commit_callbacks(execute=True):
            queued = dynamic.retry_generations(turn=turn)
            dynamic_tasks.queue_turn(turn.pk)
        assert queued == [cut.pk]
        turn.refresh_from_db()
        assert (turn.status, turn.truncated) == (Turn.Status.READY, False)
        cut.refresh_from_db()
        assert (cut.finish_reason, cut.attempts, cut.text) == ("stop", 2, corpus().answer(GPT, MESSAGE))
        whole.refresh_from_db()
        assert whole.attempts == 1
        assert dynamic.judge_turn(turn=turn, answer=_answer("A")).created


def _client(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_page_marks_the_cut_off_answer(django_capture_on_commit_callbacks: Any) -> None:
    with model_server() as server:
        stream = _stream(server.url, "judge_only")
        alice = make_annotator(stream, "alice")
        turn = _send(stream, alice, django_capture_on_commit_callbacks)
        client = _client(alice)
        page = client.get(reverse("dynamic:converse", args=[stream.pk])).content.decode()
        label = _label_of(turn, _cut(turn))
        assert page.count('<span class="chat-truncated"') == 1
        article = page.split(f'data-label="{label}"')[1].split("</article>")[0]
        assert "cut off at the token limit" in article
        assert 'id="judge-form"' in page
        assert "the conversation ends after this turn" in page
        judged = client.post(
            reverse("dynamic:turn_judge", args=[turn.pk]),
            {"token": str(turn.pk), "choice": label, "strength": "2"},
            **HTMX,
        )
    body = judged.content.decode()
    assert "The answer to continue with was cut off at the token limit, so the conversation ends here" in body
    assert 'id="new-conversation"' in body
    # In the history, the kept answer is still marked as cut off.
    assert 'kept</span> <span class="chat-truncated">cut off at the token limit</span>' in body


def test_the_page_of_a_blocking_stream_offers_ask_again_instead_of_judging(
    django_capture_on_commit_callbacks: Any,
) -> None:
    with model_server() as server:
        stream = _stream(server.url, "block")
        alice = make_annotator(stream, "alice")
        turn = _send(stream, alice, django_capture_on_commit_callbacks)
        client = _client(alice)
        page = client.get(reverse("dynamic:converse", args=[stream.pk])).content.decode()
        judged = client.post(
            reverse("dynamic:turn_judge", args=[turn.pk]),
            {"token": str(turn.pk), "choice": "A", "strength": "2"},
            **HTMX,
        )
    assert 'id="judge-form"' not in page
    assert 'id="retry-btn"' in page
    assert "this stream does not judge cut-off answers" in page
    assert judged.status_code == 409
    assert not Item.objects.exists()


# --- the setting: stream form, API and commands ---------------------------------------------------


def test_the_setting_defaults_to_judge_only_and_the_commands_take_it() -> None:
    project = ProjectFactory.create(slug="p")
    out = StringIO()
    call_command(
        "create_stream", "--project", "p", "chat", "--mode", "dynamic", "--truncated-answers", "block", stdout=out
    )
    stream = Stream.objects.get(project=project, slug="chat")
    assert stream.truncated_answers == Stream.TruncatedAnswers.BLOCK
    call_command("update_stream", "chat", "--project", "p", "--truncated-answers", "allow", stdout=out)
    stream.refresh_from_db()
    assert stream.truncated_answers == Stream.TruncatedAnswers.ALLOW
    assert StreamFactory.create().truncated_answers == Stream.TruncatedAnswers.JUDGE_ONLY
    with pytest.raises(CommandError, match="invalid choice: 'sometimes'"):
        call_command("update_stream", "chat", "--project", "p", "--truncated-answers", "sometimes", stdout=out)


def test_a_pm_sets_it_on_the_stream_page(client: Client) -> None:
    project, pm = project_with_pm()
    stream = StreamFactory.create(project=project, mode=Stream.Mode.DYNAMIC)
    client.force_login(pm)
    page = client.get(reverse("stream_edit", args=[stream.pk])).content.decode()
    assert '<select name="truncated_answers"' in page
    assert "Answers cut off at the token limit" in page
    form = StreamForm(instance=stream, project=project)
    data = {name: value for name, value in form.initial.items() if value is not None}
    data.update(truncated_answers="block", rubric=[])
    response = client.post(reverse("stream_edit", args=[stream.pk]), data)
    assert response.status_code == 302, response.content.decode()[:2000]
    stream.refresh_from_db()
    assert stream.truncated_answers == Stream.TruncatedAnswers.BLOCK


def test_the_stream_form_shows_the_setting() -> None:
    form = StreamForm(project=ProjectFactory.create())
    assert [name for title, names in form.FIELDSETS if title == "Task" for name in names][-1] == "truncated_answers"
    html = str(form["truncated_answers"])
    assert '<option value="judge_only" selected>Judge them, but never continue the conversation with them</option>' in (
        html
    )
