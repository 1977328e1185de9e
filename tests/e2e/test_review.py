"""The review page in Chromium: keyboard only (a, r, 1-9, n, Enter), the next judgement arriving
in place, the styled error for a rejection without a reason."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Page, expect

from projects.models import Role, Stream
from qc.models import Review, ReviewTask
from tests.annotation.conftest import make_annotator
from tests.e2e.conftest import login, screenshot_path
from tests.factories import PASSWORD, ItemFactory, JudgementFactory, MembershipFactory, StreamFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PAIRS = [
    (
        "Is 91 a prime number?",
        "No: 91 = 7 × 13, so it has divisors other than 1 and itself.",
        "Yes, 91 is prime: it is odd and does not end in 5.",
    ),
    ("What is the capital of Australia?", "Canberra.", "Sydney is the capital of Australia."),
    ("Say good morning in German.", "Guten Morgen.", "Bonjour."),
]


def _queue() -> tuple[Any, Any]:
    stream: Any = StreamFactory(status=Stream.Status.ACTIVE, name="Helpfulness · pairwise")
    reviewer = UserFactory(username="rita")
    MembershipFactory(project=stream.project, user=reviewer, role=Role.REVIEWER)
    alice = make_annotator(stream, "alice")
    for prompt, right, wrong in PAIRS:
        item = ItemFactory(
            stream=stream, context=[{"role": "user", "content": prompt}], responses=[{"text": right}, {"text": wrong}]
        )
        judgement: Any = JudgementFactory(
            assignment__item=item,
            assignment__annotator=alice,
            assignment__display_order=[1, 0],
            choice="B",
            strength=2,
            rationale="The second one is more confident.",
        )
        ReviewTask.objects.create(judgement=judgement, stream=stream, reason=ReviewTask.Reason.SAMPLE)
    return stream, reviewer


def test_a_reviewer_works_the_queue_with_the_keyboard_alone(page: Page, live_server: Any) -> None:
    stream, reviewer = _queue()
    login(page, live_server, reviewer.username, PASSWORD)
    page.goto(f"{live_server.url}/streams/{stream.pk}/review/")
    page.wait_for_load_state("networkidle")
    assert "1 of 3" in page.inner_text("#review-progress")
    assert "chose the response shown first (B in the file), clearly better" in page.inner_text("#review-answer")
    # The decision sits in the first screen.
    assert page.locator("#review-form button[type=submit]").bounding_box()["y"] < 900  # type: ignore[index]
    page.screenshot(path=str(screenshot_path("review.png")), full_page=False)

    # r then Enter with no reason: a styled error in place, nothing stored.
    page.keyboard.press("r")
    page.keyboard.press("Enter")
    page.wait_for_selector("#review-errors")
    assert "Pick a reason" in page.inner_text("#review-errors")
    assert page.locator("#review-errors").evaluate("e => getComputedStyle(e).backgroundColor") != "rgba(0, 0, 0, 0)"
    assert Review.objects.count() == 0

    # 1 (a canned reason, rejects), n (the note), type, Ctrl+Enter: saved, the next one in place.
    url_before = page.url
    page.keyboard.press("1")
    page.keyboard.press("n")
    page.keyboard.type("91 = 7 × 13.")
    page.keyboard.press("Control+Enter")
    expect(page.locator("#review-progress")).to_contain_text("2 of 3")
    assert page.url == url_before  # no page load: swapped in place
    review = Review.objects.get()
    assert (review.decision, review.reason) == ("reject", "Chose the worse response — 91 = 7 × 13.")
    assert "Canberra" in page.inner_text("#review")

    # a: accept and save in one key.
    page.keyboard.press("a")
    expect(page.locator("#review-progress")).to_contain_text("3 of 3")
    assert Review.objects.filter(decision="accept").count() == 1
    page.keyboard.press("a")
    page.wait_for_selector("text=Nothing left for you to review")
    assert Review.objects.count() == 3
    assert page.console_errors == []
