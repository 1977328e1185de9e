"""``annotation.tasks.run_import``: runs a stored upload once, fails a bad one, retries a lost database."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from celery.exceptions import Retry
from django.db import OperationalError

from annotation import tasks
from annotation.models import ImportBatch, Item
from tests.factories import StreamFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def stored(settings: Any, tmp_path: Path) -> ImportBatch:
    settings.MEDIA_ROOT = tmp_path
    path = tmp_path / "imports" / "upload.jsonl"
    path.parent.mkdir()
    path.write_text(
        "".join(json.dumps({"id": f"q{n}", "prompt": "Q?", "responses": ["a", "b"]}) + "\n" for n in range(3))
    )
    return ImportBatch.objects.create(
        stream=StreamFactory.create(), filename="upload.jsonl", file_path=str(path), format="native"
    )


def test_it_imports_a_pending_batch_once(stored: ImportBatch) -> None:
    assert tasks.run_import.delay(stored.pk).get() == "done"
    stored.refresh_from_db()
    assert (stored.status, stored.created_count) == ("done", 3)
    assert not Path(stored.file_path).exists()
    assert tasks.run_import.delay(stored.pk).get() == "skipped"
    assert Item.objects.filter(stream=stored.stream).count() == 3


def test_it_fails_a_batch_whose_file_is_invalid(stored: ImportBatch) -> None:
    Path(stored.file_path).write_text("{oops\n")
    assert tasks.run_import.delay(stored.pk).get() == "failed"
    stored.refresh_from_db()
    assert stored.invalid_count == 1
    assert stored.report["errors"][0]["line"] == 1


def test_it_fails_a_batch_whose_file_is_gone(stored: ImportBatch) -> None:
    Path(stored.file_path).unlink()
    assert tasks.run_import.delay(stored.pk).get() == "failed"
    stored.refresh_from_db()
    assert "No such file" in stored.report["failure"]


def test_it_retries_when_the_database_is_unreachable(stored: ImportBatch, monkeypatch: pytest.MonkeyPatch) -> None:
    def unreachable(**kwargs: Any) -> None:
        raise OperationalError("server closed the connection")

    monkeypatch.setattr(tasks, "run_batch", unreachable)
    with pytest.raises(Retry):
        tasks.run_import.apply(args=(stored.pk,), throw=True)
    stored.refresh_from_db()
    assert stored.status == "pending"
    assert Path(stored.file_path).exists()  # kept for the retry
