"""The review of a scored qualification attempt: the questions answered wrong with both responses
as the annotator saw them (sanitised markdown), their answer, the expected one and the
explanation — only once the annotator cannot retake the test — and excerpts cut on the rendered
text, never inside markdown."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from annotation.models import Item
from projects.models import StreamMembership
from qualification import selectors, services
from qualification.models import QualificationAttempt, QualificationQuestion
from tests.annotation.conftest import make_annotator
from tests.factories import StreamFactory
from tests.qualification.helpers import ANSWER_KEY_MARK, answer_all, make_test

pytestmark = pytest.mark.django_db
Status = StreamMembership.Status

LONG_PROMPT = (
    "Explain **"
    + ", ".join(["why the sky looks blue at noon and red at dusk"] * 6)
    + "** in [plain words](https://example.org/a_b)."
)
SAFE_RESPONSE = "Rayleigh scattering: **shorter** wavelengths scatter more. <script>alert('x')</script>"
OTHER_RESPONSE = "Because of the *ocean*. <img src=x onerror=alert(1)>"


def _stream_with_test(**settings: Any) -> tuple[Any, Any]:
    stream = StreamFactory.create()
    test = make_test(stream, answers=[["A"], ["B"], ["A"]], **settings)
    first = QualificationQuestion.objects.filter(test=test).order_by("position").first()
    assert first is not None
    Item.objects.filter(pk=first.item_id).update(
        context=[{"role": "user", "content": LONG_PROMPT}],
        responses=[{"text": SAFE_RESPONSE, "model": "m1"}, {"text": OTHER_RESPONSE, "model": "m2"}],
    )
    return stream, test


def _take(stream: Any, user: Any, answers: list[str], now: Any) -> QualificationAttempt:
    attempt = services.start_attempt(stream=stream, user=user, now=now)
    result = answer_all(attempt, answers)
    assert result is not None
    return QualificationAttempt.objects.get(pk=result.attempt.pk)


def _result(client: Client, stream: Any, user: Any, number: int) -> str:
    client.force_login(user)
    response = client.get(reverse("qualification:test_result", args=[stream.pk, number]))
    assert response.status_code == 200
    return response.content.decode()


def test_the_last_failed_attempt_shows_both_responses_the_answers_and_the_explanation(client: Client) -> None:
    stream, _test = _stream_with_test(max_attempts=1, pass_mark=0.9)
    ivy = make_annotator(stream, "ivy", status=Status.INVITED)
    attempt = _take(stream, ivy, ["B", "B", "A"], timezone.now())  # question 1 wrong
    body = _result(client, stream, ivy, 1)
    assert "Not passed." in body
    assert "You have used every attempt." in body
    assert "Questions you did not get right (1)" in body
    # Both responses, rendered through the sanitiser: markdown as HTML, no script, no handler.
    assert "<strong>shorter</strong>" in body
    assert "<em>ocean</em>" in body
    assert "<script>alert" not in body
    assert "<img" not in body
    assert "&lt;img src=x onerror=alert(1)&gt;" in body  # raw HTML is shown as text, never run
    # Their answer and the expected one, labelled as this attempt showed the responses.
    entry = next(
        e for e in attempt.question_order if e["question"] == QualificationQuestion.objects.order_by("position")[0].pk
    )
    shown_a = "AB"[entry["order"].index(0)]  # where canonical A (expected) was shown
    shown_b = "AB"[entry["order"].index(1)]
    assert f"you answered <strong>{shown_b}</strong>, expected <strong>{shown_a}</strong>" in body
    assert f"{ANSWER_KEY_MARK} 0" in body
    assert f"{ANSWER_KEY_MARK} 1" not in body  # answered right: not reviewed


def test_the_excerpt_is_cut_on_the_rendered_text() -> None:
    excerpt = selectors.plain_excerpt(LONG_PROMPT)
    assert len(excerpt) == selectors.EXCERPT_CHARS
    assert excerpt.startswith("Explain why the sky looks blue at noon")
    assert excerpt.endswith("…")
    assert "**" not in excerpt
    assert "[" not in excerpt
    assert selectors.plain_excerpt("Use `<b>` & **bold**") == "Use <b> & bold"  # text; the page escapes it
    short = selectors.plain_excerpt("# Title\n\n> quoted [link](https://x.org)")
    assert short == "Title quoted link"


def test_the_page_escapes_the_excerpt(client: Client) -> None:
    stream, test = _stream_with_test(max_attempts=1)
    question = QualificationQuestion.objects.filter(test=test).order_by("position")[1]
    Item.objects.filter(pk=question.item_id).update(context=[{"role": "user", "content": "Is `<b>bold</b>` **safe**?"}])
    ivy = make_annotator(stream, "ivy", status=Status.INVITED)
    _take(stream, ivy, ["A", "A", "A"], timezone.now())  # question 2 wrong
    body = _result(client, stream, ivy, 1)
    assert '<span class="test-review-excerpt">Is &lt;b&gt;bold&lt;/b&gt; safe?</span>' in body


def test_a_retake_left_keeps_the_key_hidden_even_during_the_cool_down(client: Client) -> None:
    stream, _test = _stream_with_test(max_attempts=2, cooldown_hours=24)
    ivy = make_annotator(stream, "ivy", status=Status.INVITED)
    now = timezone.now()
    _take(stream, ivy, ["B", "A", "A"], now)
    body = _result(client, stream, ivy, 1)
    assert "Your next attempt opens at" in body
    assert 'id="review-later"' in body
    for secret in (ANSWER_KEY_MARK, "<strong>shorter</strong>", "expected <strong>"):
        assert secret not in body
    standing = selectors.standing_in_test(stream=stream, user=ivy)
    assert standing.may_retake


def test_an_attempt_in_progress_hides_the_key_of_the_earlier_ones(client: Client) -> None:
    stream, _test = _stream_with_test(max_attempts=2, cooldown_hours=0)
    ivy = make_annotator(stream, "ivy", status=Status.INVITED)
    now = timezone.now()
    _take(stream, ivy, ["B", "A", "A"], now)
    services.start_attempt(stream=stream, user=ivy, now=now + timedelta(minutes=1))  # the last one, open
    body = _result(client, stream, ivy, 1)
    assert 'id="review-later"' in body
    assert ANSWER_KEY_MARK not in body


def test_a_passed_attempt_reviews_its_wrong_answers(client: Client) -> None:
    stream, _test = _stream_with_test(max_attempts=3)
    ivy = make_annotator(stream, "ivy", status=Status.INVITED)
    _take(stream, ivy, ["B", "B", "A"], timezone.now())  # 2 of 3 ≥ 60%: passed
    body = _result(client, stream, ivy, 1)
    assert "Passed." in body
    assert f"{ANSWER_KEY_MARK} 0" in body
    assert "<strong>shorter</strong>" in body


def test_a_pm_granting_another_attempt_hides_the_key_again(client: Client) -> None:
    stream, _test = _stream_with_test(max_attempts=1)
    ivy = make_annotator(stream, "ivy", status=Status.INVITED)
    _take(stream, ivy, ["B", "A", "A"], timezone.now())
    assert ANSWER_KEY_MARK in _result(client, stream, ivy, 1)
    StreamMembership.objects.filter(user=ivy, stream=stream).update(extra_attempts=1)
    assert ANSWER_KEY_MARK not in _result(client, stream, ivy, 1)
