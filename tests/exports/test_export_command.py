from __future__ import annotations

import json
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from exports.models import Export
from tests.factories import StreamFactory
from tests.qc.helpers import judged_item, read_jsonl

pytestmark = pytest.mark.django_db


def test_it_writes_files_and_prints_the_manifest(tmp_path: Path) -> None:
    stream = StreamFactory.create()
    judged_item(stream, ["A", "A"])
    judged_item(stream, ["B", "B"])
    out = StringIO()
    call_command(
        "export_preferences",
        "--stream", f"{stream.project.slug}/{stream.slug}",
        "--format", "trl-conversational",
        "--aggregate", "unanimous",
        "--min-judgements", "2",
        "--out", str(tmp_path / "out"),
        stdout=out,
    )  # fmt: skip
    manifest = json.loads(out.getvalue())
    assert manifest["counts"]["pairs"]["kept"] == 2
    assert len(read_jsonl(tmp_path / "out" / "train.jsonl")) == 2
    assert (tmp_path / "out" / "manifest.json").exists()
    export = Export.objects.get(pk=manifest["export_id"])
    assert export.status == Export.Status.DONE
    assert export.project == stream.project


def test_it_continues_from_a_previous_export(tmp_path: Path) -> None:
    stream = StreamFactory.create()
    judged_item(stream, ["A"])
    out = StringIO()
    call_command("export_preferences", "--stream", str(stream.pk), "--out", str(tmp_path / "1"), stdout=out)
    first = json.loads(out.getvalue())["export_id"]
    judged_item(stream, ["B"])
    out = StringIO()
    call_command(
        "export_preferences", "--stream", stream.slug, "--since-export", str(first), "--out", str(tmp_path / "2"),
        stdout=out,
    )  # fmt: skip
    assert json.loads(out.getvalue())["counts"]["items"]["exported"] == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--stream", "nope"], "No stream 'nope'"),
        (["--stream", "{slug}", "--since-export", "424242"], "No export 424242"),
        (["--stream", "{slug}", "--min-judgements", "0"], "min_judgements"),
        (["--stream", "{slug}", "--stream", "{other}"], "one project"),
    ],
)
def test_it_fails_clearly_on_bad_input(tmp_path: Path, args: list[str], message: str) -> None:
    stream = StreamFactory.create()
    other = StreamFactory.create()
    args = [a.format(slug=stream.slug, other=other.slug) for a in args]
    with pytest.raises(CommandError, match=message):
        call_command("export_preferences", *args, "--out", str(tmp_path))


def test_it_refuses_an_unknown_format(tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="invalid choice"):
        call_command("export_preferences", "--stream", "x", "--format", "csv", "--out", str(tmp_path))


@pytest.mark.parametrize(
    ("args", "files"),
    [
        (["--format", "openrlhf", "--no-confidence"], {"train.jsonl"}),
        (["--format", "llama-factory", "--test-fraction", "0.5"], {"train.jsonl", "test.jsonl", "dataset_info.json"}),
        (["--format", "rewardbench", "--test-fraction", "0.9", "--seed", "4"], {"test.jsonl"}),
        (["--format", "helpsteer"], {"train.jsonl"}),
        (["--format", "safe-rlhf", "--licence", "internal use only"], {"train.jsonl"}),
        (["--format", "kto", "--ties", "both-orders", "--file-format", "parquet"], {"train.parquet"}),
    ],
    ids=lambda v: "_".join(v[:2]) if isinstance(v, list) else "",
)
def test_it_writes_every_format_with_its_card(tmp_path: Path, args: list[str], files: set[str]) -> None:
    stream = StreamFactory.create()
    for _ in range(4):
        judged_item(stream, ["B", "B", "A"])
    out = StringIO()
    call_command("export_preferences", "--stream", str(stream.pk), *args, "--out", str(tmp_path), stdout=out)
    manifest = json.loads(out.getvalue())
    written = {p.name for p in tmp_path.iterdir()}
    assert written == files | {"README.md", "manifest.json", "exported-items.bin"}
    assert manifest["format"] == args[1]
    assert f"({args[1]})" in (tmp_path / "README.md").read_text(encoding="utf-8")
