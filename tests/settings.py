"""Test settings: the real settings module, pointed at PostgreSQL when it is reachable.

PostgreSQL is used when DATABASE_URL is set or 127.0.0.1:5432 answers (CI has it); otherwise the
suite runs on SQLite and the tests marked ``postgres`` are skipped with the reason printed.
``QUORUM_TEST_SQLITE=1`` forces SQLite. ``QUORUM_TEST_DB_NAME`` names the PostgreSQL test database
(pytest-xdist appends ``_gw0``, ``_gw1``...), so parallel runs on one server do not collide.
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


if os.environ.get("QUORUM_TEST_SQLITE") == "1":
    os.environ.pop("DATABASE_URL", None)
elif not os.environ.get("DATABASE_URL") and _postgres_answers():
    os.environ["DATABASE_URL"] = "postgres://postgres@127.0.0.1:5432/quorum"
# The suite is the development configuration whatever the caller's shell exports: a production
# QUORUM_ENV, DEBUG=0 or a real mail server must not leak into tests.
os.environ["QUORUM_ENV"] = "development"
for _name in ("DEBUG", "ALLOWED_HOSTS", "SECURE_SSL_REDIRECT", "EMAIL_HOST", "NUM_PROXIES", "TRUST_X_FORWARDED_PROTO"):
    os.environ.pop(_name, None)
# Tests run tasks eagerly unless a test starts a real worker itself (tests/integration).
os.environ.pop("REDIS_URL", None)
os.environ.pop("CELERY_TASK_ALWAYS_EAGER", None)

from quorum.settings import *  # noqa: E402,F403
from quorum.settings import DATABASES  # noqa: E402

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
CELERY_TASK_ALWAYS_EAGER = True
# Dynamic labeling: generations run inside the eager task (no thread) unless a test opts in.
QUORUM_GENERATE_IN_THREAD = False
DATABASES["default"]["CONN_MAX_AGE"] = 0
if DATABASES["default"]["ENGINE"] != "django.db.backends.sqlite3":
    # SQLite tests use an in-memory database per process, which cannot collide.
    DATABASES["default"]["TEST"] = {"NAME": os.environ.get("QUORUM_TEST_DB_NAME", "test_quorum")}
