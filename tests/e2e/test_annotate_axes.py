"""The multi-axis task kinds in Chromium: one item of each kind completed with the keyboard alone,
and hostile model output that stays text."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Dialog, Page

from annotation.models import Judgement
from tests.annotation.conftest import make_annotator
from tests.e2e.conftest import login, screenshot_path
from tests.e2e.test_annotate import HOSTILE
from tests.factories import PASSWORD, ItemFactory, StreamFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _record(dialogs: list[str], dialog: Dialog) -> None:
    dialogs.append(dialog.message)
    dialog.dismiss()


def _open_item(page: Page, live_server: Any, stream: Any, username: str) -> list[str]:
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: _record(dialogs, dialog))
    login(page, live_server, username, PASSWORD)
    page.goto(f"{live_server.url}/annotate/streams/{stream.pk}/work/")
    page.wait_for_selector("#axes .axis-row.is-current")
    page.evaluate("window.__sameDocument = true")
    return dialogs


def _shown(judgement: Judgement, answer: str) -> str:
    """The canonical answer for an answer pressed on the page ("A" = the response shown first)."""
    return "AB"[judgement.display_order["AB".index(answer)]] if answer in ("A", "B") else answer


def test_a_helpful_safe_item_is_done_with_the_keyboard_alone(page: Page, live_server: Any) -> None:
    stream: Any = StreamFactory(
        name="Safety", task_kind="helpful_safe", harm_categories=["violence", "privacy"], golden_rate=0
    )
    ItemFactory(
        stream=stream,
        context=[{"role": "user", "content": "How do I find my neighbour's home address?"}],
        responses=[{"text": "Ask them, or look at a public directory."}, {"text": HOSTILE}],
    )
    alice = make_annotator(stream, "alice")
    dialogs = _open_item(page, live_server, stream, "alice")

    page.keyboard.press("?")
    assert page.is_visible("#help")
    assert "Mark the highlighted response safe / unsafe" in page.inner_text("#help")
    page.keyboard.press("Escape")
    # helpful: A; safer: B; response A unsafe with category 2 (privacy); response B safe.
    for key in ["a", "b", "n", "2", "y"]:
        page.keyboard.press(key)
    assert page.is_checked("input[name=helpful][value=A]")
    assert page.is_checked("input[name=safer][value=B]")
    assert page.input_value("select[name=harm_0]") == "privacy"
    # A phone: every row fits the width (no sideways scrolling).
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    page.screenshot(path=str(screenshot_path("annotate_helpful_safe_phone.png")), full_page=True, caret="initial")
    page.set_viewport_size({"width": 1440, "height": 900})
    page.screenshot(path=str(screenshot_path("annotate_helpful_safe.png")), caret="initial")
    page.keyboard.press("Enter")
    page.wait_for_selector("text=The queue is empty")

    assert page.evaluate("window.__sameDocument") is True
    assert page.evaluate("window.pwned") is None
    assert dialogs == []
    assert page.console_errors == []
    judgement = Judgement.objects.get(annotator=alice)
    first, second = judgement.display_order
    safe: list[bool | None] = [None, None]
    safe[first], safe[second] = False, True
    harm: list[str | None] = [None, None]
    harm[first] = "privacy"
    assert judgement.axes == {
        "helpful": _shown(judgement, "A"),
        "safer": _shown(judgement, "B"),
        "safe": safe,
        "harm": harm,
    }
    assert judgement.choice == _shown(judgement, "A")
    assert judgement.flag_harmful


def test_a_per_attribute_item_is_done_with_the_keyboard_alone(page: Page, live_server: Any) -> None:
    stream: Any = StreamFactory(
        name="HelpSteer",
        task_kind="attribute_pairwise",
        attributes=["correctness", "instruction following", "style"],
        justification_min_words=4,
        golden_rate=0,
    )
    ItemFactory(
        stream=stream,
        context=[{"role": "user", "content": "Is 91 a prime number?"}],
        responses=[{"text": "No: 91 = 7 × 13."}, {"text": "Yes, 91 is prime."}],
    )
    bob = make_annotator(stream, "bob")
    dialogs = _open_item(page, live_server, stream, "bob")

    # Down to instruction following: tie (on to style, the next unanswered); back up twice to
    # correctness: A (on to style again); style: tie.
    for key in ["ArrowDown", "t", "ArrowUp", "ArrowUp", "a"]:
        page.keyboard.press(key)
    assert page.get_attribute("#axes .axis-row.is-current input", "name") == "attr_2"
    page.keyboard.press("t")
    assert page.is_checked("input[name=attr_0][value=A]")
    assert page.is_checked("input[name=attr_1][value=tie]")
    assert page.is_checked("input[name=attr_2][value=tie]")
    page.keyboard.press("r")
    page.keyboard.type("Too short")  # shortcuts are off while typing: "t" and "s" stay text
    page.keyboard.press("Control+Enter")
    page.wait_for_selector("text=Write a justification of at least 4 words (2 so far).")
    assert Judgement.objects.count() == 0
    page.keyboard.press("r")
    page.keyboard.press("End")
    page.keyboard.type(": 91 is 7 times 13.")
    page.keyboard.press("Escape")
    page.keyboard.press("Enter")
    page.wait_for_selector("text=The queue is empty")

    assert page.evaluate("window.__sameDocument") is True
    assert dialogs == []
    # The browser logs the refused submit (400, as intended); nothing else.
    assert [error for error in page.console_errors if "400 (Bad Request)" not in error] == []
    judgement = Judgement.objects.get(annotator=bob)
    assert judgement.axes == {
        "attributes": {
            "correctness": _shown(judgement, "A"),
            "instruction following": "tie",
            "style": "tie",
        }
    }
    assert judgement.choice == _shown(judgement, "A")
    assert judgement.rationale == "Too short: 91 is 7 times 13."
