from __future__ import annotations

import socket
from typing import Any

import pytest
from django.db import connection

# The browser fixtures, once for the whole suite (tests/browser.py says why).
from tests.browser import browser, page  # noqa: F401

REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379


def _answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def pytest_report_header(config: pytest.Config) -> str:
    from django.conf import settings

    engine = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
    return f"quorum: database backend = {engine}"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    postgres = connection.vendor == "postgresql"
    redis = _answers(REDIS_HOST, REDIS_PORT)
    skip_postgres = pytest.mark.skip(
        reason="needs PostgreSQL (127.0.0.1:5432 did not answer and DATABASE_URL is unset)"
    )
    # A real worker is a second process: it can only see the test's data in a server database.
    skip_redis = pytest.mark.skip(
        reason="needs Redis on 127.0.0.1:6379 and PostgreSQL for a real Celery worker"
        + ("" if redis else " (Redis did not answer)")
        + ("" if postgres else " (the database is SQLite)")
    )
    for item in items:
        if "postgres" in item.keywords and not postgres:
            item.add_marker(skip_postgres)
        if "redis" in item.keywords and not (redis and postgres):
            item.add_marker(skip_redis)


@pytest.fixture(autouse=True)
def _empty_cache() -> None:
    """Every test starts with an empty local cache: ids repeat across tests on SQLite, and cached
    per-stream facts (progress, an annotator's exhausted golden set) must not leak between them."""
    from django.core.cache import caches

    for alias in caches:
        if caches[alias].__class__.__name__ == "LocMemCache":
            caches[alias].clear()


# The security suites' counts (tried / got through), in the terminal summary: tests/security/tally.py.
def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    from tests.security import tally

    tally.logreport(report)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    from tests.security import tally

    tally.terminal_summary(terminalreporter)
