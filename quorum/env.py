"""Typed helpers for reading configuration from the environment.

Every helper raises ``ImproperlyConfigured`` with the variable's name on a bad value, so a typo in a
deployment fails at start-up instead of at the first request that reads the setting.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str | None = None, *, required: bool = False) -> str:
    value = os.environ.get(name)
    if value is None or value == "":
        if required:
            raise ImproperlyConfigured(f"Environment variable {name} is required.")
        return default if default is not None else ""
    return value


def env_bool(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name}={raw!r} is not a boolean (use one of 1/0, true/false, yes/no, on/off).")


def env_int(name: str, default: int, *, minimum: int | None = None, maximum: int | None = None) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not an integer.") from None
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name}={value} is below the minimum {minimum}.")
    if maximum is not None and value > maximum:
        raise ImproperlyConfigured(f"{name}={value} is above the maximum {maximum}.")
    return value


def env_list(name: str, default: list[str] | None = None) -> list[str]:
    """Comma-separated values; blanks around and between commas are ignored."""
    raw = os.environ.get(name)
    if raw is None:
        return list(default or [])
    return [part.strip() for part in raw.split(",") if part.strip()]


def env_choice(name: str, choices: tuple[str, ...], default: str) -> str:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    value = raw.strip().lower()
    if value not in choices:
        raise ImproperlyConfigured(f"{name}={raw!r} must be one of: {', '.join(choices)}.")
    return value


def env_url(name: str, default: str = "", *, schemes: tuple[str, ...], required: bool = False) -> str:
    """A URL whose scheme is one of ``schemes`` (or empty when unset and no default)."""
    raw = env_str(name, default, required=required).strip()
    if raw and raw.split("://", 1)[0].lower() not in schemes:
        raise ImproperlyConfigured(
            f"{name} must be a URL starting with one of: {', '.join(s + '://' for s in schemes)}."
        )
    return raw


def check_hosts(name: str, hosts: list[str]) -> list[str]:
    """Host names for ``ALLOWED_HOSTS``: a URL or a path here is a common mistake that would
    otherwise surface as a 400 on every request."""
    for host in hosts:
        if "://" in host or "/" in host or " " in host:
            raise ImproperlyConfigured(f"{name} takes host names such as example.org, not {host!r}.")
    return hosts


def check_origins(name: str, origins: list[str]) -> list[str]:
    """Origins for ``CSRF_TRUSTED_ORIGINS``: scheme and host, e.g. https://quorum.example.org."""
    for origin in origins:
        parts = urlsplit(origin)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.path not in ("", "/"):
            raise ImproperlyConfigured(f"{name} takes origins such as https://quorum.example.org, not {origin!r}.")
    return origins


# --- Model endpoint keys ------------------------------------------------------------------------
_KEY_NAME = re.compile(r"^[A-Z][A-Z0-9_]*_API_KEY$")
_SLUG = re.compile(r"^[-a-zA-Z0-9_]+$")


@dataclass(frozen=True)
class EndpointKey:
    """A key variable the operator made available to model endpoints. ``hosts`` are the
    (host, port) pairs the key may be sent to — port None means the URL scheme's default port
    (443 for https, 80 for http), nothing else; ``projects`` are the slugs of the projects whose
    endpoints may use it, None for every project."""

    name: str
    hosts: tuple[tuple[str, int | None], ...]
    projects: frozenset[str] | None = None

    def allows_host(self, host: str, port: int | None, scheme: str) -> bool:
        """May the key be sent to ``scheme://host:port``? Exact host as written (lower-cased),
        exact port."""
        default = 443 if scheme == "https" else 80
        effective = port or default
        name = host.strip().strip("[]").rstrip(".").lower()
        return any(name == bound and effective == (bound_port or default) for bound, bound_port in self.hosts)

    def allows_project(self, slug: str) -> bool:
        return self.projects is None or slug in self.projects

    def describe_hosts(self) -> str:
        """``api.openai.com, vllm.internal:8000`` — the hosts as the operator wrote them."""
        return ", ".join((f"[{h}]" if ":" in h else h) + (f":{p}" if p else "") for h, p in self.hosts)


def _parse_key_host(variable: str, key: str, raw: str) -> tuple[str, int | None]:
    text = raw.strip()
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else rest
    elif text.count(":") == 1:
        host, port = text.split(":")
    else:
        host, port = text, ""
    host = host.strip().rstrip(".").lower()
    if not host or "/" in host or " " in host or "@" in host or (port and not port.isdigit()):
        raise ImproperlyConfigured(
            f"{variable}: {key} is bound to {raw!r}, which is not a host or host:port (e.g. api.openai.com or "
            "vllm.internal:8000; no scheme, no path)."
        )
    if port and not 1 <= int(port) <= 65535:
        raise ImproperlyConfigured(f"{variable}: {key} is bound to port {port}, outside 1–65535.")
    return host, int(port) if port else None


def parse_endpoint_keys(variable: str, raw: str) -> dict[str, EndpointKey]:
    """``NAME=host[:port][,host[:port]...][@project-slug[,project-slug...]]`` entries separated by
    ``;``, e.g. ``OPENAI_API_KEY=api.openai.com;VLLM_API_KEY=vllm.internal:8000@research,eval``."""
    keys: dict[str, EndpointKey] = {}
    for entry in (part.strip() for part in raw.split(";")):
        if not entry:
            continue
        name, equals, rest = entry.partition("=")
        name = name.strip()
        if not equals or not _KEY_NAME.match(name):
            raise ImproperlyConfigured(
                f"{variable}: {entry!r} is not NAME=host[:port][,host...][@project,...] with NAME a variable "
                "ending in _API_KEY (capital letters, digits, underscores), e.g. OPENAI_API_KEY=api.openai.com."
            )
        if name in keys:
            raise ImproperlyConfigured(f"{variable}: {name} is listed twice; put all its hosts in one entry.")
        host_part, at, project_part = rest.partition("@")
        hosts = tuple(_parse_key_host(variable, name, h) for h in host_part.split(",") if h.strip())
        if not hosts:
            raise ImproperlyConfigured(f"{variable}: {name} is bound to no host (NAME=host[:port]).")
        projects: frozenset[str] | None = None
        if at:
            slugs = [s.strip() for s in project_part.split(",") if s.strip()]
            bad = [s for s in slugs if not _SLUG.match(s)]
            if not slugs or bad:
                raise ImproperlyConfigured(
                    f"{variable}: {name} names projects {project_part!r}; after @ come project slugs separated by "
                    "commas (e.g. @research,eval)."
                )
            projects = frozenset(slugs)
        keys[name] = EndpointKey(name=name, hosts=hosts, projects=projects)
    return keys


def env_endpoint_keys(name: str) -> dict[str, EndpointKey]:
    """The key variables model endpoints may use and where they may be sent (``parse_endpoint_keys``)."""
    return parse_endpoint_keys(name, os.environ.get(name, ""))
