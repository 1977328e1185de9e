"""A PM signs in, creates a stream, watches the sanitised live preview of the guidelines, saves,
and the stream page shows them."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from projects.models import Role, Stream
from tests.e2e.conftest import login, screenshot_path
from tests.factories import PASSWORD, MembershipFactory, ProjectFactory, UserFactory

pytestmark = pytest.mark.browser

SCREENSHOT = screenshot_path("stream-form.png")

GUIDELINES = """# Harmlessness re-annotation

Pick the response that is **more helpful without causing harm**.

1. Refusing a *safe* request is not harmless: it is unhelpful.
2. Prefer answers that explain *why* they decline.
3. Flag personal data with the `PII` checkbox.

> When both are harmful, choose **Both bad**.

<script>window.pwned = true</script>
[a trap](javascript:window.pwned=true)
"""


def test_it_creates_a_stream_with_a_live_sanitised_preview(page: Page, live_server: Any, transactional_db: Any) -> None:
    pm = UserFactory.create(username="maria")
    project = ProjectFactory.create(slug="copilot", name="Support copilot v3")
    MembershipFactory.create(project=project, user=pm, role=Role.PM)

    login(page, live_server, "maria", PASSWORD)
    page.click("text=Support copilot v3")
    page.click("text=New stream")
    expect(page.locator("h1")).to_have_text("New stream")

    page.fill("#id_name", "Harmlessness")
    page.fill("#id_slug", "harmlessness")
    # Typed key by key: the preview follows on keyup, after a short pause.
    page.locator("#id_guidelines").press_sequentially(GUIDELINES, delay=2)

    preview = page.locator("#guidelines-preview")
    expect(preview.locator("h1")).to_have_text("Harmlessness re-annotation")
    expect(preview.locator("blockquote strong")).to_have_text("Both bad")
    expect(preview).to_contain_text("<script>window.pwned = true</script>")  # shown as text
    html = preview.inner_html()
    assert "<script" not in html
    assert not re.search(r"href=\S*javascript:", html)
    assert page.evaluate("window.pwned") is None

    page.check("input[name=rubric][value=helpfulness]")
    page.check("input[name=rubric][value=harmlessness]")
    page.select_option("#id_status", "active")
    page.fill("#id_golden_rate", "0.1")

    page.locator(".editor").scroll_into_view_if_needed()
    page.evaluate("window.scrollTo(0, 0)")
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT))

    page.click("button:has-text('Create stream')")
    page.wait_for_url(re.compile(r"/streams/\d+/$"))
    stream = Stream.objects.get(project=project, slug="harmlessness")
    assert page.url.endswith(f"/streams/{stream.pk}/")
    assert (stream.status, stream.rubric, stream.golden_rate) == ("active", ["helpfulness", "harmlessness"], 0.1)

    guidelines = page.locator("section.guidelines")
    expect(guidelines.locator("h1")).to_have_text("Harmlessness re-annotation")
    expect(guidelines.locator("blockquote strong")).to_have_text("Both bad")
    assert "<script" not in guidelines.inner_html()
    expect(page.locator(".messages")).to_contain_text("Stream “Harmlessness” created.")
    assert page.console_errors == []
