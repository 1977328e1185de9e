"""Moving models between rooms keeps every row: a database migrated at the three-app layout, with
a row in every model that moved, reaches today's layout with each row readable through today's
models (``tests/migration_check.py``, in a subprocess on an empty database of its own)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent


def _run_check(database_url: str) -> dict[str, object]:
    env = {**os.environ, "DATABASE_URL": database_url, "DJANGO_SETTINGS_MODULE": "quorum.settings"}
    env.pop("QUORUM_ENV", None)
    done = subprocess.run(
        [sys.executable, "-m", "tests.migration_check"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_rooms_move_keeps_every_row_on_sqlite(tmp_path: Path) -> None:
    result = _run_check(f"sqlite:///{tmp_path / 'before.sqlite3'}")
    assert result["vendor"] == "sqlite"
    assert result["problems"] == []


@pytest.mark.postgres
def test_rooms_move_keeps_every_row_on_postgresql() -> None:
    import psycopg

    settings = connection.settings_dict
    server = (
        f"{settings.get('USER') or 'postgres'}@{settings.get('HOST') or '127.0.0.1'}:{settings.get('PORT') or 5432}"
    )
    name = f"quorum_migration_check_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(f"postgresql://{server}/postgres", autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            result = _run_check(f"postgres://{server}/{name}")
            assert result["vendor"] == "postgresql"
            assert result["problems"] == []
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
