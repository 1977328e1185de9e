"""The annotator's qualification test through the test client: start, answer, result; who gets
404; and that the answer key never reaches the browser before the attempt is scored."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest
import time_machine
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from annotation import services as annotation_services
from annotation.models import Assignment, Judgement
from projects.models import ApiToken, StreamMembership
from qualification import services
from qualification.models import QualificationAnswer, QualificationAttempt
from tests.annotation.conftest import make_annotator
from tests.factories import ItemFactory, StreamFactory, UserFactory
from tests.qualification.helpers import ANSWER_KEY_MARK, make_test

pytestmark = pytest.mark.django_db

Status = StreamMembership.Status
HX: Any = {"HTTP_HX_REQUEST": "true"}
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def stream() -> Any:
    stream = StreamFactory()
    for _ in range(3):
        ItemFactory(stream=stream)
    return stream


@pytest.fixture
def test(stream: Any) -> Any:
    return make_test(stream, answers=[["A", "tie"], ["B"], ["A"]], pass_mark=0.6, show_explanations=True)


@pytest.fixture
def invited(stream: Any, test: Any) -> Any:
    return make_annotator(stream, "ivy", status=Status.INVITED)


def login(client: Client, user: Any) -> Client:
    client.force_login(user)
    return client


def open_attempt(user: Any) -> QualificationAttempt:
    return QualificationAttempt.objects.get(user=user, submitted_at__isnull=True)


def shown_letter(attempt: QualificationAttempt, question_id: int, canonical: str) -> str:
    """The letter to press on the page for a canonical answer, given the attempt's response order."""
    if canonical not in ("A", "B"):
        return canonical
    order = next(e["order"] for e in attempt.question_order if e["question"] == question_id)
    return "AB"[order.index("AB".index(canonical))]


def post_answer(client: Client, stream: Any, user: Any, canonical: str, **extra: Any) -> Any:
    attempt = open_attempt(user)
    qid = services.current_slot(attempt).question.pk
    data = {"token": f"{attempt.pk}.{qid}", "choice": shown_letter(attempt, qid, canonical), "strength": "2"}
    return client.post(reverse("qualification:test_answer", args=[stream.pk]), data, **extra)


def canonical_answers(user: Any, wanted: dict[int, str]) -> list[str]:
    """Answers in the order the attempt serves its questions, from {position in the test: answer}."""
    attempt = open_attempt(user)
    positions = {q.pk: i for i, q in enumerate(attempt.test.questions.order_by("position"))}
    return [wanted[positions[e["question"]]] for e in attempt.question_order]


# --- The path: invited → test → qualified → items ------------------------------------------------
def test_an_invited_annotator_is_offered_the_test_not_the_items(client: Client, stream: Any, invited: Any) -> None:
    login(client, invited)
    home = client.get(reverse("annotation:stream_home", args=[stream.pk]))
    assert home.status_code == 200
    assert b"Take the qualification test" in home.content
    assert b"Start labeling" not in home.content
    assert b"3 questions" in home.content


def test_it_takes_and_passes_the_test_and_then_serves_items(client: Client, stream: Any, invited: Any) -> None:
    login(client, invited)
    response = client.post(reverse("qualification:test_start", args=[stream.pk]))
    assert response.status_code == 302
    assert response["Location"] == reverse("qualification:test", args=[stream.pk])
    page = client.get(response["Location"])
    assert page.status_code == 200
    assert b'id="judge-form"' in page.content
    assert b"question <strong>1</strong> of 3" in page.content
    assert b'id="skip-form"' not in page.content  # no skipping in a test
    for answer in canonical_answers(invited, {0: "tie", 1: "B", 2: "B"}):
        response = post_answer(client, stream, invited, answer)
    assert response.status_code == 302
    attempt = QualificationAttempt.objects.get(user=invited)
    assert response["Location"] == reverse("qualification:test_result", args=[stream.pk, 1])
    result = client.get(response["Location"])
    assert b"Passed." in result.content
    assert b"67%" in result.content
    assert attempt.passed is True
    assert StreamMembership.objects.get(user=invited).status == Status.QUALIFIED
    work = client.get(reverse("annotation:work", args=[stream.pk]))
    assert work.status_code == 200
    assert Assignment.objects.filter(annotator=invited).count() == 1
    # Test questions are never work items.
    assert Assignment.objects.get(annotator=invited).item.pool == "work"


def test_with_htmx_the_next_question_comes_in_the_same_page_and_the_last_redirects(
    client: Client, stream: Any, invited: Any
) -> None:
    login(client, invited)
    client.post(reverse("qualification:test_start", args=[stream.pk]))
    first = post_answer(client, stream, invited, "A", **HX)
    assert first.status_code == 200
    assert first.content.lstrip().startswith(b'<div id="workspace"')
    assert b"question <strong>2</strong> of 3" in first.content
    post_answer(client, stream, invited, "A", **HX)
    last = post_answer(client, stream, invited, "A", **HX)
    assert last["HX-Redirect"] == reverse("qualification:test_result", args=[stream.pk, 1])


def test_a_failed_attempt_says_when_the_next_opens_and_keeps_the_key_until_none_is_left(
    client: Client, stream: Any, invited: Any
) -> None:
    login(client, invited)
    with time_machine.travel(T0, tick=False):
        client.post(reverse("qualification:test_start", args=[stream.pk]))
        for answer in canonical_answers(invited, {0: "B", 1: "A", 2: "A"}):
            response = post_answer(client, stream, invited, answer)
        result = client.get(response["Location"])
    body = result.content.decode()
    assert "Not passed." in body
    assert "33%" in body
    assert "2026-03-03 09:00" in body  # 24 h cool-down
    # One attempt left: the explanations would be the answer key of the retake.
    assert "Questions you did not get right (2)" in body
    assert 'id="review-later"' in body
    assert ANSWER_KEY_MARK not in body
    assert StreamMembership.objects.get(user=invited).status == Status.FAILED

    with time_machine.travel(T0 + timedelta(hours=25), tick=False):
        client.post(reverse("qualification:test_start", args=[stream.pk]))
        for answer in canonical_answers(invited, {0: "B", 1: "A", 2: "A"}):
            response = post_answer(client, stream, invited, answer)
        body = client.get(response["Location"]).content.decode()
    assert "You have used every attempt." in body
    assert f"{ANSWER_KEY_MARK} 0" in body
    assert f"{ANSWER_KEY_MARK} 1" in body
    assert f"{ANSWER_KEY_MARK} 2" not in body  # only the wrong answers are explained
    assert 'id="review-later"' not in body


def test_explanations_stay_hidden_when_the_test_does_not_show_them(
    client: Client, stream: Any, test: Any, invited: Any
) -> None:
    test.show_explanations = False
    test.save()
    login(client, invited)
    client.post(reverse("qualification:test_start", args=[stream.pk]))
    for answer in canonical_answers(invited, {0: "B", 1: "A", 2: "B"}):
        response = post_answer(client, stream, invited, answer)
    body = client.get(response["Location"]).content.decode()
    assert "Not passed." in body
    assert ANSWER_KEY_MARK not in body
    later = timezone.now() + timedelta(days=2)  # after the cool-down: the last attempt, left blank
    services.finish_attempt(attempt=services.start_attempt(stream=stream, user=invited, now=later), now=later)
    body = client.get(reverse("qualification:test_result", args=[stream.pk, 2])).content.decode()
    assert "This test does not show explanations." in body  # the review, without them
    assert ANSWER_KEY_MARK not in body


def test_a_repeated_post_stores_one_answer(client: Client, stream: Any, invited: Any) -> None:
    login(client, invited)
    client.post(reverse("qualification:test_start", args=[stream.pk]))
    attempt = open_attempt(invited)
    qid = services.current_slot(attempt).question.pk
    data = {"token": f"{attempt.pk}.{qid}", "choice": "A", "strength": "1"}
    client.post(reverse("qualification:test_answer", args=[stream.pk]), data)
    again = client.post(reverse("qualification:test_answer", args=[stream.pk]), {**data, "choice": "B"}, **HX)
    assert again.status_code == 200
    assert b"already saved" in again.content
    assert QualificationAnswer.objects.filter(attempt=attempt).count() == 1


def test_an_incomplete_answer_is_a_400_with_the_question_kept(client: Client, stream: Any, invited: Any) -> None:
    login(client, invited)
    client.post(reverse("qualification:test_start", args=[stream.pk]))
    attempt = open_attempt(invited)
    qid = services.current_slot(attempt).question.pk
    response = client.post(
        reverse("qualification:test_answer", args=[stream.pk]), {"token": f"{attempt.pk}.{qid}"}, **HX
    )
    assert response.status_code == 400
    assert b"Choose A, B, tie or both bad." in response.content
    assert not QualificationAnswer.objects.exists()


def test_time_up_sends_the_annotator_to_the_result(client: Client, stream: Any, test: Any, invited: Any) -> None:
    test.time_limit_minutes = 5
    test.save()
    login(client, invited)
    with time_machine.travel(T0, tick=False):
        client.post(reverse("qualification:test_start", args=[stream.pk]))
        page = client.get(reverse("qualification:test", args=[stream.pk]))
        assert b'data-deadline="2026-03-02T09:05:00+00:00"' in page.content
    with time_machine.travel(T0 + timedelta(minutes=6), tick=False):
        response = client.get(reverse("qualification:test", args=[stream.pk]))
    assert response["Location"] == reverse("qualification:test_result", args=[stream.pk, 1])
    assert StreamMembership.objects.get(user=invited).status == Status.FAILED


# --- The answer key never reaches the browser ----------------------------------------------------
def test_the_question_page_carries_no_answer_key(client: Client, stream: Any, test: Any, invited: Any) -> None:
    # The question's item also carries golden fields and a prior label: none of it may show.
    for question in test.questions.select_related("item"):
        item = question.item
        item.prior_label = {"choice": "A", "source": "judge-verdict-SECRET"}
        item.golden_explanation = "GOLDEN-SECRET"
        item.save()
    login(client, invited)
    client.post(reverse("qualification:test_start", args=[stream.pk]))
    pages = [client.get(reverse("qualification:test", args=[stream.pk])).content.decode()]
    for _ in range(2):
        pages.append(post_answer(client, stream, invited, "A", **HX).content.decode())
    for html in pages:
        assert 'id="judge-form"' in html
        assert ANSWER_KEY_MARK not in html
        assert "acceptable" not in html.lower()
        assert "judge-verdict-SECRET" not in html
        assert "GOLDEN-SECRET" not in html
        assert "explanation" not in html.lower()
        for question in test.questions.all():
            assert json.dumps(question.acceptable_answers) not in html


def test_the_api_gives_an_unqualified_annotator_nothing(stream: Any, test: Any, invited: Any) -> None:
    _token, key = ApiToken.generate(user=invited)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    services.start_attempt(stream=stream, user=invited)
    responses = [
        api.get(reverse("api-next", args=[stream.pk])),
        api.get(f"/api/streams/{stream.pk}/items/"),
        api.get(f"/api/streams/{stream.pk}/"),
        api.get("/api/streams/"),
    ]
    assert responses[0].status_code == 404
    assert responses[1].status_code == 403  # items (with golden answers) are for reviewers and PMs
    for response in responses:
        assert ANSWER_KEY_MARK not in response.content.decode()
        assert b"acceptable" not in response.content
    assert not Assignment.objects.filter(annotator=invited).exists()


# --- Who gets 404 --------------------------------------------------------------------------------
@pytest.mark.parametrize("status", [Status.INVITED, Status.TESTING, Status.FAILED])
def test_unqualified_annotators_get_404_on_item_pages_and_the_api(stream: Any, test: Any, status: str) -> None:
    user = make_annotator(stream, status=status)
    client = login(Client(), user)
    assert client.get(reverse("annotation:work", args=[stream.pk])).status_code == 404
    _token, key = ApiToken.generate(user=user)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert api.get(reverse("api-next", args=[stream.pk])).status_code == 404
    assert not Assignment.objects.exists()


def test_an_assignment_taken_before_the_test_existed_cannot_be_submitted(stream: Any) -> None:
    user = make_annotator(stream, status=Status.INVITED)
    assignment = annotation_services.claim_next(stream=stream, annotator=user)
    assert assignment is not None
    make_test(stream)
    client = login(Client(), user)
    data = {"token": annotation_services.lease_token(assignment), "choice": "A", "strength": "1"}
    assert client.post(reverse("annotation:submit", args=[assignment.pk]), data).status_code == 404
    assert not Judgement.objects.exists()


@pytest.mark.parametrize("name", ["test", "test_start", "test_answer"])
def test_outsiders_get_404(client: Client, stream: Any, test: Any, name: str) -> None:
    login(client, cast(Any, UserFactory()))
    method = client.get if name == "test" else client.post
    assert method(reverse(f"qualification:{name}", args=[stream.pk])).status_code == 404


def test_another_annotators_result_is_404(client: Client, stream: Any, invited: Any) -> None:
    services.start_attempt(stream=stream, user=invited)
    attempt = open_attempt(invited)
    services.finish_attempt(attempt=attempt)
    other = make_annotator(stream, status=Status.INVITED)
    login(client, other)
    assert client.get(reverse("qualification:test_result", args=[stream.pk, 1])).status_code == 404


def test_wrong_methods_get_405(client: Client, stream: Any, invited: Any) -> None:
    login(client, invited)
    assert client.get(reverse("qualification:test_start", args=[stream.pk])).status_code == 405
    assert client.get(reverse("qualification:test_answer", args=[stream.pk])).status_code == 405
    assert client.post(reverse("qualification:test", args=[stream.pk])).status_code == 405


def test_a_qualified_annotator_cannot_start_again(client: Client, stream: Any, test: Any) -> None:
    user = make_annotator(stream, status=Status.QUALIFIED)
    login(client, user)
    response = client.post(reverse("qualification:test_start", args=[stream.pk]), follow=True)
    assert b"cannot take the test now" in response.content
    assert not QualificationAttempt.objects.exists()


@pytest.mark.parametrize("mode", ["static", "dynamic"])
def test_the_result_offers_to_start_as_the_stream_home_does(client: Client, mode: str) -> None:
    stream: Any = StreamFactory(status="active", mode=mode)
    for _ in range(3):
        ItemFactory(stream=stream)
    make_test(stream, answers=[["A"], ["A"], ["A"]], pass_mark=0.6)
    ivy = make_annotator(stream, "ivy", status=Status.INVITED)
    login(client, ivy)
    client.post(reverse("qualification:test_start", args=[stream.pk]))
    for answer in canonical_answers(ivy, {0: "A", 1: "A", 2: "A"}):
        response = post_answer(client, stream, ivy, answer)
    result = client.get(response["Location"])
    assert b"Passed." in result.content
    assert b'id="start"' in result.content
    home = client.get(reverse("annotation:stream_home", args=[stream.pk]))
    assert b"Take the qualification test" not in home.content
