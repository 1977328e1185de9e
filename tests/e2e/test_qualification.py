"""The qualification path in Chromium: an invited annotator takes the test with the keyboard alone,
on the labeling page, passes, and receives items."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Page

from projects.models import StreamMembership
from qualification.models import QualificationAttempt
from tests.annotation.conftest import make_annotator
from tests.e2e.conftest import login
from tests.factories import PASSWORD, ItemFactory, StreamFactory
from tests.qualification.helpers import ANSWER_KEY_MARK, make_test

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_an_invited_annotator_takes_and_passes_the_test_with_the_keyboard(page: Page, live_server: Any) -> None:
    stream: Any = StreamFactory(name="German medical")
    ItemFactory(stream=stream, context=[{"role": "user", "content": "A real work item."}])
    make_test(stream, answers=[["A"], ["B"], ["A", "tie"]], pass_mark=1.0, time_limit_minutes=30)
    ivy = make_annotator(stream, "ivy", status=StreamMembership.Status.INVITED)

    login(page, live_server, "ivy", PASSWORD)
    page.goto(f"{live_server.url}/annotate/streams/{stream.pk}/")
    page.focus("#take-test")
    page.keyboard.press("Enter")
    page.wait_for_selector("#judge-form")
    assert page.is_visible("#test-timer")
    page.evaluate("window.__sameDocument = true")

    attempt = QualificationAttempt.objects.get(user=ivy)
    orders = {entry["question"]: entry["order"] for entry in attempt.question_order}
    expected = {q.pk: q.acceptable_answers[0] for q in attempt.test.questions.all()}
    for number in range(3):
        key = page.get_attribute("#workspace", "data-assignment") or ""
        question_id = int(key.rsplit("-", 1)[1])
        html = page.content()
        assert ANSWER_KEY_MARK not in html  # the answer key is not in the page
        canonical = expected[question_id]
        shown = "AB"[orders[question_id].index("AB".index(canonical))]
        page.keyboard.press(shown.lower())
        page.keyboard.press("2")
        page.keyboard.press("Enter")
        if number < 2:
            page.wait_for_selector(f"#workspace[data-assignment]:not([data-assignment='{key}'])")
            assert page.evaluate("window.__sameDocument") is True  # htmx swap, no reload
    page.wait_for_selector("#test-outcome")
    assert "Passed." in page.inner_text("#test-outcome")
    assert page.inner_text("#test-score") == "100%"
    assert StreamMembership.objects.get(user=ivy).status == StreamMembership.Status.QUALIFIED

    page.focus("#start")
    page.keyboard.press("Enter")
    page.wait_for_selector("#judge-form")
    assert "A real work item." in page.inner_text(".ws-context")
    assert page.console_errors == []
