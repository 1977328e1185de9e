"""The dynamic-labeling page through the test client (with a real demo model server)."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from annotation.models import Judgement
from dynamic.demo_model import Behaviour
from dynamic.models import Conversation, Generation, Turn
from projects.models import Role, Stream, StreamMembership
from tests.annotation.conftest import make_annotator
from tests.factories import MembershipFactory, UserFactory
from tests.model_servers import dynamic_stream, model_server

pytestmark = pytest.mark.django_db
HTMX: dict[str, Any] = {"HTTP_HX_REQUEST": "true"}


def _client(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _send(client: Client, stream: Stream, text: str, capture: Any, **extra: Any) -> Any:
    with capture(execute=True):
        return client.post(reverse("dynamic:converse_send", args=[stream.pk]), {"message": text}, **extra)


def test_it_shows_an_empty_conversation_with_a_message_box() -> None:
    with model_server() as server:
        stream = dynamic_stream(server.url)
        alice = make_annotator(stream, "alice")
        response = _client(alice).get(reverse("dynamic:converse", args=[stream.pk]))
    assert response.status_code == 200
    assert b'id="message-form"' in response.content
    assert b"Chat with two anonymous models" in response.content


def test_the_work_url_of_a_dynamic_stream_leads_to_the_conversation() -> None:
    with model_server() as server:
        stream = dynamic_stream(server.url)
        alice = make_annotator(stream, "alice")
        response = _client(alice).get(reverse("annotation:work", args=[stream.pk]))
    assert response.status_code == 302
    assert response["Location"] == reverse("dynamic:converse", args=[stream.pk])


def test_a_full_turn_sends_polls_and_judges(django_capture_on_commit_callbacks: Any) -> None:
    with model_server() as server:
        stream = dynamic_stream(server.url)
        alice = make_annotator(stream, "alice")
        client = _client(alice)
        response = _send(
            client,
            stream,
            "Explain **photosynthesis** <script>alert(1)</script>",
            django_capture_on_commit_callbacks,
            **HTMX,
        )
    assert response.status_code == 200
    assert response.content.lstrip().startswith(b'<div id="workspace"')  # the fragment only
    # Rendered before the (captured) generations ran: the answers are streaming, the page polls.
    assert b'data-turn-status="generating"' in response.content
    assert b'<section id="live"' in response.content
    assert b"<strong>photosynthesis</strong>" in response.content
    assert b"<script>alert(1)</script>" not in response.content
    turn = Turn.objects.get()

    poll = client.get(reverse("dynamic:turn_poll", args=[turn.pk]), **HTMX)
    assert poll.status_code == 200
    assert poll["HX-Retarget"] == "#workspace"  # ready: the whole workspace, with the controls
    assert b'id="judge-form"' in poll.content
    # Model names never reach the annotator's page.
    assert b"mixtral" not in poll.content.lower()
    assert b"demo-replay" not in poll.content

    judged = client.post(
        reverse("dynamic:turn_judge", args=[turn.pk]),
        {"token": str(turn.pk), "choice": "A", "strength": "2", "active_seconds": "4.5"},
        **HTMX,
    )
    assert judged.status_code == 200
    assert b'id="message-form"' in judged.content  # ready for the next message
    judgement = Judgement.objects.get()
    shown_first = turn.conversation.display_order[0]
    assert judgement.choice == "AB"[shown_first]  # "A" on the page = the candidate shown first
    # Clamped to the time since the answers were ready (milliseconds here), as on static items.
    assert judgement.active_seconds is not None
    assert 0 <= judgement.active_seconds < 4.5


def test_a_streaming_turn_polls_its_answers(django_capture_on_commit_callbacks: Any) -> None:
    with model_server() as server:
        stream = dynamic_stream(server.url)
        alice = make_annotator(stream, "alice")
        client = _client(alice)
        _send(client, stream, "hello", django_capture_on_commit_callbacks)
    turn = Turn.objects.get()
    # As if the workers were still writing.
    hostile = 'Partial **answer** <img src=x onerror="alert(1)"><script>alert(2)</script> [x](javascript:alert(3))'
    Generation.objects.filter(turn=turn).update(status=Generation.Status.STREAMING, text=hostile)
    Turn.objects.filter(pk=turn.pk).update(status=Turn.Status.GENERATING)
    poll = client.get(reverse("dynamic:turn_poll", args=[turn.pk]), **HTMX)
    assert poll.status_code == 200
    assert poll.content.lstrip().startswith(b'<section id="live"')
    assert b"<strong>answer</strong>" in poll.content
    # Model output is untrusted: sanitised markdown, no markup of its own survives.
    assert b"<script>" not in poll.content
    assert b"<img" not in poll.content
    assert b'href="javascript' not in poll.content
    assert b'hx-trigger="load delay:400ms"' in poll.content
    assert "HX-Retarget" not in poll


def test_an_error_is_shown_with_a_retry_and_no_upstream_body(django_capture_on_commit_callbacks: Any) -> None:
    with model_server(Behaviour(token_delay=0, error_status=500)) as server:
        stream = dynamic_stream(server.url)
        alice = make_annotator(stream, "alice")
        client = _client(alice)
        _send(client, stream, "hello", django_capture_on_commit_callbacks, **HTMX)
        turn = Turn.objects.get()
        response = client.get(reverse("dynamic:turn_poll", args=[turn.pk]), **HTMX)
        assert b"The model endpoint answered with an error (HTTP 500)." in response.content
        assert b"secret_path" not in response.content
        assert b'id="retry-btn"' in response.content
        server.behaviour.error_status = None
        with django_capture_on_commit_callbacks(execute=True):
            retried = client.post(reverse("dynamic:turn_retry", args=[turn.pk]), **HTMX)
        assert retried.status_code == 200
        assert b"Asked the model again." in retried.content
    poll = client.get(reverse("dynamic:turn_poll", args=[turn.pk]), **HTMX)
    assert b'id="judge-form"' in poll.content


def test_a_closed_browser_loses_nothing(django_capture_on_commit_callbacks: Any) -> None:
    with model_server() as server:
        stream = dynamic_stream(server.url)
        alice = make_annotator(stream, "alice")
        _send(_client(alice), stream, "Tell me about Mars.", django_capture_on_commit_callbacks)
        # A new session (another browser) resumes the same conversation at the judging step.
        response = _client(alice).get(reverse("dynamic:converse", args=[stream.pk]))
    assert b"Tell me about Mars." in response.content
    assert b'id="judge-form"' in response.content


def test_the_annotator_can_end_the_conversation(django_capture_on_commit_callbacks: Any) -> None:
    with model_server() as server:
        stream = dynamic_stream(server.url)
        alice = make_annotator(stream, "alice")
        client = _client(alice)
        _send(client, stream, "hello", django_capture_on_commit_callbacks)
    conversation = Conversation.objects.get()
    response = client.post(reverse("dynamic:conversation_end", args=[conversation.pk]))
    assert response.status_code == 302
    conversation.refresh_from_db()
    assert conversation.status == Conversation.Status.ENDED
    page = client.get(reverse("dynamic:converse", args=[stream.pk]))
    assert b'id="message-form"' in page.content  # a fresh conversation can start


def test_without_javascript_the_forms_redirect(django_capture_on_commit_callbacks: Any) -> None:
    with model_server() as server:
        stream = dynamic_stream(server.url)
        alice = make_annotator(stream, "alice")
        response = _send(_client(alice), stream, "hello", django_capture_on_commit_callbacks)
    assert response.status_code == 302
    assert response["Location"] == reverse("dynamic:converse", args=[stream.pk])


def test_an_empty_message_is_a_400() -> None:
    with model_server() as server:
        stream = dynamic_stream(server.url)
        alice = make_annotator(stream, "alice")
        response = _client(alice).post(reverse("dynamic:converse_send", args=[stream.pk]), {"message": "  "}, **HTMX)
    assert response.status_code == 400
    assert not Turn.objects.exists()


def test_an_incomplete_judgement_is_a_400(django_capture_on_commit_callbacks: Any) -> None:
    with model_server() as server:
        stream = dynamic_stream(server.url)
        alice = make_annotator(stream, "alice")
        client = _client(alice)
        _send(client, stream, "hello", django_capture_on_commit_callbacks)
    turn = Turn.objects.get()
    response = client.post(reverse("dynamic:turn_judge", args=[turn.pk]), {"token": "x", "choice": "A"}, **HTMX)
    assert response.status_code == 400
    assert b"How much better" in response.content
    assert not Judgement.objects.exists()


def test_someone_elses_turn_is_a_404(django_capture_on_commit_callbacks: Any) -> None:
    with model_server() as server:
        stream = dynamic_stream(server.url)
        alice = make_annotator(stream, "alice")
        bob = make_annotator(stream, "bob")
        _send(_client(alice), stream, "hello", django_capture_on_commit_callbacks)
    turn = Turn.objects.get()
    client = _client(bob)
    assert client.get(reverse("dynamic:turn_poll", args=[turn.pk])).status_code == 404
    assert (
        client.post(reverse("dynamic:turn_judge", args=[turn.pk]), {"choice": "A", "strength": "1"}).status_code == 404
    )
    assert client.post(reverse("dynamic:turn_retry", args=[turn.pk])).status_code == 404
    assert client.post(reverse("dynamic:conversation_end", args=[turn.conversation_id])).status_code == 404


def test_outsiders_get_404_and_paused_annotators_no_conversation() -> None:
    with model_server() as server:
        stream = dynamic_stream(server.url)
        outsider = UserFactory()
        url = reverse("dynamic:converse", args=[stream.pk])
        assert _client(outsider).get(url).status_code == 404
        assert (
            _client(outsider).post(reverse("dynamic:converse_send", args=[stream.pk]), {"message": "x"}).status_code
            == 404
        )
        not_invited = UserFactory()
        MembershipFactory(project=stream.project, user=not_invited, role=Role.ANNOTATOR)
        assert _client(not_invited).get(url).status_code == 404
        paused = make_annotator(stream, "paused", status=StreamMembership.Status.PAUSED)
        response = _client(paused).post(reverse("dynamic:converse_send", args=[stream.pk]), {"message": "x"})
    assert response.status_code == 403
    assert not Turn.objects.exists()


def test_wrong_methods_are_405(django_capture_on_commit_callbacks: Any) -> None:
    with model_server() as server:
        stream = dynamic_stream(server.url)
        alice = make_annotator(stream, "alice")
        client = _client(alice)
        _send(client, stream, "hello", django_capture_on_commit_callbacks)
    turn = Turn.objects.get()
    assert client.get(reverse("dynamic:converse_send", args=[stream.pk])).status_code == 405
    assert client.get(reverse("dynamic:turn_judge", args=[turn.pk])).status_code == 405
    assert client.get(reverse("dynamic:turn_retry", args=[turn.pk])).status_code == 405
    assert client.get(reverse("dynamic:conversation_end", args=[turn.conversation_id])).status_code == 405
    assert client.post(reverse("dynamic:turn_poll", args=[turn.pk])).status_code == 405
    assert client.post(reverse("dynamic:converse", args=[stream.pk])).status_code == 405


def test_the_labeling_index_lists_dynamic_streams() -> None:
    with model_server() as server:
        stream = dynamic_stream(server.url, name="Live chat")
        alice = make_annotator(stream, "alice")
        response = _client(alice).get(reverse("annotation:index"))
        home = _client(alice).get(reverse("annotation:stream_home", args=[stream.pk]))
    assert b"Live chat" in response.content
    assert b"chat with live models" in response.content
    assert b'id="start"' in home.content


def test_polling_a_streaming_turn_takes_few_queries(
    django_capture_on_commit_callbacks: Any, django_assert_max_num_queries: Any
) -> None:
    # The hot path: every open page polls a few times a second while answers stream.
    with model_server() as server:
        stream = dynamic_stream(server.url)
        alice = make_annotator(stream, "alice")
        client = _client(alice)
        _send(client, stream, "hello", django_capture_on_commit_callbacks)
    turn = Turn.objects.get()
    Generation.objects.filter(turn=turn).update(status=Generation.Status.STREAMING, text="Partial")
    Turn.objects.filter(pk=turn.pk).update(status=Turn.Status.GENERATING)
    url = reverse("dynamic:turn_poll", args=[turn.pk])
    with django_assert_max_num_queries(6):
        response = client.get(url, **HTMX)
    assert response.status_code == 200


def test_a_rubric_stream_rates_each_answer_in_canonical_order(django_capture_on_commit_callbacks: Any) -> None:
    with model_server() as server:
        stream = dynamic_stream(server.url, rubric=["helpfulness"], task_kind=Stream.TaskKind.RANKING)
        alice = make_annotator(stream, "alice")
        client = _client(alice)
        _send(client, stream, "hello", django_capture_on_commit_callbacks)
    turn = Turn.objects.get()
    page = client.get(reverse("dynamic:converse", args=[stream.pk]))
    assert page.content.count(b'form="judge-form" name="rubric_helpfulness_') == 2 * 5  # 0-4 per answer
    response = client.post(
        reverse("dynamic:turn_judge", args=[turn.pk]),
        {"token": "x", "choice": "B", "strength": "1", "rubric_helpfulness_0": "4", "rubric_helpfulness_1": "1"},
    )
    assert response.status_code == 302
    judgement = Judgement.objects.get()
    shown = turn.conversation.display_order
    assert judgement.choice == "AB"[shown[1]]  # a ranking stream is judged pairwise on dynamic turns
    assert judgement.rubric["helpfulness"][shown[0]] == 4
    assert judgement.rubric["helpfulness"][shown[1]] == 1
