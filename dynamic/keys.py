"""Which model API keys an endpoint may use, and where they may go (``QUORUM_ENDPOINT_KEYS``).

A PM names a key *variable* on an endpoint; the operator decides, in ``QUORUM_ENDPOINT_KEYS``,
which variables exist for endpoints at all, the hosts each may be sent to (``host[:port]``, exact)
and optionally the projects that may use it. A key is sent only when all three hold: the variable
is listed, the endpoint's project may use it, and the request's host is bound to it. This is
checked when an endpoint is saved (``key_problem``), before each call (``dynamic.llm``) and on
every request the HTTP client sends, redirects included (``netguard.GuardedTransport`` drops the
``Authorization`` header on a request to any host the key is not bound to).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings

from quorum.env import EndpointKey


def binding(name: str) -> EndpointKey | None:
    """The operator's binding of key variable ``name``, or None when it is not listed."""
    keys: dict[str, EndpointKey] = getattr(settings, "QUORUM_ENDPOINT_KEYS", {})
    return keys.get(name)


def available_keys(project_slug: str) -> list[EndpointKey]:
    """The key variables the operator made available to this project, by name."""
    keys: dict[str, EndpointKey] = getattr(settings, "QUORUM_ENDPOINT_KEYS", {})
    return sorted((k for k in keys.values() if k.allows_project(project_slug)), key=lambda k: k.name)


def key_problem(name: str, *, project_slug: str, base_url: str) -> str | None:
    """Why key variable ``name`` may not be used by an endpoint of ``project_slug`` at
    ``base_url`` — a message for the PM — or None when it may."""
    if not name:
        return None
    bound = binding(name)
    if bound is None or not bound.allows_project(project_slug):
        offered = ", ".join(k.name for k in available_keys(project_slug)) or "none"
        return (
            f"The operator has not made {name} available to this project (keys available here: {offered}). "
            "Keys are set up in QUORUM_ENDPOINT_KEYS."
        )
    try:
        parts = urlsplit(base_url.strip())
        host, port, scheme = parts.hostname or "", parts.port, parts.scheme
    except ValueError:
        return None  # the URL's own check reports it
    if not bound.allows_host(host, port, scheme):
        return f"{name} may only be sent to {bound.describe_hosts()}; this URL's host is {parts.netloc or '(none)'}."
    return None
