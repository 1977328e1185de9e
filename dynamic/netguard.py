"""The SSRF guard for model endpoints: a PM types a URL, Quorum's servers connect to it.

An endpoint URL must not reach the machines around Quorum: loopback, private (RFC 1918), shared
(CGNAT), link-local (the cloud metadata service at 169.254.169.254), IPv6 unique-local and
site-local, multicast, reserved and unspecified addresses are refused — in every spelling
(``2130706433``, ``0177.0.0.1``, ``0x7f.1``, ``[::ffff:127.0.0.1]``, NAT64, 6to4, Teredo). The
rule is "globally routable or nothing" (``ipaddress``'s ``is_global``), applied to the address an
embedded IPv4 maps to as well.

It is checked twice:

- **when saved** (``check_url``): the host is parsed, or resolved, and every address is checked;
- **at connect time** (``GuardedTransport``): every connection the HTTP client opens — the first
  request and every redirect hop — resolves the host once, checks *every* resolved address, and
  connects to exactly those addresses (no second lookup a DNS-rebinding server could answer
  differently).

An operator can allow hosts that are private on purpose (a vLLM on the same machine) with
``QUORUM_ENDPOINT_ALLOWED_HOSTS``: ``host`` (any port) or ``host:port`` entries, matched against
the URL's host as written, so allowing ``127.0.0.1:8001`` does not allow ``127.0.0.1:5432``.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
from collections.abc import Iterable, Iterator
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

import httpcore2 as httpcore
import httpx2 as httpx
from django.conf import settings

from quorum.env import EndpointKey

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Names that mean "this machine" or a metadata service whatever DNS says about them.
_FORBIDDEN_NAMES = ("localhost", "localhost.localdomain", "metadata.google.internal", "metadata")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


class UnsafeEndpoint(Exception):
    """The URL or the address it resolves to is not allowed. The message is safe to show."""


def _normalise_host(host: str) -> str:
    return host.strip().strip("[]").rstrip(".").lower()


def allowed_hosts() -> list[tuple[str, int | None]]:
    """``QUORUM_ENDPOINT_ALLOWED_HOSTS`` as (host, port or None) pairs."""
    entries: list[tuple[str, int | None]] = []
    for raw in getattr(settings, "QUORUM_ENDPOINT_ALLOWED_HOSTS", []):
        entries.append(parse_allowed_host(raw))
    return entries


def parse_allowed_host(raw: str) -> tuple[str, int | None]:
    """``"127.0.0.1:8001"`` → ("127.0.0.1", 8001); ``"[::1]"`` → ("::1", None); ``"vllm"`` → ("vllm", None)."""
    text = raw.strip()
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    elif text.count(":") == 1:
        host, port = text.split(":")
    else:
        host, port = text, ""
    if not host or (port and not port.isdigit()):
        raise ValueError(f"not a host or host:port: {raw!r}")
    return _normalise_host(host), int(port) if port else None


def is_allowed_host(host: str, port: int) -> bool:
    """Is ``host:port`` on the operator's allow-list (exact host as written in the URL)?"""
    name = _normalise_host(host)
    return any(
        name == allowed and (allowed_port is None or allowed_port == port) for allowed, allowed_port in allowed_hosts()
    )


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    # IPv4-compatible (deprecated ::a.b.c.d): ``::7f00:1`` is 127.0.0.1 to some stacks.
    if int(ip) >> 32 == 0 and int(ip) > 1:
        return ipaddress.IPv4Address(int(ip))
    return None


def address_problem(ip: IPAddress) -> str | None:
    """Why a connection to ``ip`` is refused, or None when it is a public address."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.scope_id:
            return "a scoped (link-local) IPv6 address"
        embedded = _embedded_ipv4(ip)
        if embedded is not None:
            problem = address_problem(embedded)
            return f"{problem} (embedded in an IPv6 address)" if problem else None
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_link_local:
        return "a link-local address (cloud metadata lives there)"
    if ip.is_private:
        return "a private address"
    if ip.is_multicast:
        return "a multicast address"
    if ip.is_unspecified or ip.is_reserved or not ip.is_global:
        return "a reserved or non-public address"
    return None


def _literal_address(host: str) -> IPAddress | None:
    """``host`` as an IP address if it is one in any spelling a resolver accepts: dotted, decimal
    (``2130706433``), octal (``0177.0.0.1``), hex (``0x7f.1``), short (``127.1``), IPv6."""
    name = _normalise_host(host)
    try:
        return ipaddress.ip_address(name.split("%", 1)[0]) if "%" in name else ipaddress.ip_address(name)
    except ValueError:
        pass
    try:
        # inet_aton is the permissive parser C resolvers use: what it accepts, getaddrinfo accepts.
        return ipaddress.IPv4Address(socket.inet_aton(name))
    except OSError:
        return None


def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address ``host`` resolves to (one lookup). Raises ``UnsafeEndpoint`` when it does not."""
    literal = _literal_address(host)
    if literal is not None:
        return [literal]
    try:
        infos = socket.getaddrinfo(_normalise_host(host), port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise UnsafeEndpoint(f"The host name {host!r} does not resolve ({exc}).") from None
    addresses: list[IPAddress] = []
    for _family, _type, _proto, _canon, sockaddr in infos:
        ip = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if ip not in addresses:
            addresses.append(ip)
    if not addresses:
        raise UnsafeEndpoint(f"The host name {host!r} does not resolve.")
    return addresses


def checked_addresses(host: str, port: int) -> list[IPAddress]:
    """The addresses to connect to for ``host:port``: all of them checked, or ``UnsafeEndpoint``.
    An allow-listed host skips the address check (it is resolved all the same)."""
    name = _normalise_host(host)
    if is_allowed_host(name, port):
        return resolve(name, port)
    if name in _FORBIDDEN_NAMES or name.endswith((".localhost", ".internal", ".local")):
        raise UnsafeEndpoint(f"{host!r} names this machine or an internal service; it is not allowed.")
    addresses = resolve(name, port)
    for ip in addresses:
        problem = address_problem(ip)
        if problem:
            raise UnsafeEndpoint(
                f"{host} resolves to {ip}, {problem}. Ask the operator to allow this host "
                "(QUORUM_ENDPOINT_ALLOWED_HOSTS) if it is meant to be reached."
            )
    return addresses


def split_url(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of an endpoint URL; ``UnsafeEndpoint`` for anything but http(s) with a host."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise UnsafeEndpoint(f"Not a valid URL: {exc}.") from None
    if parts.scheme not in ("http", "https"):
        raise UnsafeEndpoint("The URL must start with http:// or https://.")
    if not parts.hostname:
        raise UnsafeEndpoint("The URL has no host.")
    if parts.username or parts.password:
        raise UnsafeEndpoint("Put credentials in an environment variable, not in the URL.")
    return parts.scheme, parts.hostname, port or (443 if parts.scheme == "https" else 80)


def check_url(url: str) -> None:
    """The save-time check: raises ``UnsafeEndpoint`` (with a message for the PM) when ``url``
    is not http(s) or reaches a refused address."""
    _scheme, host, port = split_url(url)
    checked_addresses(host, port)


# --- Connect-time enforcement ------------------------------------------------------------------
class GuardedBackend(httpcore.SyncBackend):
    """httpcore's network backend with the check at the only place a socket is opened."""

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> Any:
        addresses = checked_addresses(host, port)
        last_error: Exception | None = None
        for ip in addresses:
            try:
                # The checked address itself, never the name again: no second DNS answer.
                return super().connect_tcp(str(ip), port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last_error = exc
        assert last_error is not None
        raise last_error


class CappedStream(httpx.SyncByteStream):
    """A response body that raises ``ResponseTooLarge`` past ``limit`` bytes."""

    def __init__(self, stream: httpx.SyncByteStream, limit: int) -> None:
        self._stream = stream
        self._limit = limit

    def __iter__(self) -> Iterator[bytes]:
        seen = 0
        for chunk in self._stream:
            seen += len(chunk)
            if seen > self._limit:
                raise ResponseTooLarge(f"The response was larger than {self._limit} bytes.")
            yield chunk

    def close(self) -> None:
        self._stream.close()


class ResponseTooLarge(Exception):
    pass


@lru_cache(maxsize=1)
def _ssl_context() -> ssl.SSLContext:
    """One TLS context (the CA bundle, no environment) shared by every client: loading the bundle
    takes a third of a second of CPU, too much to pay per request when a judge asks about
    thousands of items. An ``SSLContext`` may be shared between threads once configured."""
    return httpx.create_ssl_context(trust_env=False)


class GuardedTransport(httpx.HTTPTransport):
    """httpx's transport with the guarded backend (no proxy, no environment), a size cap, and the
    key binding: every request — the first and each redirect hop — keeps its ``Authorization``
    header only when its scheme, host and port are bound to ``key`` (``QUORUM_ENDPOINT_KEYS``);
    otherwise the header is dropped before anything is sent. Without a key, no request carries one."""

    def __init__(self, *, max_bytes: int, key: EndpointKey | None = None) -> None:
        super().__init__(verify=_ssl_context(), trust_env=False)
        self._max_bytes = max_bytes
        self._key = key
        self._pool = httpcore.ConnectionPool(
            ssl_context=_ssl_context(),
            max_connections=10,
            max_keepalive_connections=5,
            keepalive_expiry=5.0,
            network_backend=GuardedBackend(),
        )

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.scheme not in ("http", "https"):
            raise UnsafeEndpoint("Only http:// and https:// URLs are allowed.")
        if "authorization" in request.headers and not (
            self._key is not None and self._key.allows_host(request.url.host, request.url.port, request.url.scheme)
        ):
            del request.headers["authorization"]
        response = super().handle_request(request)
        assert isinstance(response.stream, httpx.SyncByteStream)
        response.stream = CappedStream(response.stream, self._max_bytes)
        return response


def guarded_client(
    *, timeout: httpx.Timeout, max_bytes: int, max_redirects: int = 3, key: EndpointKey | None = None
) -> httpx.Client:
    """An HTTP client whose every connection (redirects included) passes the guard, and whose
    requests carry an ``Authorization`` header only to the hosts ``key`` is bound to."""
    return httpx.Client(
        transport=GuardedTransport(max_bytes=max_bytes, key=key),
        timeout=timeout,
        follow_redirects=True,
        max_redirects=max_redirects,
        trust_env=False,
    )
