"""gunicorn serves Quorum with production settings: HTTPS redirect, security headers, hashed static
files from WhiteNoise. Runs the documented production commands (collectstatic, migrate, gunicorn)
in subprocesses, on an SQLite file so it needs nothing else running."""

from __future__ import annotations

import http.client
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.processes import BASE_DIR, clean_environ, stop, tail

SECRET_KEY = "gunicorn-test-0123456789-abcdefghijklmnopqrstuvwxyz-ABCDEFGHIJ"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def get(port: int, path: str, headers: dict[str, str] | None = None) -> http.client.HTTPResponse:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", path, headers=headers or {})
    response = conn.getresponse()
    response.read()
    conn.close()
    return response


@dataclass
class Server:
    port: int
    log: Path


@pytest.fixture(scope="module")
def gunicorn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("gunicorn")
    port = free_port()
    env = clean_environ(
        DJANGO_SETTINGS_MODULE="quorum.settings",
        QUORUM_ENV="production",
        SECRET_KEY=SECRET_KEY,
        ALLOWED_HOSTS="127.0.0.1",
        DATABASE_URL=f"sqlite:///{tmp / 'db.sqlite3'}",
        # Required in production; a GET of the login page never touches the cache or broker.
        REDIS_URL="redis://127.0.0.1:6379/9",
        STATIC_ROOT=str(tmp / "static"),
        MEDIA_ROOT=str(tmp / "media"),
        # The test client plays a TLS-terminating proxy that sets X-Forwarded-Proto.
        NUM_PROXIES="1",
    )
    for command in (["collectstatic", "--noinput", "-v", "0"], ["migrate", "--noinput", "-v", "0"]):
        done = subprocess.run(
            [sys.executable, "manage.py", *command], cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, done.stdout + done.stderr
    log = tmp / "gunicorn.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            # No control socket: its default path is per user, shared by parallel test runs.
            [
                sys.executable,
                "-m",
                "gunicorn",
                # The committed configuration (docs/production.md), two workers for the test.
                "-c",
                "deploy/gunicorn.conf.py",
                "-w",
                "2",
                "-b",
                f"127.0.0.1:{port}",
                "--no-control-socket",
            ],
            cwd=BASE_DIR,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                if process.poll() is not None:
                    pytest.fail(f"gunicorn exited with {process.returncode}:\n{tail(log)}")
                if time.monotonic() > deadline:
                    pytest.fail(f"gunicorn did not listen on {port} in 60 s:\n{tail(log)}")
                time.sleep(0.2)
        yield Server(port=port, log=log)
    finally:
        stop(process)


def test_it_redirects_plain_http_to_https(gunicorn: Server) -> None:
    response = get(gunicorn.port, "/admin/login/")
    assert response.status == 301
    assert response.getheader("Location") == f"https://127.0.0.1:{gunicorn.port}/admin/login/"


@pytest.mark.parametrize("path", ["/login/", "/admin/login/"])
def test_it_serves_the_login_pages_with_security_headers(gunicorn: Server, path: str) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", gunicorn.port, timeout=10)
    conn.request("GET", path, headers={"X-Forwarded-Proto": "https"})
    response = conn.getresponse()
    body = response.read().decode()
    conn.close()

    assert response.status == 200, body[:500]
    assert "csrfmiddlewaretoken" in body
    assert "script-src 'self'" in (response.getheader("Content-Security-Policy") or "")
    assert response.getheader("Strict-Transport-Security") == "max-age=31536000; includeSubDomains; preload"
    assert response.getheader("X-Frame-Options") == "DENY"
    assert response.getheader("X-Content-Type-Options") == "nosniff"
    cookies = response.headers.get_all("Set-Cookie") or []
    assert any(c.startswith("csrftoken=") and "Secure" in c for c in cookies), cookies

    # Static files are collected under hashed names and served by WhiteNoise with long caching.
    stylesheet = re.search(r'href="(/static/[^"]+\.[0-9a-f]{12}\.css)"', body)
    assert stylesheet, "no hashed stylesheet in the page"
    static = get(gunicorn.port, stylesheet.group(1), {"X-Forwarded-Proto": "https"})
    assert static.status == 200
    assert "max-age=315360000" in (static.getheader("Cache-Control") or "")


def test_it_rejects_an_unknown_host_quietly(gunicorn: Server) -> None:
    response = get(gunicorn.port, "/admin/login/", {"Host": "evil.example.org", "X-Forwarded-Proto": "https"})
    assert response.status == 400
    time.sleep(0.2)
    # Every request so far was answered without a traceback in the server's log.
    assert "Traceback" not in gunicorn.log.read_text(errors="replace"), tail(gunicorn.log)
