"""The keyboard-first review page through the test client: what the annotator chose in the terms
they saw it, progress, canned reasons, the styled error, and the next judgement in place (htmx)."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from projects.models import Role, Stream
from qc.forms import REVIEW_REASONS
from qc.models import Review, ReviewTask
from qc.views import describe_judgement
from tests.annotation.conftest import make_annotator
from tests.factories import ItemFactory, JudgementFactory, MembershipFactory, StreamFactory, UserFactory

pytestmark = pytest.mark.django_db

HTMX: dict[str, Any] = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def queue() -> dict[str, Any]:
    """Three sampled judgements by alice; she saw the file's B first in the first one."""
    stream: Any = StreamFactory(status=Stream.Status.ACTIVE)
    reviewer = UserFactory(username="rita")
    MembershipFactory(project=stream.project, user=reviewer, role=Role.REVIEWER)
    alice = make_annotator(stream, "alice")
    tasks = []
    for n in range(3):
        item = ItemFactory(stream=stream, responses=[{"text": f"file-A-{n}"}, {"text": f"file-B-{n}"}])
        judgement: Any = JudgementFactory(
            assignment__item=item, assignment__annotator=alice, assignment__display_order=[1, 0], choice="B"
        )
        tasks.append(ReviewTask.objects.create(judgement=judgement, stream=stream, reason=ReviewTask.Reason.SAMPLE))
    return {"stream": stream, "reviewer": reviewer, "tasks": tasks}


def _url(stream: Any, name: str = "qc:review_queue", *args: Any) -> str:
    return reverse(name, args=[stream.pk, *args])


def test_it_names_what_the_annotator_saw(client: Client, queue: dict[str, Any]) -> None:
    client.force_login(queue["reviewer"])
    body = client.get(_url(queue["stream"])).content.decode()
    assert "chose the response shown first (B in the file)" in body
    assert "Answer:" not in body
    # The responses in the order shown, each with its letter in the file.
    assert body.index("file-B-0") < body.index("file-A-0")
    assert 'Shown first <span class="muted small">(B in the file)</span>' in body


@pytest.mark.parametrize(
    ("choice", "order", "strength", "text"),
    [
        ("A", [0, 1], 2, "chose the response shown first (A in the file), clearly better"),
        ("A", [1, 0], None, "chose the response shown second (A in the file)"),
        ("tie", [0, 1], None, "judged the responses a tie"),
        ("both_bad", [1, 0], None, "judged both responses bad"),
    ],
)
def test_it_describes_each_kind_of_answer(choice: str, order: list[int], strength: int | None, text: str) -> None:
    judgement: Any = JudgementFactory(assignment__display_order=order, choice=choice, strength=strength)
    assert describe_judgement(judgement) == text


def test_it_shows_progress_and_the_decision_before_the_responses(client: Client, queue: dict[str, Any]) -> None:
    client.force_login(queue["reviewer"])
    body = client.get(_url(queue["stream"])).content.decode()
    assert "<strong>1 of 3</strong>" in body
    assert body.index('name="decision"') < body.index("file-A-0")
    for n, reason in enumerate(REVIEW_REASONS, 1):
        assert f"<kbd>{n}</kbd> {reason}" in body


def test_it_stores_a_canned_reason_with_the_note_and_swaps_in_the_next(client: Client, queue: dict[str, Any]) -> None:
    stream, tasks = queue["stream"], queue["tasks"]
    client.force_login(queue["reviewer"])
    url = _url(stream, "qc:review_submit", tasks[0].pk)
    response = client.post(url, {"decision": "reject", "preset": "2", "reason": "Check the date."}, **HTMX)
    assert response.status_code == 200
    assert Review.objects.get().reason == "Missed a factual error — Check the date."
    body = response.content.decode()
    assert "<html" not in body  # only the part of the page that changes
    assert "file-A-1" in body
    assert "<strong>2 of 3</strong>" in body
    assert "Rejected; the annotator will read why." in body


def test_it_explains_a_rejection_without_a_reason_in_a_styled_alert(client: Client, queue: dict[str, Any]) -> None:
    stream, tasks = queue["stream"], queue["tasks"]
    client.force_login(queue["reviewer"])
    url = _url(stream, "qc:review_submit", tasks[0].pk)
    for extra, status in (({}, 400), (HTMX, 200)):  # htmx swaps only 2xx responses
        response = client.post(url, {"decision": "reject"}, **extra)
        assert response.status_code == status
        body = response.content.decode()
        assert '<div class="alert alert-error" role="alert" id="review-errors">' in body
        assert "Pick a reason (keys 1–9) or write a note" in body
    assert not Review.objects.exists()


def test_it_accepts_without_a_reason_and_redirects_without_javascript(client: Client, queue: dict[str, Any]) -> None:
    stream, tasks = queue["stream"], queue["tasks"]
    client.force_login(queue["reviewer"])
    response = client.post(_url(stream, "qc:review_submit", tasks[0].pk), {"decision": "accept"})
    assert response.status_code == 302
    assert response["Location"] == _url(stream)
    assert Review.objects.get().decision == "accept"
    assert b"Accepted." in client.get(_url(stream)).content


def test_it_refuses_the_wrong_method_annotators_and_outsiders(client: Client, queue: dict[str, Any]) -> None:
    stream, tasks = queue["stream"], queue["tasks"]
    url = _url(stream, "qc:review_submit", tasks[0].pk)
    client.force_login(queue["reviewer"])
    assert client.get(url).status_code == 405
    client.force_login(UserFactory.create())
    assert client.post(url, {"decision": "accept"}).status_code == 404
    annotator = make_annotator(stream, "bob")
    client.force_login(annotator)
    assert client.post(url, {"decision": "accept"}).status_code == 403
