"""The "guidelines changed" notice in Chromium: it shows above the item with the diff, the
keyboard keeps judging while it is there, Enter on its button acknowledges it (htmx removes it),
and on a phone the diff wraps inside the screen."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Browser, Page

from annotation.models import Judgement
from projects import services as project_services
from projects.models import GuidelineVersion, Stream, StreamMembership
from tests.annotation.conftest import make_annotator
from tests.e2e.conftest import login, screenshot_path
from tests.factories import PASSWORD, ItemFactory, StreamFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LONG_LINE = "Prefer the answer that cites its sources, " * 12


def _changed_stream() -> Any:
    stream: Any = StreamFactory(status=Stream.Status.ACTIVE, guidelines="Judge correctness first.\nBe kind.")
    GuidelineVersion.objects.create(stream=stream, number=1, text=stream.guidelines)
    for _ in range(3):
        ItemFactory(stream=stream)
    alice = make_annotator(stream, "alice")
    StreamMembership.objects.filter(stream=stream, user=alice).update(guidelines_acknowledged=1)
    project_services.update_stream(
        stream=stream,
        guidelines=f"Judge correctness first.\n{LONG_LINE}\n<img src=x onerror=alert(1)>",
        change_note="Sources matter",
    )
    return stream


def test_the_notice_shows_the_diff_and_the_keys_keep_working(page: Page, live_server: Any) -> None:
    stream = _changed_stream()
    login(page, live_server, "alice", PASSWORD)
    page.goto(f"{live_server.url}/annotate/streams/{stream.pk}/work/")
    page.wait_for_selector("#guidelines-notice")
    notice = page.inner_text("#guidelines-notice")
    assert "v1 → v2" in notice
    assert "Sources matter" in notice
    assert "Be kind." in page.inner_text(".gdiff-del")
    assert "<img src=x onerror=alert(1)>" in page.inner_text("#guidelines-notice .gdiff")  # text, not markup
    assert page.locator("#guidelines-notice img").count() == 0
    # Judging by keyboard while the notice is there: the answer is stored, the notice stays.
    page.keyboard.press("a")
    page.keyboard.press("2")
    page.keyboard.press("Enter")
    page.wait_for_function("() => document.querySelector('.ws-notice-success') !== null")
    assert Judgement.objects.get().guideline_version == 2
    assert page.is_visible("#guidelines-notice")
    # Enter on the button acknowledges; htmx removes the notice in place.
    page.focus("#guidelines-ack")
    page.keyboard.press("Enter")
    page.wait_for_selector("#guidelines-notice", state="detached")
    assert StreamMembership.objects.get(stream=stream).guidelines_acknowledged == 2
    page.reload()
    page.wait_for_selector("#judge-form")
    assert page.locator("#guidelines-notice").count() == 0
    assert page.console_errors == []


def test_on_a_phone_the_diff_wraps_inside_the_screen(browser: Browser, live_server: Any) -> None:
    stream = _changed_stream()
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page = context.new_page()
    login(page, live_server, "alice", PASSWORD)
    page.goto(f"{live_server.url}/annotate/streams/{stream.pk}/work/")
    page.wait_for_selector("#guidelines-notice")
    page.screenshot(path=str(screenshot_path("guidelines-notice-phone.png")))
    widest = page.evaluate(
        "() => Math.max(...Array.from(document.querySelectorAll('.gdiff-line'))"
        ".map(e => e.getBoundingClientRect().right))"
    )
    assert widest <= 390
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 390
    context.close()
