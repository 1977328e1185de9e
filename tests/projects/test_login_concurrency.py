"""The login limit holds under parallel guesses: 30 wrong passwords sent at once, over real HTTP
to the live server (one thread and one database connection per request), lead to at most
``LOGIN_RATE_LIMIT`` password checks; the rest are refused with 429 unchecked."""

from __future__ import annotations

import http.cookiejar
import re
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth.hashers import MD5PasswordHasher
from django.core.cache import cache
from django.test import override_settings

from tests.factories import UserFactory

GUESSES = 30
LIMIT = 10


class CountingHasher(MD5PasswordHasher):
    """The test suite's hasher, counting every password it verifies (thread-safe)."""

    checks = 0
    lock = threading.Lock()

    def verify(self, password: str, encoded: str) -> bool:
        with CountingHasher.lock:
            CountingHasher.checks += 1
        return super().verify(password, encoded)


@pytest.fixture
def counting() -> Iterator[type[CountingHasher]]:
    CountingHasher.checks = 0
    cache.clear()
    with override_settings(PASSWORD_HASHERS=[f"{__name__}.CountingHasher"], LOGIN_RATE_LIMIT=LIMIT):
        yield CountingHasher
    cache.clear()


def _csrf(base: str) -> tuple[str, str]:
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    page = opener.open(f"{base}/login/", timeout=30).read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    assert token is not None
    cookie = next(c.value or "" for c in jar if c.name == "csrftoken")
    return cookie, token.group(1)


@pytest.mark.postgres  # one database connection per server thread; SQLite's test database is one shared connection
@pytest.mark.django_db(transaction=True)
def test_30_parallel_wrong_passwords_check_at_most_the_limit(live_server: Any, counting: type[CountingHasher]) -> None:
    user = UserFactory.create()
    base = live_server.url
    cookie, token = _csrf(base)
    body = urllib.parse.urlencode(
        {"username": user.username, "password": "wrong-guess", "csrfmiddlewaretoken": token}
    ).encode()
    barrier = threading.Barrier(GUESSES)
    statuses: list[int] = []
    lock = threading.Lock()

    def guess() -> None:
        request = urllib.request.Request(
            f"{base}/login/", data=body, headers={"Cookie": f"csrftoken={cookie}", "Referer": f"{base}/login/"}
        )
        barrier.wait()
        for attempt in range(5):  # the test server's listen backlog may refuse a burst: send again
            try:
                status = urllib.request.urlopen(request, timeout=60).status
                break
            except urllib.error.HTTPError as exc:
                status = exc.code
                break
            except (urllib.error.URLError, ConnectionError):
                if attempt == 4:
                    raise
                time.sleep(0.2)
        with lock:
            statuses.append(status)

    threads = [threading.Thread(target=guess) for _ in range(GUESSES)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    print(f"\n{GUESSES} parallel guesses: {counting.checks} password checks (limit {LIMIT}); "
          f"statuses {sorted(statuses)}")  # fmt: skip
    assert len(statuses) == GUESSES
    assert counting.checks <= LIMIT
    assert statuses.count(200) == counting.checks  # each checked guess: the form again
    assert statuses.count(429) == GUESSES - counting.checks
