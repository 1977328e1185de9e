"""Typed helpers for reading configuration from the environment.

Every helper raises ``ImproperlyConfigured`` with the variable's name on a bad value, so a typo in a
deployment fails at start-up instead of at the first request that reads the setting.
"""

from __future__ import annotations

import os
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
