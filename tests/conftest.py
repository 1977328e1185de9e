from __future__ import annotations

import pytest
from django.db import connection


def pytest_report_header(config: pytest.Config) -> str:
    from django.conf import settings

    engine = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
    return f"quorum: database backend = {engine}"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if connection.vendor == "postgresql":
        return
    skip = pytest.mark.skip(reason="needs PostgreSQL (127.0.0.1:5432 did not answer and DATABASE_URL is unset)")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)
