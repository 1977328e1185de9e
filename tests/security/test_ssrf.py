"""SSRF: a PM's endpoint URL must never make Quorum open a connection to this machine or an
internal network. Real listeners on 127.0.0.1 and [::1] count every TCP connection they accept;
each URL is tried three ways — the save-time check (``netguard.check_url``), the whole "Test
connection" path (``llm.check_connection``) and the connect-time guard alone (a request through
``netguard.guarded_client`` that skips the save-time check). Spellings: the dynamic-labeling tests'
list, more address forms aimed at the listeners' port, every name that resolves to loopback on this
machine (from /etc/hosts and the host name; no resolver is patched), and redirects from a real
allowed server (301/302/303/307/308 to the listeners, to 169.254.169.254 and to loopback names).
Expected: every attempt refused, 0 connections reach a listener."""

from __future__ import annotations

import http.server
import ipaddress
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx2 as httpx
import pytest
from django.test import override_settings

from dynamic import llm, netguard
from dynamic.models import ModelEndpoint
from tests.dynamic.test_netguard import REFUSED
from tests.security.tally import Tally, record

pytestmark = pytest.mark.django_db


@dataclass
class Listener:
    """A TCP server that accepts and counts connections (and closes them at once)."""

    family: socket.AddressFamily
    host: str
    port: int = 0
    accepted: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.sock = socket.socket(self.family, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((self.host, self.port))
        self.port = self.sock.getsockname()[1]
        self.sock.listen(64)
        self.sock.settimeout(0.2)
        self.running = True
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while self.running:
            try:
                conn, peer = self.sock.accept()
            except OSError:
                continue
            self.accepted.append(str(peer))
            conn.close()

    def close(self) -> None:
        self.running = False
        self.thread.join()
        self.sock.close()


@contextmanager
def listeners() -> Iterator[tuple[Listener, Listener]]:
    """One listener on 127.0.0.1 and one on [::1], on the same port."""
    v4 = Listener(socket.AF_INET, "127.0.0.1")
    v6 = Listener(socket.AF_INET6, "::1", v4.port)
    try:
        yield v4, v6
    finally:
        v4.close()
        v6.close()


def loopback_names() -> list[str]:
    """Host names that resolve to a loopback address on this machine, as it is configured."""
    candidates = {"localhost", "ip6-localhost", "ip6-loopback", socket.gethostname(), socket.getfqdn()}
    hosts = Path("/etc/hosts")
    if hosts.exists():
        for line in hosts.read_text().splitlines():
            parts = line.split("#", 1)[0].split()
            if len(parts) > 1:
                candidates.update(parts[1:])
    found = []
    for name in sorted(candidates):
        try:
            addresses = {info[4][0] for info in socket.getaddrinfo(name, 80, type=socket.SOCK_STREAM)}
        except OSError:
            continue
        if addresses and all(ipaddress.ip_address(a.split("%")[0]).is_loopback for a in addresses):
            found.append(name)
    return found


def spellings(port: int) -> list[str]:
    """Ways to write "this machine, port ``port``" in a URL."""
    hosts = [
        "127.0.0.1",
        "127.0.0.1.",
        "127.000.000.001",
        "127.1",
        "127.0.1",
        "2130706433",
        "0x7f000001",
        "017700000001",
        "0177.0.0.1",
        "0x7f.0.0.1",
        "0x7f.1",
        "127.127.127.127",
        "0.0.0.0",  # noqa: S104 - a URL host under test, not a bind address
        "0",
        "[::1]",
        "[0:0:0:0:0:0:0:1]",
        "[::ffff:127.0.0.1]",
        "[::ffff:7f00:1]",
        "[0:0:0:0:0:ffff:127.0.0.1]",
        "[::127.0.0.1]",
        "[64:ff9b::127.0.0.1]",
        "[2002:7f00:1::]",
        "[::]",
        "LOCALHOST",
        "localhost.",
        "LocalHost.",
        "sub.localhost",
        "x.internal",
    ]
    urls = [f"http://{h}:{port}/v1" for h in hosts]
    urls += [f"https://{h}:{port}/v1" for h in ("127.0.0.1", "[::1]")]
    urls += [f"http://{name}:{port}/v1" for name in loopback_names()]
    urls += [f"http://{name.upper()}:{port}/v1" for name in loopback_names()]
    return urls


def _endpoint(url: str) -> ModelEndpoint:
    return ModelEndpoint(name="probe", base_url=url, model="m", timeout_seconds=3)


REFUSAL = "This model endpoint's address is not allowed."


def attempt(url: str, tally: Tally, reached: Listener) -> None:
    """The three ways Quorum could connect to ``url``; each must refuse (a refusal by the guard,
    not a failure after connecting) and ``reached`` must accept nothing."""
    before = len(reached.accepted)
    try:
        netguard.check_url(url)
        saved = True
    except netguard.UnsafeEndpoint:
        saved = False
    tally.check(not saved, f"save-time check accepted {url}")
    try:
        llm.stream_chat(_endpoint(url), [{"role": "user", "content": "hi"}], timeout_seconds=3)
        message = "answered"
    except llm.GenerationError as exc:
        message = exc.message
    tally.check(message == REFUSAL, f"test connection to {url}: {message}")
    client = netguard.guarded_client(timeout=httpx.Timeout(3.0), max_bytes=1024)
    try:
        with client:
            client.get(url)
        outcome = "answered"
    except (netguard.UnsafeEndpoint, httpx.InvalidURL):
        outcome = "refused"
    except httpx.HTTPError as exc:
        outcome = f"connected or tried to ({type(exc).__name__})"
    tally.check(outcome == "refused", f"connect-time guard on {url}: {outcome}")
    if len(reached.accepted) > before:
        tally.through.append(f"{url} reached the listener")


class Redirector(http.server.ThreadingHTTPServer):
    """A real HTTP server answering every request with ``status`` to ``target``."""

    def __init__(self, status: int, target: str) -> None:
        self.status, self.target = status, target
        super().__init__(("127.0.0.1", 0), RedirectHandler)
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


class RedirectHandler(http.server.BaseHTTPRequestHandler):
    server: Redirector

    def _redirect(self) -> None:
        self.send_response(self.server.status)
        self.send_header("Location", self.server.target)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_POST = _redirect

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_no_spelling_of_this_machine_reaches_a_listener(request: pytest.FixtureRequest) -> None:
    tally = Tally("SSRF (address forms × 3 paths)")
    with listeners() as (v4, v6), override_settings(QUORUM_ENDPOINT_ALLOWED_HOSTS=[]):
        urls = list(dict.fromkeys([*spellings(v4.port), *REFUSED]))
        for url in urls:
            attempt(url, tally, v4)
    record(request, tally)
    assert len(loopback_names()) >= 2  # localhost and this machine's name at least
    assert v4.accepted == []
    assert v6.accepted == []
    assert tally.through == [], "\n".join(tally.through)
    assert tally.tried >= 3 * 50


def test_no_redirect_leads_to_this_machine(request: pytest.FixtureRequest) -> None:
    tally = Tally("SSRF (redirects)")
    with listeners() as (v4, v6):
        targets = [
            f"http://127.0.0.1:{v4.port}/v1/chat/completions",
            f"http://[::1]:{v4.port}/v1/chat/completions",
            f"http://2130706433:{v4.port}/v1/chat/completions",
            f"http://localhost:{v4.port}/v1/chat/completions",
            f"http://{socket.gethostname()}:{v4.port}/v1/chat/completions",
            "http://169.254.169.254/latest/meta-data/",
            "http://[fd00::1]/v1",
        ]
        for status in (301, 302, 303, 307, 308):
            for target in targets:
                server = Redirector(status, target)
                try:
                    allowed = [f"127.0.0.1:{server.server_address[1]}"]
                    with override_settings(QUORUM_ENDPOINT_ALLOWED_HOSTS=allowed):
                        report = llm.check_connection(_endpoint(server.url))
                    tally.check(not report.ok, f"{status} to {target} followed")
                finally:
                    server.stop()
    record(request, tally)
    assert v4.accepted == []
    assert v6.accepted == []
    assert tally.through == []
    assert tally.tried == 5 * 7


def test_the_listeners_count_what_reaches_them(request: pytest.FixtureRequest) -> None:
    """The suite can fail: with the operator allowing the listener's address, Test connection
    reaches it — and through a redirect too — and the listener counts it."""
    with listeners() as (v4, _v6):
        url = f"http://127.0.0.1:{v4.port}/v1"
        with override_settings(QUORUM_ENDPOINT_ALLOWED_HOSTS=[f"127.0.0.1:{v4.port}"]):
            tally = Tally("SSRF (allowed on purpose)")
            attempt(url, tally, v4)
            # Saved, Test connection and the client all got through, and the listener saw it.
            assert len(tally.through) == 4, tally.through
            server = Redirector(302, f"{url}/chat/completions")
            try:
                with override_settings(
                    QUORUM_ENDPOINT_ALLOWED_HOSTS=[f"127.0.0.1:{v4.port}", f"127.0.0.1:{server.server_address[1]}"]
                ):
                    llm.check_connection(_endpoint(server.url))
            finally:
                server.stop()
    assert len(v4.accepted) >= 3, v4.accepted
