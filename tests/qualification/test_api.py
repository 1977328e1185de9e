"""The annotator's qualification test through the API (token and session): read the question,
start, answer in display terms, the result; the pages' 404 rules; no answer key before scoring."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from projects.models import ApiToken, Role, StreamMembership
from qualification.models import QualificationAnswer, QualificationAttempt
from tests.annotation.conftest import make_annotator
from tests.factories import ItemFactory, MembershipFactory, StreamFactory, UserFactory
from tests.qualification.helpers import ANSWER_KEY_MARK, make_test

pytestmark = pytest.mark.django_db

Status = StreamMembership.Status
ANSWERS = [["A", "tie"], ["B"], ["A"]]


@pytest.fixture
def stream() -> Any:
    return StreamFactory()


@pytest.fixture
def test(stream: Any) -> Any:
    return make_test(stream, answers=ANSWERS, pass_mark=0.6, show_explanations=True)


def token_client(user: Any) -> APIClient:
    _token, key = ApiToken.generate(user=user)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return api


def session_client(user: Any) -> APIClient:
    api = APIClient()
    api.force_login(user)
    return api


def urls(stream: Any) -> tuple[str, str, str]:
    return (
        reverse("api-test", args=[stream.pk]),
        reverse("api-test-start", args=[stream.pk]),
        reverse("api-test-answer", args=[stream.pk]),
    )


def assert_no_answer_key(body: bytes, test: Any) -> None:
    text = body.decode()
    assert ANSWER_KEY_MARK not in text
    assert "acceptable" not in text.lower()
    assert "explanation_html" not in text  # no result yet
    for question in test.questions.select_related("item"):
        assert question.item.external_id not in text
        assert json.dumps(question.acceptable_answers) not in text
        assert "model-a" not in text
        assert "model-b" not in text


def shown_letter(question: dict[str, Any], attempt: QualificationAttempt, canonical: str) -> str:
    """The letter to send for a canonical answer, given the order this attempt shows."""
    question_id = int(question["token"].split(".")[1])
    order = next(e["order"] for e in attempt.question_order if e["question"] == question_id)
    return "AB"[order.index("AB".index(canonical))]


@pytest.mark.parametrize("make_client", [token_client, session_client], ids=["token", "session"])
def test_an_invited_annotator_takes_the_test_through_the_api(stream: Any, test: Any, make_client: Any) -> None:
    user = make_annotator(stream, "ivy", status=Status.INVITED)
    api = make_client(user)
    state_url, start_url, answer_url = urls(stream)

    state = api.get(state_url)
    assert state.status_code == 200
    assert state["Cache-Control"] == "no-store"
    assert state.json()["status"] == "invited"
    assert state.json()["can_start"] is True
    assert state.json()["question"] is None
    assert state.json()["test"]["questions"] == 3
    assert_no_answer_key(state.content, test)

    started = api.post(start_url)
    assert started.status_code == 200, started.content
    assert_no_answer_key(started.content, test)
    body = started.json()
    assert body["status"] == "testing"
    assert body["attempt"]["number"] == 1
    attempt = QualificationAttempt.objects.get(user=user)
    # The responses come in this attempt's display order, labelled by position.
    question = body["question"]
    assert question["number"] == 1
    assert question["total"] == 3
    assert [r["label"] for r in question["responses"]] == ["A", "B"]
    question_id = int(question["token"].split(".")[1])
    order = next(e["order"] for e in attempt.question_order if e["question"] == question_id)
    item = test.questions.get(pk=question_id).item
    assert [r["text"] for r in question["responses"]] == [item.responses[i]["text"] for i in order]
    assert api.get(state_url).json()["question"] == question  # a reload shows the same question

    by_question = {q.pk: q for q in test.questions.all()}
    seen = 0
    finished = False
    while not finished:
        question_id = int(question["token"].split(".")[1])
        answer = by_question[question_id].acceptable_answers[0]
        shown = shown_letter(question, attempt, answer) if answer in ("A", "B") else answer
        response = api.post(answer_url, {"token": question["token"], "choice": shown}, format="json")
        assert response.status_code == 200, response.content
        body = response.json()
        finished = body["finished"]
        seen += 1
        if not finished:
            assert_no_answer_key(response.content, test)
            question = body["question"]
    assert seen == 3
    assert body["status"] == "qualified"
    assert body["attempt"] is None
    assert body["last_result"]["score"] == 1.0
    assert body["last_result"]["passed"] is True
    assert body["last_result"]["wrong"] == []
    assert QualificationAnswer.objects.filter(attempt=attempt, correct=True).count() == 3


def test_explanations_come_only_with_the_result(stream: Any, test: Any) -> None:
    user = make_annotator(stream, status=Status.INVITED)
    api = token_client(user)
    state_url, start_url, answer_url = urls(stream)
    question = api.post(start_url).json()["question"]
    bodies = []
    for _ in range(3):
        response = api.post(answer_url, {"token": question["token"], "choice": "both_bad"}, format="json")
        bodies.append(response)
        question = response.json()["question"]
    for response in bodies[:-1]:
        assert_no_answer_key(response.content, test)
    result = bodies[-1].json()
    assert result["finished"] is True
    assert result["status"] == "failed"
    assert result["last_result"]["score"] == 0.0
    assert [w["given"] for w in result["last_result"]["wrong"]] == ["both_bad"] * 3
    assert all(ANSWER_KEY_MARK in w["explanation_html"] for w in result["last_result"]["wrong"])
    # Even after scoring, the acceptable answers themselves are never sent.
    assert "acceptable" not in bodies[-1].content.decode()
    # Failed, with a cool-down: the next start is refused with the page's message.
    again = api.post(start_url)
    assert again.status_code == 409
    assert again.json()["detail"].startswith("Your next attempt opens at")
    assert api.get(state_url).json()["can_start"] is False


def test_a_repeated_or_invalid_answer_stores_nothing(stream: Any, test: Any) -> None:
    user = make_annotator(stream, status=Status.INVITED)
    api = token_client(user)
    _state_url, start_url, answer_url = urls(stream)
    assert api.post(answer_url, {"token": "1.1", "choice": "A"}, format="json").status_code == 409  # no attempt
    first = api.post(start_url).json()["question"]
    missing = api.post(answer_url, {"token": first["token"]}, format="json")
    assert missing.status_code == 400
    assert "choice" in missing.json()
    ranking = api.post(answer_url, {"token": first["token"], "ranking": [1, 2]}, format="json")
    assert ranking.status_code == 400
    assert api.post(answer_url, {"token": first["token"], "choice": "A"}, format="json").status_code == 200
    repeat = api.post(answer_url, {"token": first["token"], "choice": "B"}, format="json")
    assert repeat.status_code == 409
    assert QualificationAnswer.objects.count() == 1


def test_it_applies_the_pages_404_rules(stream: Any, test: Any) -> None:
    outsider = UserFactory()  # no project
    pm_not_invited = UserFactory()
    MembershipFactory(project=stream.project, user=pm_not_invited, role=Role.PM)
    removed = make_annotator(stream, status=Status.REMOVED)
    other_stream = StreamFactory()
    for user in (outsider, pm_not_invited, removed):
        api = token_client(user)
        for url in urls(stream):
            response = api.get(url) if url.endswith("/test/") else api.post(url, {}, format="json")
            assert response.status_code == 404, (user, url)
    member = make_annotator(stream, status=Status.INVITED)
    assert token_client(member).get(urls(other_stream)[0]).status_code == 404
    assert APIClient().get(urls(stream)[0]).status_code in (401, 403)  # not signed in
    assert not QualificationAttempt.objects.exists()


def test_a_qualified_member_reads_the_standing_but_cannot_start(stream: Any, test: Any) -> None:
    user = make_annotator(stream, status=Status.QUALIFIED)
    api = token_client(user)
    state = api.get(urls(stream)[0]).json()
    assert state["status"] == "qualified"
    assert state["can_start"] is False
    refused = api.post(urls(stream)[1])
    assert refused.status_code == 409
    assert refused.json()["detail"] == "You cannot take the test now (your status is qualified)."


def test_a_stream_without_a_test_says_so(stream: Any) -> None:
    ItemFactory(stream=stream)
    user = make_annotator(stream, status=Status.INVITED)
    api = token_client(user)
    state = api.get(urls(stream)[0]).json()
    assert state["test"] is None
    assert state["can_start"] is False
    refused = api.post(urls(stream)[1])
    assert refused.status_code == 409
    assert refused.json()["detail"] == "This stream has no qualification test."
