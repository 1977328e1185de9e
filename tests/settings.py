"""Test settings: the real settings module, pointed at PostgreSQL when it is reachable.

PostgreSQL is used when DATABASE_URL is set or 127.0.0.1:5432 answers (CI has it); otherwise the
suite runs on SQLite and the tests marked ``postgres`` are skipped with the reason printed.
"""

from __future__ import annotations

import os
import socket


def _postgres_answers(host: str = "127.0.0.1", port: int = 5432) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


if not os.environ.get("DATABASE_URL") and os.environ.get("QUORUM_TEST_SQLITE") != "1" and _postgres_answers():
    os.environ["DATABASE_URL"] = "postgres://postgres@127.0.0.1:5432/quorum"
os.environ.setdefault("QUORUM_ENV", "development")
# Tests run tasks eagerly unless a test starts a real worker itself (tests/integration).
os.environ.pop("REDIS_URL", None)

from quorum.settings import *  # noqa: E402,F403
from quorum.settings import DATABASES  # noqa: E402

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
CELERY_TASK_ALWAYS_EAGER = True
DATABASES["default"]["CONN_MAX_AGE"] = 0
# Parallel runs on one machine (several checkouts, several sessions) each name their own database.
DATABASES["default"]["TEST"] = {"NAME": os.environ.get("QUORUM_TEST_DB_NAME", "test_quorum")}
