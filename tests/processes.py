"""Helpers for tests that run Quorum in subprocesses (settings, check --deploy, gunicorn, Celery)."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path
from typing import Any

BASE_DIR = Path(__file__).resolve().parent.parent
# What a subprocess inherits from the test process: enough to run Python and reach PostgreSQL,
# nothing that configures Django. Everything else (DATABASE_URL, DJANGO_SETTINGS_MODULE, a
# DJANGO_ALLOW_ASYNC_UNSAFE set by browser tests...) would make the result depend on the caller.
_INHERITED = ("PATH", "HOME", "USER", "LOGNAME", "LANG", "TZ", "TMPDIR", "TEMP", "TMP", "SYSTEMROOT")
_INHERITED_PREFIXES = ("LC_", "PG")


def clean_environ(**overrides: str) -> dict[str, str]:
    """A minimal environment plus ``overrides``: the subprocess sees exactly the configuration it
    is given."""
    env = {
        name: value for name, value in os.environ.items() if name in _INHERITED or name.startswith(_INHERITED_PREFIXES)
    }
    env.update(overrides)
    return env


def stop(process: subprocess.Popen[Any], timeout: float = 15.0) -> None:
    """SIGTERM (a graceful stop for gunicorn and Celery), then SIGKILL if it does not exit."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)


def tail(path: Path, lines: int = 40) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""
