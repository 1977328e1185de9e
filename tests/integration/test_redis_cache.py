"""With REDIS_URL set, Django's cache is Redis: shared by every web process (login rate limits)."""

from __future__ import annotations

import subprocess
import sys
import uuid

import pytest

from tests.integration.conftest import REDIS_URL
from tests.processes import BASE_DIR, clean_environ

pytestmark = pytest.mark.redis

CODE = """
import sys, django
django.setup()
from django.core.cache import cache
key = sys.argv[1]
if sys.argv[2] == "set":
    cache.set(key, "shared", timeout=60)
else:
    print(cache.get(key))
    cache.delete(key)
"""


def test_it_shares_the_cache_between_processes() -> None:
    env = clean_environ(DJANGO_SETTINGS_MODULE="quorum.settings", REDIS_URL=REDIS_URL)
    key = f"quorum-test-{uuid.uuid4().hex}"
    for action in ("set", "get"):
        done = subprocess.run(
            [sys.executable, "-c", CODE, key, action],
            cwd=BASE_DIR,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "shared"
