"""The browser suites use the e2e suite's Chromium (Debian's, never `playwright install`)."""

from __future__ import annotations

from tests.e2e.conftest import browser

__all__ = ["browser"]
