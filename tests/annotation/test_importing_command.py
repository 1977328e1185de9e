"""``manage.py import_items``: what it prints and how it fails."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connections

from annotation.management.commands.import_items import Command
from annotation.models import Item
from tests.factories import ProjectFactory, StreamFactory

pytestmark = pytest.mark.django_db

HH = Path(settings.QUORUM_DEMO_DATA_DIR) / "hh_rlhf_harmless_base_test.jsonl.gz"
ALPACA = Path(settings.QUORUM_DEMO_DATA_DIR) / "alpacaeval_gpt4turbo_vs_mixtral.jsonl"


@pytest.fixture(autouse=True)
def _media(settings: Any, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("import_items", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def exit_code(monkeypatch: pytest.MonkeyPatch) -> Callable[..., tuple[int, str]]:
    """What the shell sees: manage.py turns a CommandError into exit status 1 and a message."""
    # run_from_argv closes every connection when it ends; the test's must stay open.
    monkeypatch.setattr(connections, "close_all", lambda: None)

    def run_argv(*args: str) -> tuple[int, str]:
        err = io.StringIO()
        command = Command(stdout=io.StringIO(), stderr=err)
        with pytest.raises(SystemExit) as info:
            command.run_from_argv(["manage.py", "import_items", *args])
        return int(info.value.code or 0), err.getvalue()

    return run_argv


def test_it_imports_hh_and_prints_counts_and_mismatched_lines() -> None:
    stream = StreamFactory.create(slug="harmless")
    out = run("--stream", "harmless", str(HH), "--format", "hh", "--on-mismatch", "skip")
    assert f"into {stream.project.slug}/harmless (format hh" in out
    assert "2,312 lines" in out
    assert "  created      2,307" in out
    assert "  skipped          5  (mismatched pairs, --on-mismatch skip)" in out
    assert "left out: lines 1255, 1689, 1951, 1953, 2037" in out
    assert 'line 87, field "chosen": the last assistant turn is empty' in out


def test_it_imports_alpaca_eval_by_stream_id_with_the_preset() -> None:
    stream = StreamFactory.create()
    out = run("--stream", str(stream.pk), str(ALPACA), "--format", "mapped")
    assert "preset alpacaeval" in out
    assert "  created        805" in out
    again = run("--stream", str(stream.pk), str(ALPACA), "--format", "mapped")
    assert "  unchanged      805" in again
    assert Item.objects.filter(stream=stream).count() == 805


def test_it_takes_a_mapping_and_a_project_qualified_slug(tmp_path: Path) -> None:
    stream = StreamFactory.create(slug="qa")
    StreamFactory.create(slug="qa")  # same slug in another project
    path = tmp_path / "qa.jsonl"
    path.write_text(json.dumps({"q": "Why?", "a": "Because.", "b": "No."}) + "\n")
    out = run(
        "--stream",
        f"{stream.project.slug}/qa",
        str(path),
        "--format",
        "mapped",
        "--map",
        "prompt=q",
        "--map",
        "response_1=a,response_2=b",
    )
    assert "  created          1" in out
    assert Item.objects.get(stream=stream).metadata == {}


def test_it_fails_with_every_error_and_imports_nothing(tmp_path: Path, exit_code: Callable[..., Any]) -> None:
    stream = StreamFactory.create()
    path = tmp_path / "bad.jsonl"
    path.write_text('{"prompt": "Q", "responses": ["a", "b"]}\n{"prompt": "Q", "responses": ["a"]}\n{"prompt": 1}\n')
    code, err = exit_code("--stream", str(stream.pk), str(path))
    assert code == 1
    assert (
        "Nothing imported: 2 invalid lines in bad.jsonl (all-or-nothing; --skip-invalid imports the valid lines)."
        in err
    )
    assert 'line 2, field "responses": must have at least 2 responses, not 1' in err
    assert 'line 3, field "prompt": must be a non-empty string, not a number' in err
    assert "Report: " in err
    assert not Item.objects.filter(stream=stream).exists()


def test_it_skips_invalid_lines_when_asked(tmp_path: Path) -> None:
    stream = StreamFactory.create()
    path = tmp_path / "bad.jsonl"
    path.write_text('{"prompt": "Q", "responses": ["a", "b"]}\n{"prompt": "Q", "responses": ["a"]}\n')
    out = run("--stream", str(stream.pk), str(path), "--skip-invalid")
    assert "  created          1" in out
    assert "  invalid          1  (not imported)" in out
    report = out.split("Report: ")[1].strip()
    assert 'line 2, field "responses"' in Path(report).read_text()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--stream", "nope", "x.jsonl"], "No stream with id or slug 'nope'"),
        (["--stream", "shared", "x.jsonl"], "The slug 'shared' is ambiguous"),
        (["--stream", "other/shared", "x.jsonl"], "No stream 'shared' in a project 'other'"),
        (["--stream", "solo", "/no/such/file.jsonl"], "No such file: /no/such/file.jsonl"),
        (["--stream", "solo", "{file}", "--format", "native", "--map", "prompt=q"], "mapped format only"),
        (["--stream", "solo", "{file}", "--format", "mapped", "--map", "prompt"], "target=source"),
        (["--stream", "solo", "{file}", "--format", "mapped"], "needs a mapping"),
    ],
)
def test_it_exits_non_zero_on_bad_input(
    tmp_path: Path, exit_code: Callable[..., Any], args: list[str], message: str
) -> None:
    StreamFactory.create(slug="shared")
    StreamFactory.create(slug="shared", project=ProjectFactory.create())
    StreamFactory.create(slug="solo")
    path = tmp_path / "x.jsonl"
    path.write_text('{"question": "Q"}\n')
    code, err = exit_code(*(a.replace("{file}", str(path)) for a in args))
    assert code == 1
    assert message in err


def test_it_refuses_an_unknown_format() -> None:
    with pytest.raises(CommandError, match="invalid choice: 'csv'"):
        run("--stream", "x", "f", "--format", "csv")
