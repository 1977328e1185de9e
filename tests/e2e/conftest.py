"""Playwright fixtures for browser tests, driving Debian's Chromium (never `playwright install`).

Use with pytest-django's ``live_server`` and ``transactional_db`` (the server thread must see the
test's rows), and mark the tests ``browser``::

    pytestmark = pytest.mark.browser

    def test_it_works(page, live_server, transactional_db):
        user = UserFactory()
        login(page, live_server, user.username, PASSWORD)
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, sync_playwright

# Playwright's sync API runs an event loop in this thread; Django would otherwise refuse ORM calls
# made from the test (factories, assertions) as "async unsafe".
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

CHROMIUM_ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-gpu"]


def screenshot_path(name: str) -> Path:
    """Where a browser test saves its screenshot: the README's ``docs/img/<name>`` when
    ``QUORUM_SCREENSHOTS=1`` (to refresh them), else a temporary folder, so a test run leaves the
    checkout as it found it."""
    if os.environ.get("QUORUM_SCREENSHOTS") == "1":
        return Path(__file__).resolve().parents[2] / "docs" / "img" / name
    folder = Path(tempfile.gettempdir()) / "quorum-e2e-screenshots"
    folder.mkdir(exist_ok=True)
    return folder / name


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    executable = shutil.which("chromium")
    if executable is None:
        pytest.skip("browser tests need Debian's Chromium on PATH (apt-get install chromium); it is not installed")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh browser context and page. ``page.console_errors`` collects console errors (a CSP
    violation shows up there), so a test can assert that there are none."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US")
    context.set_default_timeout(10_000)
    page = context.new_page()
    errors: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            errors.append(message.text)

    page.on("console", on_console)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.console_errors = errors  # read by tests: assert page.console_errors == []
    yield page
    context.close()


def login(page: Page, live_server: Any, username: str, password: str) -> None:
    """Signs in through the real login form and waits for the home page."""
    page.goto(f"{live_server.url}/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")
