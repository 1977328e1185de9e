"""Helpers for browser tests (the ``browser`` and ``page`` fixtures: tests/browser.py).

Use with pytest-django's ``live_server`` and ``transactional_db`` (the server thread must see the
test's rows), and mark the tests ``browser``::

    pytestmark = pytest.mark.browser

    def test_it_works(page, live_server, transactional_db):
        user = UserFactory()
        login(page, live_server, user.username, PASSWORD)
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from playwright.sync_api import Page

# The browser and page fixtures are in tests/browser.py, registered once in tests/conftest.py.


def screenshot_path(name: str) -> Path:
    """Where a browser test saves its screenshot: the README's ``docs/img/<name>`` when
    ``QUORUM_SCREENSHOTS=1`` (to refresh them), else a temporary folder, so a test run leaves the
    checkout as it found it."""
    if os.environ.get("QUORUM_SCREENSHOTS") == "1":
        return Path(__file__).resolve().parents[2] / "docs" / "img" / name
    folder = Path(tempfile.gettempdir()) / "quorum-e2e-screenshots"
    folder.mkdir(exist_ok=True)
    return folder / name


def login(page: Page, live_server: Any, username: str, password: str) -> None:
    """Signs in through the real login form and waits for the home page."""
    page.goto(f"{live_server.url}/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")
