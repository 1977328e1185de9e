"""Headers and settings in production: the security settings are read from ``quorum.settings``
imported in a subprocess with ``QUORUM_ENV=production`` (and the variables production requires),
applied to this test's server, and every page and API path, for every role and for nobody, is
checked for the Content-Security-Policy, HSTS and the other security headers, whatever its status
(200, 302, 403, 404, 405). Signing in sets only Secure, HttpOnly, SameSite cookies. ``check
--deploy`` is clean behind a proxy too. (The browser side of the CSP — no violation on any page —
is checked by ``test_xss_crawl.py``; ``tests/test_settings.py`` proves ``check --deploy`` fails
when production is weakened.)"""

from __future__ import annotations

from http.cookies import Morsel
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.http import HttpResponse
from django.http.response import HttpResponseBase
from django.test import Client, override_settings
from django.urls import reverse

from tests.factories import PASSWORD
from tests.security.crawl import page_urls
from tests.security.tally import Tally, record
from tests.security.test_idor_matrix import url_for, walk
from tests.security.world import World, build_world
from tests.test_settings import PRODUCTION, load_settings, run_python

pytestmark = pytest.mark.django_db

SECURITY_SETTINGS = [
    "DEBUG",
    "SECURE_SSL_REDIRECT",
    "SECURE_HSTS_SECONDS",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "SECURE_HSTS_PRELOAD",
    "SECURE_CONTENT_TYPE_NOSNIFF",
    "SECURE_REFERRER_POLICY",
    "SECURE_CROSS_ORIGIN_OPENER_POLICY",
    "X_FRAME_OPTIONS",
    "SESSION_COOKIE_SECURE",
    "SESSION_COOKIE_HTTPONLY",
    "SESSION_COOKIE_SAMESITE",
    "CSRF_COOKIE_SECURE",
    "CSRF_COOKIE_HTTPONLY",
    "CSRF_COOKIE_SAMESITE",
    "CONTENT_SECURITY_POLICY",
]


@pytest.fixture(scope="module")
def production() -> dict[str, Any]:
    values = load_settings(PRODUCTION, SECURITY_SETTINGS)
    assert values["DEBUG"] is False
    return values


def header_problems(response: HttpResponseBase) -> list[str]:
    """What a response lacks of the production security headers."""
    problems = []
    csp = response.get("Content-Security-Policy", "")
    directives = {part.split()[0]: part.split()[1:] for part in csp.split(";") if part.strip()}
    for name, wanted in (
        ("default-src", ["'self'"]),
        ("script-src", ["'self'"]),
        ("object-src", ["'none'"]),
        ("base-uri", ["'none'"]),
        ("frame-ancestors", ["'none'"]),
    ):
        if directives.get(name) != wanted:
            problems.append(f"CSP {name} {directives.get(name)}")
    if "unsafe" in csp:
        problems.append("CSP allows unsafe-*")
    expected = {
        "Strict-Transport-Security": "max-age=31536000; includeSubDomains; preload",
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        "Referrer-Policy": "same-origin",
        "Cross-Origin-Opener-Policy": "same-origin",
    }
    problems += [f"{h}: {response.get(h)!r}" for h, v in expected.items() if response.get(h) != v]
    return problems


def cookie_problems(cookie: Morsel[str]) -> list[str]:
    problems = []
    if not cookie["secure"]:
        problems.append(f"{cookie.key} not Secure")
    if not cookie["httponly"]:
        problems.append(f"{cookie.key} not HttpOnly")
    if cookie["samesite"] not in ("Lax", "Strict"):
        problems.append(f"{cookie.key} SameSite={cookie['samesite']!r}")
    return problems


def _all_urls(world: World) -> list[str]:
    urls = set(page_urls(world))
    for route in walk():
        if route.name.startswith("api-") and not route.name.startswith("admin:"):
            urls.add(url_for(route, world) if route.kwargs else reverse(route.name))
    return sorted(urls | {"/login/", "/admin/login/", "/no-such-page/"})


def test_every_page_for_every_role_has_the_security_headers_in_production(
    production: dict[str, Any], settings: Any, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"
    world = build_world("headers", lambda field: f"H-{field}")
    tally = Tally("Headers (responses checked)")
    cookies = Tally("Cookies (set at sign-in)")
    # None: quorum.settings leaves it to Django's default, which the test server has too.
    values = {k: v for k, v in production.items() if k not in ("DEBUG", "CONTENT_SECURITY_POLICY") and v is not None}
    # The policy is the same in every environment: what this server sends is what production sends.
    assert production["CONTENT_SECURITY_POLICY"] == django_settings.CONTENT_SECURITY_POLICY
    urls = _all_urls(world)
    with override_settings(**values):
        for label, user in [("nobody", None), *world.members().items()]:
            client = Client()
            if user is not None:
                client.get("/login/", secure=True)
                response = client.post("/login/", {"username": user.username, "password": PASSWORD}, secure=True)
                assert response.status_code == 302, response.content[:300]
                for name in ("sessionid", "csrftoken"):
                    found = cookie_problems(response.cookies[name]) if name in response.cookies else []
                    if name == "csrftoken" and name not in response.cookies:
                        found = cookie_problems(client.cookies[name])
                    cookies.check(not found, f"{label} {name}: {found}")
            for url in urls:
                response = client.get(url, secure=True)
                found = header_problems(response)
                tally.check(not found, f"{label} GET {url} ({response.status_code}): {found}")
    record(request, tally)
    record(request, cookies)
    assert tally.through == [], "\n".join(tally.through[:20])
    assert cookies.through == [], cookies.through
    assert tally.tried >= 500
    assert cookies.tried == 10


def test_the_header_check_fails_without_the_middleware() -> None:
    """The check above can fail: a bare response has none of the headers."""
    assert len(header_problems(HttpResponse())) == 10
    morsel: Morsel[str] = Morsel()
    morsel.set("sessionid", "x", "x")
    assert cookie_problems(morsel) == ["sessionid not Secure", "sessionid not HttpOnly", "sessionid SameSite=''"]


@pytest.mark.parametrize("extra", [{}, {"NUM_PROXIES": "1"}], ids=["direct", "behind-a-proxy"])
def test_check_deploy_is_clean_in_production(extra: dict[str, str], request: pytest.FixtureRequest) -> None:
    result = run_python(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], {**PRODUCTION, **extra})
    tally = Tally("check --deploy (configurations)")
    tally.check(result.returncode == 0, result.stdout + result.stderr)
    record(request, tally)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout
