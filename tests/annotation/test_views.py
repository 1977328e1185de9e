"""The annotator's pages through the test client."""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any, cast

import pytest
from django.test import Client
from django.urls import reverse

from annotation import services
from annotation.models import Assignment, Item, Judgement
from projects.models import Role, Stream, StreamMembership
from tests.annotation.conftest import claim_next, make_annotator
from tests.factories import PASSWORD, ItemFactory, MembershipFactory, UserFactory

HX: Any = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def alice_client(client: Client, annotator: Any) -> Client:
    client.force_login(annotator)
    return client


def answer(assignment: Assignment, **extra: Any) -> dict[str, Any]:
    data = {"token": services.lease_token(assignment), "choice": "A", "strength": "2", "active_seconds": "3.5"}
    data.update(extra)
    return data


def current(annotator: Any) -> Assignment:
    return Assignment.objects.get(annotator=annotator, status=Assignment.Status.ACTIVE)


def test_it_shows_the_stream_home(alice_client: Client, stream: Stream, items: list[Item]) -> None:
    stream.guidelines = "Prefer **honest** answers."
    stream.save()
    response = alice_client.get(reverse("annotation:stream_home", args=[stream.pk]))
    assert response.status_code == 200
    assert b"<strong>honest</strong>" in response.content
    assert b"Start labeling" in response.content
    assert b"mine today" in response.content


def test_the_labeling_index_lists_my_streams(alice_client: Client, stream: Stream) -> None:
    response = alice_client.get(reverse("annotation:index"))
    assert response.status_code == 200
    assert stream.name.encode() in response.content


@pytest.mark.parametrize("name", ["stream_home", "work"])
def test_outsiders_get_404(client: Client, stream: Stream, items: list[Item], name: str) -> None:
    client.force_login(cast(Any, UserFactory()))
    assert client.get(reverse(f"annotation:{name}", args=[stream.pk])).status_code == 404


def test_project_members_not_invited_to_the_stream_get_404(client: Client, stream: Stream) -> None:
    user: Any = UserFactory()
    MembershipFactory(project=stream.project, user=user, role=Role.ANNOTATOR)
    client.force_login(user)
    assert client.get(reverse("annotation:work", args=[stream.pk])).status_code == 404


def test_anonymous_users_are_sent_to_log_in(client: Client, stream: Stream) -> None:
    response = client.get(reverse("annotation:work", args=[stream.pk]))
    assert response.status_code == 302
    assert "/login/" in response["Location"]


@pytest.mark.parametrize(("status", "code"), [("failed", 404), ("testing", 404)])
def test_members_who_may_not_label_get_no_item(
    client: Client, stream: Stream, items: list[Item], status: str, code: int
) -> None:
    # Not qualified (failed, testing): 404, the items are not theirs to see. (Paused members get the
    # pause page: tests/qc.)
    user = make_annotator(stream, status=status)
    client.force_login(user)
    assert client.get(reverse("annotation:work", args=[stream.pk])).status_code == code
    assert not Assignment.objects.exists()
    home = client.get(reverse("annotation:stream_home", args=[stream.pk]))
    assert home.status_code == 200
    assert b"Start labeling" not in home.content


def test_removed_members_get_404(client: Client, stream: Stream) -> None:
    client.force_login(make_annotator(stream, status=StreamMembership.Status.REMOVED))
    assert client.get(reverse("annotation:stream_home", args=[stream.pk])).status_code == 404


def test_invited_members_label_in_a_stream_without_a_test(client: Client, stream: Stream, items: list[Item]) -> None:
    client.force_login(make_annotator(stream, status=StreamMembership.Status.INVITED))
    response = client.get(reverse("annotation:work", args=[stream.pk]))
    assert response.status_code == 200
    assert b'id="judge-form"' in response.content


def test_wrong_methods_get_405(alice_client: Client, stream: Stream, annotator: Any, items: list[Item]) -> None:
    assert alice_client.post(reverse("annotation:work", args=[stream.pk])).status_code == 405
    alice_client.get(reverse("annotation:work", args=[stream.pk]))
    assignment = current(annotator)
    for name in ("submit", "skip", "heartbeat"):
        assert alice_client.get(reverse(f"annotation:{name}", args=[assignment.pk])).status_code == 405


def test_the_item_page_shows_the_conversation_and_responses_in_display_order(
    alice_client: Client, stream: Stream, annotator: Any
) -> None:
    ItemFactory(
        stream=stream,
        context=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Capital of *France*?"}],
        responses=[{"text": "RESPONSE-ZERO", "model": "secret-model-x"}, {"text": "RESPONSE-ONE", "model": "m2"}],
    )
    response = alice_client.get(reverse("annotation:work", args=[stream.pk]))
    html = response.content.decode()
    assert "turn-system" in html
    assert "<em>France</em>" in html
    assignment = current(annotator)
    first, second = (
        ("RESPONSE-ZERO", "RESPONSE-ONE") if assignment.display_order == [0, 1] else ("RESPONSE-ONE", "RESPONSE-ZERO")
    )
    assert html.index(first) < html.index(second)
    assert "secret-model-x" not in html


def test_it_submits_without_javascript_and_redirects(
    alice_client: Client, stream: Stream, annotator: Any, items: list[Item]
) -> None:
    alice_client.get(reverse("annotation:work", args=[stream.pk]))
    assignment = current(annotator)
    response = alice_client.post(reverse("annotation:submit", args=[assignment.pk]), answer(assignment))
    assert response.status_code == 302
    assert response["Location"] == reverse("annotation:work", args=[stream.pk])
    judgement = Judgement.objects.get()
    assert judgement.choice == "AB"[assignment.display_order[0]]
    assert judgement.display_order == assignment.display_order
    assert judgement.active_seconds is not None
    assert 0 <= judgement.active_seconds < 3.5  # clamped to the seconds since serving
    # Back button + resubmit: nothing new is stored.
    again = alice_client.post(reverse("annotation:submit", args=[assignment.pk]), answer(assignment), follow=True)
    assert again.status_code == 200
    assert b"already saved" in again.content
    assert Judgement.objects.count() == 1


def test_htmx_submit_returns_the_next_item_as_a_fragment(
    alice_client: Client, stream: Stream, annotator: Any, items: list[Item]
) -> None:
    alice_client.get(reverse("annotation:work", args=[stream.pk]))
    first = current(annotator)
    response = alice_client.post(reverse("annotation:submit", args=[first.pk]), answer(first), **HX)
    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="workspace"')
    assert "<html" not in html
    second = current(annotator)
    assert second.pk != first.pk
    assert reverse("annotation:submit", args=[second.pk]) in html
    assert "Saved." in html


def test_invalid_answers_are_refused_with_400(
    alice_client: Client, stream: Stream, annotator: Any, items: list[Item]
) -> None:
    alice_client.get(reverse("annotation:work", args=[stream.pk]))
    assignment = current(annotator)
    url = reverse("annotation:submit", args=[assignment.pk])
    response = alice_client.post(url, answer(assignment, choice="", strength=""), **HX)
    assert response.status_code == 400
    assert b"Choose A, B, tie or both bad" in response.content
    response = alice_client.post(url, answer(assignment, strength=""))
    assert response.status_code == 400
    assert b"How much better" in response.content
    assert alice_client.post(url, answer(assignment, choice="C")).status_code == 400
    assert not Judgement.objects.exists()


def test_someone_elses_assignment_is_404(client: Client, stream: Stream, annotator: Any, items: list[Item]) -> None:
    assignment = claim_next(stream=stream, annotator=annotator)
    bob = make_annotator(stream)
    client.force_login(bob)
    assert client.post(reverse("annotation:submit", args=[assignment.pk]), answer(assignment)).status_code == 404
    assert client.post(reverse("annotation:heartbeat", args=[assignment.pk])).status_code == 404


def test_a_paused_annotator_cannot_submit(client: Client, stream: Stream, annotator: Any, items: list[Item]) -> None:
    assignment = claim_next(stream=stream, annotator=annotator)
    StreamMembership.objects.filter(user=annotator).update(status=StreamMembership.Status.PAUSED)
    client.force_login(annotator)
    assert client.post(reverse("annotation:submit", args=[assignment.pk]), answer(assignment)).status_code == 403


def test_skip_needs_a_reason(alice_client: Client, stream: Stream, annotator: Any, items: list[Item]) -> None:
    alice_client.get(reverse("annotation:work", args=[stream.pk]))
    assignment = current(annotator)
    url = reverse("annotation:skip", args=[assignment.pk])
    assert alice_client.post(url, {"reason": ""}).status_code == 400
    response = alice_client.post(url, {"reason": "broken", "note": "empty response"}, **HX)
    assert response.status_code == 200
    assert b"Skipped" in response.content
    assignment.refresh_from_db()
    assert (assignment.status, assignment.skip_reason) == ("skipped", "broken")


def test_heartbeat_extends_and_reports_an_ended_lease(
    alice_client: Client, stream: Stream, annotator: Any, items: list[Item]
) -> None:
    alice_client.get(reverse("annotation:work", args=[stream.pk]))
    assignment = current(annotator)
    url = reverse("annotation:heartbeat", args=[assignment.pk])
    response = alice_client.post(url, {"interacted": "1"})
    assert response.status_code == 200
    assert response.json() == {"live": True}
    assignment.refresh_from_db()
    assert assignment.first_interaction_at is not None
    Assignment.objects.filter(pk=assignment.pk).update(status=Assignment.Status.EXPIRED)
    assert alice_client.post(url).json() == {"live": False}


def test_the_queue_empty_state(alice_client: Client, stream: Stream) -> None:
    response = alice_client.get(reverse("annotation:work", args=[stream.pk]))
    assert response.status_code == 200
    assert b"The queue is empty" in response.content


def test_a_late_surplus_submission_is_kept_and_the_annotator_told(
    alice_client: Client, stream: Stream, annotator: Any
) -> None:
    stream.overlap = 1
    stream.save()
    ItemFactory(stream=stream)
    alice_client.get(reverse("annotation:work", args=[stream.pk]))
    assignment = current(annotator)
    Assignment.objects.filter(pk=assignment.pk).update(status=Assignment.Status.EXPIRED)
    Item.objects.update(claim_count=1, judgement_count=1, is_open=False)  # someone else filled it
    response = alice_client.post(reverse("annotation:submit", args=[assignment.pk]), answer(assignment), **HX)
    assert b"will not be counted" in response.content
    assert Judgement.objects.get().counted is False


def test_ranking_streams_take_ranks_with_ties(alice_client: Client, stream: Stream, annotator: Any) -> None:
    stream.task_kind = Stream.TaskKind.RANKING
    stream.rubric = ["helpfulness"]
    stream.save()
    ItemFactory(stream=stream, responses=[{"text": f"R{i}"} for i in range(3)], num_responses=3)
    page = alice_client.get(reverse("annotation:work", args=[stream.pk]))
    assert b"rank_2" in page.content
    assert b"rubric_helpfulness_0" in page.content
    assignment = current(annotator)
    data = {"token": services.lease_token(assignment), "rank_0": "1", "rank_1": "1", "rank_2": "2"}
    data.update({f"rubric_helpfulness_{p}": str(p) for p in range(3)})
    response = alice_client.post(reverse("annotation:submit", args=[assignment.pk]), data)
    assert response.status_code == 302
    judgement = Judgement.objects.get()
    order = assignment.display_order
    assert judgement.ranking == [sorted(order[:2]), [order[2]]]
    assert judgement.rubric["helpfulness"][order[2]] == 2


def test_pages_use_no_inline_script_or_style(alice_client: Client, stream: Stream, items: list[Item]) -> None:
    html = alice_client.get(reverse("annotation:work", args=[stream.pk])).content.decode()
    assert "<script>" not in html
    assert " style=" not in html
    assert " hx-on" not in html
    assert " onclick" not in html


HOSTILE = (
    'Hello <script>window.pwned=1</script> <img src=x onerror="window.pwned=2"> '
    '[click](javascript:window.pwned=3) <iframe src="https://evil.example"></iframe> '
    '<form action="https://evil.example"><input name=q></form> <style>body{display:none}</style> '
    '<svg onload="window.pwned=4"><script>window.pwned=5</script></svg> <a href="javascript:alert(1)">x</a>\n\n'
    "```html\n<script>alert(1)</script>\n```"
)


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def test_untrusted_model_output_is_inert(alice_client: Client, stream: Stream) -> None:
    ItemFactory(
        stream=stream,
        context=[{"role": "user", "content": HOSTILE}],
        responses=[{"text": HOSTILE}, {"text": HOSTILE + " <b onmouseover=alert(1)>b</b>"}],
    )
    html = alice_client.get(reverse("annotation:work", args=[stream.pk])).content.decode()
    parser = _Tags()
    parser.feed(html)
    for tag, attrs in parser.tags:
        assert tag not in ("iframe", "style", "svg", "object", "embed"), tag
        assert tag != "script" or (attrs.get("src") or "").startswith("/static/"), attrs
        assert tag != "form" or attrs.get("method") == "dialog" or (attrs.get("action") or "").startswith("/"), attrs
        assert not [name for name in attrs if name.startswith("on")], (tag, attrs)
        for name in ("href", "src", "action", "formaction"):
            assert not (attrs.get(name) or "").strip().lower().startswith("javascript:"), (tag, attrs)
    assert "&lt;script&gt;window.pwned=1" in html  # shown as text, not dropped silently


__all__ = ["PASSWORD"]
