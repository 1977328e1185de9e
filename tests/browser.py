"""The browser and page fixtures of every browser test (tests/e2e, tests/security), driving
Debian's Chromium (never `playwright install`). One definition, registered once in
tests/conftest.py: Playwright's sync API allows one instance per thread, so two session
fixtures (one per package) would fail in whichever test came second on an xdist worker."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, sync_playwright

# Playwright's sync API runs an event loop in this thread; Django would otherwise refuse ORM calls
# made from the test (factories, assertions) as "async unsafe".
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

CHROMIUM_ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-gpu"]


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
