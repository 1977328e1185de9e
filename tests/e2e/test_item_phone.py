"""The item page in Chromium: the guidelines drawer (G, no inline script, a link without JS) and
the phone layout at 390×844 (a compact answer bar, no scrolling inside the scrolling page)."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Browser, Page

from projects.models import Stream
from tests.annotation.conftest import make_annotator
from tests.e2e.conftest import login, screenshot_path
from tests.factories import PASSWORD, ItemFactory, StreamFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LONG = "\n\n".join(f"Paragraph {n}: " + "a careful answer with reasons and caveats. " * 12 for n in range(8))

# Elements that scroll vertically on their own (overflow auto/scroll and more content than room).
NESTED_SCROLLERS = """() => Array.from(document.querySelectorAll('#workspace *')).filter(e => {
  const s = getComputedStyle(e);
  return ['auto', 'scroll'].includes(s.overflowY) && e.scrollHeight > e.clientHeight + 1;
}).map(e => e.className)"""


def _stream() -> Any:
    stream: Any = StreamFactory(
        status=Stream.Status.ACTIVE, guidelines="## Judge correctness first\n\nThen helpfulness."
    )
    ItemFactory(stream=stream, responses=[{"text": LONG}, {"text": "A short answer. " * 30}])
    make_annotator(stream, "alice")
    return stream


def test_the_guidelines_open_in_a_drawer_with_g(page: Page, live_server: Any) -> None:
    stream = _stream()
    login(page, live_server, "alice", PASSWORD)
    page.goto(f"{live_server.url}/annotate/streams/{stream.pk}/work/")
    page.wait_for_selector("#judge-form")
    assert not page.is_visible("#guidelines")
    page.keyboard.press("g")
    assert page.is_visible("#guidelines")
    assert "Judge correctness first" in page.inner_text("#guidelines")
    page.keyboard.press("Escape")
    assert not page.is_visible("#guidelines")
    page.click("#guidelines-link")
    assert page.is_visible("#guidelines")
    page.keyboard.press("g")
    assert not page.is_visible("#guidelines")
    assert page.url.endswith("/work/")  # the drawer, not the link's page
    assert page.console_errors == []


def test_without_javascript_the_guidelines_are_a_link(browser: Browser, live_server: Any) -> None:
    stream = _stream()
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    login(page, live_server, "alice", PASSWORD)
    page.goto(f"{live_server.url}/annotate/streams/{stream.pk}/work/")
    page.click("#guidelines-link")
    page.wait_for_url(f"**/annotate/streams/{stream.pk}/#guidelines")
    assert "Judge correctness first" in page.inner_text("#guidelines")
    context.close()


def test_on_a_phone_the_bar_is_compact_and_nothing_scrolls_inside_the_page(browser: Browser, live_server: Any) -> None:
    stream = _stream()
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    login(page, live_server, "alice", PASSWORD)
    page.goto(f"{live_server.url}/annotate/streams/{stream.pk}/work/")
    page.wait_for_selector("#judge-form")
    page.screenshot(path=str(screenshot_path("item-phone.png")))
    bar = page.locator(".ws-footer").bounding_box()
    assert bar is not None
    print(f"phone answer bar: {bar['height']:.0f} px of 844 ({bar['height'] / 844:.1%})")
    assert bar["height"] <= 0.20 * 844
    assert page.evaluate(NESTED_SCROLLERS) == []
    # Opaque: no text shows through it.
    assert page.locator(".ws-footer").evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(255, 255, 255)"
    # Response B's header, brought into view, is not under the bar.
    header = page.locator(".resp").nth(1).locator(".resp-head")
    header.evaluate("e => e.scrollIntoView({block: 'nearest'})")
    box = header.bounding_box()
    bar = page.locator(".ws-footer").bounding_box()
    assert box is not None
    assert bar is not None
    assert box["y"] + box["height"] <= bar["y"]
    # The flags and rationale open on demand; the choice is a tap.
    page.click("label[for=ws-more]")
    assert page.is_visible("#rationale")
    page.click("label.seg-A")
    assert page.is_checked("input[name=choice][value=A]")
    assert errors == []
    context.close()
