"""Configuration: every bad value fails loudly, production settings pass ``check --deploy``.

Settings are read once at import, so each case imports ``quorum.settings`` in a subprocess with a
crafted environment (the caller's own configuration variables removed first).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from typing import Any

import pytest

from tests.processes import BASE_DIR, clean_environ

ENV_EXAMPLE = BASE_DIR / ".env.example"
STRONG_KEY = "q8Vt3nW-x1LrZ0pK9sYb4mHc7dGf2aJe5uNi6oQw0vXy1zTs3kRl8jPg"
# A complete production environment; cases add or remove variables from it.
PRODUCTION = {
    "QUORUM_ENV": "production",
    "SECRET_KEY": STRONG_KEY,
    "ALLOWED_HOSTS": "quorum.example.org",
    "DATABASE_URL": "postgres://quorum:secret@db.example.org:5432/quorum",
    "REDIS_URL": "redis://redis.example.org:6379/0",
}


def _documented_variables() -> list[str]:
    return re.findall(r"^#?([A-Z][A-Z0-9_]+)=", ENV_EXAMPLE.read_text(), flags=re.MULTILINE)


def run_python(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args],
        cwd=BASE_DIR,
        env=clean_environ(**env),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def load_settings(env: dict[str, str], names: list[str]) -> dict[str, Any]:
    code = (
        "import json, quorum.settings as s; "
        f"print(json.dumps({{n: getattr(s, n, None) for n in {names!r}}}, default=str))"
    )
    result = run_python(["-c", code], env)
    assert result.returncode == 0, result.stderr
    values: dict[str, Any] = json.loads(result.stdout.splitlines()[-1])
    return values


def settings_error(env: dict[str, str]) -> str:
    """The ImproperlyConfigured message raised by importing the settings with ``env``."""
    result = run_python(["-c", "import quorum.settings"], env)
    assert result.returncode != 0, f"settings accepted {env}"
    last_line = result.stderr.strip().splitlines()[-1]
    assert last_line.startswith("django.core.exceptions.ImproperlyConfigured: "), result.stderr
    return last_line


BAD_VALUES = [
    ("QUORUM_ENV", {"QUORUM_ENV": "staging"}),
    ("DEBUG", {"DEBUG": "maybe"}),
    ("DEBUG", {**PRODUCTION, "DEBUG": "1"}),
    ("SECRET_KEY", {"DEBUG": "0", "ALLOWED_HOSTS": "x.org", "SECRET_KEY": "too-short"}),
    ("SECRET_KEY", {**PRODUCTION, "SECRET_KEY": "a" * 60}),
    ("SECRET_KEY", {**PRODUCTION, "SECRET_KEY": "django-insecure-" + STRONG_KEY}),
    ("SECRET_KEY_FALLBACKS", {**PRODUCTION, "SECRET_KEY_FALLBACKS": f"{STRONG_KEY},old"}),
    ("ALLOWED_HOSTS", {"ALLOWED_HOSTS": "https://quorum.example.org"}),
    ("ALLOWED_HOSTS", {**PRODUCTION, "ALLOWED_HOSTS": " , "}),
    ("CSRF_TRUSTED_ORIGINS", {"CSRF_TRUSTED_ORIGINS": "quorum.example.org"}),
    ("CSRF_TRUSTED_ORIGINS", {"CSRF_TRUSTED_ORIGINS": "https://quorum.example.org/login/"}),
    ("SITE_URL", {"SITE_URL": "quorum.example.org"}),
    ("SITE_URL", {"SITE_URL": "https://"}),
    ("NUM_PROXIES", {"NUM_PROXIES": "-1"}),
    ("NUM_PROXIES", {"NUM_PROXIES": "one"}),
    ("TRUST_X_FORWARDED_PROTO", {"TRUST_X_FORWARDED_PROTO": "perhaps"}),
    ("USE_X_FORWARDED_HOST", {"USE_X_FORWARDED_HOST": "2"}),
    ("SECURE_SSL_REDIRECT", {"SECURE_SSL_REDIRECT": "sure"}),
    ("SECURE_HSTS_SECONDS", {"SECURE_HSTS_SECONDS": "-1"}),
    ("SECURE_HSTS_PRELOAD", {"SECURE_HSTS_PRELOAD": "y"}),
    ("DATABASE_URL", {"DATABASE_URL": "mysql://u:p@h/db"}),
    ("DATABASE_URL", {"DATABASE_URL": "postgres://db.example.org:5432/"}),
    ("DATABASE_URL", {"DATABASE_URL": "postgres://db.example.org:port/quorum"}),
    ("DATABASE_URL", {"DATABASE_URL": "sqlite://"}),
    ("DB_CONN_MAX_AGE", {"DB_CONN_MAX_AGE": "-5"}),
    ("REDIS_URL", {"REDIS_URL": "http://127.0.0.1:6379/0"}),
    ("CELERY_TASK_ALWAYS_EAGER", {"CELERY_TASK_ALWAYS_EAGER": "0"}),
    ("CELERY_TASK_ALWAYS_EAGER", {"CELERY_TASK_ALWAYS_EAGER": "never"}),
    ("CELERY_TASK_SOFT_TIME_LIMIT", {"CELERY_TASK_SOFT_TIME_LIMIT": "0"}),
    ("LOGIN_RATE_LIMIT", {"LOGIN_RATE_LIMIT": "0"}),
    ("QUORUM_MAX_UPLOAD_BYTES", {"QUORUM_MAX_UPLOAD_BYTES": "10"}),
    ("QUORUM_ASYNC_IMPORT_BYTES", {"QUORUM_ASYNC_IMPORT_BYTES": "2MB"}),
    ("QUORUM_IMPORT_MAX_LINE_BYTES", {"QUORUM_IMPORT_MAX_LINE_BYTES": "10"}),
    ("QUORUM_IMPORT_MAX_DECOMPRESSED_BYTES", {"QUORUM_IMPORT_MAX_DECOMPRESSED_BYTES": "lots"}),
    ("QUORUM_MAX_API_TOKENS_PER_USER", {"QUORUM_MAX_API_TOKENS_PER_USER": "0"}),
    ("QUORUM_ENDPOINT_KEYS", {"QUORUM_ENDPOINT_KEYS": "OPENAI_API_KEY=https://api.openai.com"}),
    ("QUORUM_ENDPOINT_KEYS", {"QUORUM_ENDPOINT_KEYS": "SECRET_KEY=api.openai.com"}),
    ("QUORUM_ENDPOINT_KEYS", {"QUORUM_ENDPOINT_KEYS": "VLLM_API_KEY=vllm.internal:8000@"}),
    ("EMAIL_PORT", {"EMAIL_PORT": "70000"}),
    ("EMAIL_PORT", {"EMAIL_PORT": "smtp"}),
    ("EMAIL_USE_SSL", {"EMAIL_USE_TLS": "1", "EMAIL_USE_SSL": "1"}),
    ("EMAIL_HOST_PASSWORD", {"EMAIL_HOST": "smtp.example.org", "EMAIL_HOST_PASSWORD": "secret"}),
    ("EMAIL_TIMEOUT", {"EMAIL_TIMEOUT": "0"}),
    ("DEFAULT_FROM_EMAIL", {"DEFAULT_FROM_EMAIL": "quorum"}),
    ("SERVER_EMAIL", {"SERVER_EMAIL": "errors"}),
    ("LOG_LEVEL", {"LOG_LEVEL": "verbose"}),
]


@pytest.mark.parametrize(("variable", "env"), BAD_VALUES, ids=[f"{v}-{i}" for i, (v, _) in enumerate(BAD_VALUES)])
def test_it_fails_loudly_on_a_bad_value(variable: str, env: dict[str, str]) -> None:
    assert variable in settings_error(env)


@pytest.mark.parametrize("missing", ["SECRET_KEY", "ALLOWED_HOSTS", "DATABASE_URL", "REDIS_URL"])
def test_it_refuses_production_without_a_required_variable(missing: str) -> None:
    env = {name: value for name, value in PRODUCTION.items() if name != missing}
    assert missing in settings_error(env)


def test_it_requires_a_secret_key_whenever_debug_is_off() -> None:
    assert "SECRET_KEY" in settings_error({"DEBUG": "0", "ALLOWED_HOSTS": "quorum.example.org"})


def test_it_defaults_to_the_embedded_mode() -> None:
    values = load_settings(
        {},
        ["DEBUG", "DATABASES", "CACHES", "CELERY_TASK_ALWAYS_EAGER", "CELERY_BROKER_URL", "EMAIL_BACKEND"],
    )
    assert values["DEBUG"] is True
    assert values["DATABASES"]["default"]["ENGINE"] == "django.db.backends.sqlite3"
    assert values["DATABASES"]["default"]["NAME"] == str(BASE_DIR / "var" / "quorum.sqlite3")
    assert values["CACHES"]["default"]["BACKEND"] == "django.core.cache.backends.locmem.LocMemCache"
    assert values["CELERY_TASK_ALWAYS_EAGER"] is True
    assert values["CELERY_BROKER_URL"] == "memory://"
    assert values["EMAIL_BACKEND"] == "django.core.mail.backends.console.EmailBackend"


@pytest.mark.parametrize(
    ("env", "prepared"),
    [
        ({}, True),
        ({"DB_CONN_MAX_AGE": "0"}, False),  # a statement prepared for one use costs a round trip
        ({"DB_CONN_MAX_AGE": "60", "DB_PREPARED_STATEMENTS": "0"}, False),  # behind an old PgBouncer
    ],
)
def test_it_prepares_the_hot_path_statements_on_reused_connections(env: dict[str, str], prepared: bool) -> None:
    values = load_settings(
        {"DATABASE_URL": "postgres://quorum@127.0.0.1:5432/quorum", **env}, ["DB_PREPARED_STATEMENTS"]
    )
    assert values["DB_PREPARED_STATEMENTS"] is prepared


def test_it_uses_redis_as_broker_and_cache() -> None:
    url = "redis://127.0.0.1:6379/3"
    values = load_settings(
        {"REDIS_URL": url}, ["CACHES", "CELERY_BROKER_URL", "CELERY_RESULT_BACKEND", "CELERY_TASK_ALWAYS_EAGER"]
    )
    assert values["CACHES"]["default"]["BACKEND"] == "django.core.cache.backends.redis.RedisCache"
    assert values["CACHES"]["default"]["LOCATION"] == url
    assert values["CELERY_BROKER_URL"] == url
    assert values["CELERY_RESULT_BACKEND"] == url
    assert values["CELERY_TASK_ALWAYS_EAGER"] is False


def test_it_hardens_production() -> None:
    values = load_settings(
        {**PRODUCTION, "EMAIL_HOST": "smtp.example.org", "EMAIL_HOST_USER": "quorum", "EMAIL_HOST_PASSWORD": "pw"},
        [
            "DEBUG",
            "DATABASES",
            "SECURE_SSL_REDIRECT",
            "SESSION_COOKIE_SECURE",
            "CSRF_COOKIE_SECURE",
            "SECURE_HSTS_SECONDS",
            "SECURE_PROXY_SSL_HEADER",
            "STORAGES",
            "EMAIL_BACKEND",
            "EMAIL_PORT",
            "EMAIL_USE_TLS",
        ],
    )
    assert values["DEBUG"] is False
    assert values["DATABASES"]["default"]["ENGINE"] == "django.db.backends.postgresql"
    assert values["DATABASES"]["default"]["NAME"] == "quorum"
    assert values["SECURE_SSL_REDIRECT"] is True
    assert values["SESSION_COOKIE_SECURE"] is True
    assert values["CSRF_COOKIE_SECURE"] is True
    assert values["SECURE_HSTS_SECONDS"] == 31536000
    # Forwarded headers are not trusted unless a proxy is declared.
    assert values["SECURE_PROXY_SSL_HEADER"] is None
    assert "Manifest" in values["STORAGES"]["staticfiles"]["BACKEND"]
    assert values["EMAIL_BACKEND"] == "django.core.mail.backends.smtp.EmailBackend"
    assert values["EMAIL_PORT"] == 587
    assert values["EMAIL_USE_TLS"] is True


def test_it_trusts_forwarded_headers_only_from_declared_proxies() -> None:
    values = load_settings({**PRODUCTION, "NUM_PROXIES": "1"}, ["SECURE_PROXY_SSL_HEADER", "REST_FRAMEWORK"])
    assert values["SECURE_PROXY_SSL_HEADER"] == ["HTTP_X_FORWARDED_PROTO", "https"]
    assert values["REST_FRAMEWORK"]["NUM_PROXIES"] == 1


def test_it_uses_implicit_tls_on_port_465_when_asked() -> None:
    values = load_settings({"EMAIL_USE_SSL": "1"}, ["EMAIL_USE_SSL", "EMAIL_USE_TLS", "EMAIL_PORT"])
    assert values == {"EMAIL_USE_SSL": True, "EMAIL_USE_TLS": False, "EMAIL_PORT": 465}


def test_it_documents_every_variable_in_env_example() -> None:
    source = (BASE_DIR / "quorum" / "settings.py").read_text()
    read = set(re.findall(r"env_\w+\(\s*\"([A-Z][A-Z0-9_]+)\"", source))
    assert read, "no env_* calls found in settings.py"
    assert read - set(_documented_variables()) == set()


def test_it_accepts_env_example_as_is() -> None:
    values = dict(re.findall(r"^([A-Z][A-Z0-9_]+)=(.*)$", ENV_EXAMPLE.read_text(), flags=re.MULTILINE))
    assert load_settings(values, ["QUORUM_ENV"]) == {"QUORUM_ENV": "development"}


def test_it_passes_check_deploy_with_production_settings() -> None:
    result = run_python(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], PRODUCTION)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_it_fails_check_deploy_when_production_is_weakened() -> None:
    # Proves the check above can fail: HTTPS redirect off is a deployment warning.
    result = run_python(
        ["manage.py", "check", "--deploy", "--fail-level", "WARNING"], {**PRODUCTION, "SECURE_SSL_REDIRECT": "0"}
    )
    assert result.returncode != 0
    assert "security.W008" in result.stdout + result.stderr
