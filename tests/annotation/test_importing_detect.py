"""``--format auto``: detection of each format, the refusal when unsure, and the hint when an
explicit format fails on most lines — through the service, the CLI and the web form (the API:
tests/api/test_items_import_api.py)."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client

from annotation.importing import FormatNotDetected, InvalidImport, import_items
from annotation.importing.detect import classify, detect
from annotation.importing.sources import open_source
from annotation.models import ImportBatch, Item
from projects.models import Stream
from tests.factories import StreamFactory
from tests.projects.web_helpers import project_with_pm

HH = Path(settings.QUORUM_DEMO_DATA_DIR) / "hh_rlhf_harmless_base_test.jsonl.gz"
ALPACA = Path(settings.QUORUM_DEMO_DATA_DIR) / "alpacaeval_gpt4turbo_vs_mixtral.jsonl"

NATIVE = {"id": "n1", "prompt": "Why?", "responses": ["Because.", "No idea."]}
TRL = {"prompt": "Capital of France?", "chosen": "Paris.", "rejected": "Lyon."}
TRL_CONVERSATIONAL = {
    "prompt": [{"role": "user", "content": "Hi"}],
    "chosen": [{"role": "assistant", "content": "Hello!"}],
    "rejected": [{"role": "assistant", "content": "Go away."}],
}
TRL_IMPLICIT_MESSAGES = {
    "chosen": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}],
    "rejected": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Go away."}],
}
TRL_IMPLICIT = {"chosen": "The sky is blue.", "rejected": "The sky is green."}
HH_LINE = {"chosen": "\n\nHuman: Hi\n\nAssistant: Hello!", "rejected": "\n\nHuman: Hi\n\nAssistant: Go away."}
ALPACA_LINE = {"instruction": "Say hi", "output_1": "Hi", "output_2": "Hello", "preference": 1}
OPENAI_CHAT = {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]}


def jsonl(*records: dict[str, Any]) -> bytes:
    return b"".join(json.dumps(r).encode() + b"\n" for r in records)


def numbered(record: dict[str, Any], n: int) -> list[dict[str, Any]]:
    """``n`` distinct copies of ``record`` (their strings end with the copy's number)."""
    out = []
    for i in range(n):
        copy = {k: (f"{v} {i}" if isinstance(v, str) else v) for k, v in record.items()}
        out.append(copy)
    return out


def detected(content: bytes, name: str = "data.jsonl") -> Any:
    with open_source(io.BytesIO(content), name=name) as src:
        return detect(src)


# --- classification, without a database ---------------------------------------------------------


@pytest.mark.parametrize(
    ("record", "shape"),
    [
        (NATIVE, "native"),
        ({"context": [{"role": "user", "content": "Hi"}], "responses": ["a", "b"]}, "native"),
        ({"responses": ["a", "b"], "golden": {"answers": ["A"]}}, "native"),  # prompt missing: still native
        (TRL, "trl"),
        ({**TRL, "score_chosen": 8.0, "messages": []}, "trl"),  # UltraFeedback-style extras
        (TRL_CONVERSATIONAL, "trl"),
        (TRL_IMPLICIT_MESSAGES, "trl_conversational"),
        (TRL_IMPLICIT, "trl_implicit"),
        (HH_LINE, "hh"),
        ({"chosen": "Human: Hi\n\nAssistant: Yo", "rejected": "Human: Hi\n\nAssistant: No"}, "hh"),
        (ALPACA_LINE, "alpacaeval"),
        (OPENAI_CHAT, "openai_chat"),
        ({"question": "Hi", "answer_a": "x", "answer_b": "y"}, ""),
    ],
)
def test_it_classifies_each_format_by_its_keys(record: dict[str, Any], shape: str) -> None:
    assert classify(record) == shape


@pytest.mark.parametrize(
    ("records", "fmt", "label"),
    [
        ([NATIVE], "native", "Quorum's native format"),
        ([TRL], "trl", "TRL preference data (prompt/chosen/rejected)"),
        ([TRL_IMPLICIT_MESSAGES], "trl", "conversational TRL"),
        ([TRL, TRL_IMPLICIT, TRL_CONVERSATIONAL], "trl", "TRL"),  # TRL's shapes mix in one file
        ([HH_LINE], "hh", "HH-RLHF"),
        ([ALPACA_LINE], "mapped", "AlpacaEval"),
    ],
)
def test_it_is_sure_of_a_file_whose_records_agree(records: list[dict[str, Any]], fmt: str, label: str) -> None:
    found = detected(jsonl(*records))
    assert (found.sure, found.format) == (True, fmt)
    assert label in found.label


def test_it_detects_the_demo_files_as_what_they_are() -> None:
    with open_source(HH) as src:
        hh = detect(src)
    with open_source(ALPACA) as src:
        alpaca = detect(src)
    assert (hh.sure, hh.format, hh.sampled, hh.counts) == (True, "hh", 20, {"hh": 20})
    assert (alpaca.sure, alpaca.format, alpaca.shape) == (True, "mapped", "alpacaeval")


def test_it_reads_a_csv_header() -> None:
    alpaca = detected(b"instruction,output_1,output_2\nSay hi,Hi,Hello\n", "pairs.csv")
    assert (alpaca.sure, alpaca.format) == (True, "mapped")
    other = detected(b"question,answer_a,answer_b\nHi,x,y\n", "pairs.csv")
    assert not other.sure
    assert other.hint() == (
        "this file's columns (question, answer_a, answer_b) match no known format; choose format 'mapped' "
        "and map them (e.g. prompt=question, response_1=answer_a, response_2=answer_b)"
    )


def test_it_is_not_sure_when_records_disagree_or_are_mostly_unknown() -> None:
    mixed = detected(jsonl(TRL, TRL, NATIVE))
    assert (mixed.sure, mixed.shape) == (False, "trl")
    assert mixed.unsure_reason() == (
        "The format could not be detected: of the first 3 records, 2 like TRL preference data "
        "(prompt/chosen/rejected), 1 like Quorum's native format (prompt or context, responses). "
        "Mostly, this file looks like TRL preference data (prompt/chosen/rejected); choose format 'trl'."
    )
    unknown = detected(jsonl(TRL, {"a": 1}, {"b": 2}, {"c": 3}))
    assert not unknown.sure
    chat = detected(jsonl(OPENAI_CHAT))
    assert (chat.sure, chat.format) == (False, "")
    assert "OpenAI chat messages" in chat.unsure_reason()
    broken = detected(b"{not json\n")
    assert not broken.sure
    assert "line 1: invalid JSON" in broken.unsure_reason()


# --- through the service ---------------------------------------------------------------------


@pytest.fixture
def stream(db: Any, settings: Any, tmp_path: Path) -> Stream:
    settings.MEDIA_ROOT = tmp_path / "media"
    return StreamFactory.create()


def test_it_imports_with_the_detected_format(stream: Stream) -> None:
    report = import_items(stream=stream, source=io.BytesIO(jsonl(*numbered(TRL, 3))), fmt="auto", filename="t.jsonl")
    assert (report.created, report.format) == (3, "trl")
    assert report.detected == "TRL preference data (prompt/chosen/rejected)"
    batch = ImportBatch.objects.get(pk=report.batch_id or 0)
    assert batch.format == "trl"
    assert batch.report["detected"] == report.detected
    item = Item.objects.get(stream=stream, context__0__content="Capital of France? 0")
    assert item.prior_label is not None
    assert item.prior_label["source"] == "trl:chosen"


def test_it_imports_the_demo_hh_file_detected_as_hh(stream: Stream) -> None:
    report = import_items(stream=stream, source=HH, fmt="auto", on_mismatch="skip")
    assert (report.format, report.created, report.skipped) == ("hh", 2307, 5)


def test_it_refuses_to_guess_and_writes_nothing(stream: Stream) -> None:
    with pytest.raises(FormatNotDetected, match="OpenAI chat messages"):
        import_items(stream=stream, source=io.BytesIO(jsonl(OPENAI_CHAT)), fmt="auto", filename="c.jsonl")
    assert not Item.objects.filter(stream=stream).exists()
    assert not ImportBatch.objects.filter(stream=stream).exists()


def test_it_hints_at_the_format_when_an_explicit_one_fails_on_most_lines(stream: Stream) -> None:
    with pytest.raises(InvalidImport) as info:
        import_items(stream=stream, source=io.BytesIO(jsonl(*numbered(TRL, 21))), fmt="native", filename="t.jsonl")
    report = info.value.report
    assert report.invalid == 21
    assert report.errors[0].message.startswith("unknown field")
    assert report.hint == "this file looks like TRL preference data (prompt/chosen/rejected); choose format 'trl'"
    assert ImportBatch.objects.get(pk=report.batch_id or 0).report["hint"] == report.hint
    assert "hint: this file looks like TRL" in Path(report.report_file).read_text()


def test_it_gives_no_hint_when_most_lines_are_fine(stream: Stream) -> None:
    lines = [*numbered(NATIVE, 3), TRL]
    with pytest.raises(InvalidImport) as info:
        import_items(stream=stream, source=io.BytesIO(jsonl(*lines)), fmt="native", filename="t.jsonl")
    assert (info.value.report.invalid, info.value.report.hint) == (1, "")


def test_it_takes_a_mapping_as_the_mapped_format(stream: Stream) -> None:
    record = {"q": "Hi", "a": "x", "b": "y"}
    report = import_items(
        stream=stream, source=io.BytesIO(jsonl(record)), fmt="auto", mapping="prompt=q,response_1=a,response_2=b"
    )
    assert (report.format, report.created) == ("mapped", 1)


# --- the CLI, the web form and the API ----------------------------------------------------------


def test_the_command_detects_by_default_and_says_what(stream: Stream, tmp_path: Path) -> None:
    path = tmp_path / "pairs.jsonl"
    path.write_bytes(jsonl(*numbered(TRL, 2)))
    out = io.StringIO()
    call_command("import_items", str(path), "--stream", str(stream.pk), stdout=out)
    assert "(format trl, detected: TRL preference data (prompt/chosen/rejected), batch" in out.getvalue()


def test_the_command_puts_the_hint_before_the_errors(stream: Stream, tmp_path: Path) -> None:
    path = tmp_path / "pairs.jsonl"
    path.write_bytes(jsonl(*numbered(TRL, 21)))
    with pytest.raises(CommandError) as info:
        call_command("import_items", str(path), "--stream", str(stream.pk), "--format", "native")
    lines = str(info.value).splitlines()
    assert lines[1] == "Hint: this file looks like TRL preference data (prompt/chosen/rejected); choose format 'trl'."
    assert sum("unknown field" in line for line in lines) == 5  # not 21
    assert "  ... and 16 more" in lines


def test_the_command_names_what_an_undetected_file_looks_like(stream: Stream, tmp_path: Path) -> None:
    path = tmp_path / "chat.jsonl"
    path.write_bytes(jsonl(OPENAI_CHAT))
    with pytest.raises(CommandError, match="looks like OpenAI chat messages"):
        call_command("import_items", str(path), "--stream", str(stream.pk))


@pytest.fixture
def pm_stream(db: Any, client: Client, settings: Any, tmp_path: Path) -> Stream:
    settings.MEDIA_ROOT = tmp_path / "media"
    project, pm = project_with_pm()
    client.force_login(pm)
    return StreamFactory.create(project=project)


def test_the_web_form_detects_by_default(client: Client, pm_stream: Stream) -> None:
    page = client.get(f"/streams/{pm_stream.pk}/").content.decode()
    assert '<option value="auto" selected>Detect from the first lines</option>' in page
    upload = SimpleUploadedFile("hh.jsonl", jsonl(HH_LINE))
    response = client.post(
        f"/streams/{pm_stream.pk}/import/", {"file": upload, "format": "auto", "on_mismatch": "full"}
    )
    assert response.status_code == 302
    batch = ImportBatch.objects.get(stream=pm_stream)
    assert (batch.format, batch.created_count) == ("hh", 1)
    assert "detected: HH-RLHF transcripts" in client.get(response["Location"]).content.decode()


def test_the_web_form_shows_what_the_file_looks_like_when_unsure(client: Client, pm_stream: Stream) -> None:
    upload = SimpleUploadedFile("mixed.jsonl", jsonl(TRL, NATIVE, TRL))
    response = client.post(
        f"/streams/{pm_stream.pk}/import/", {"file": upload, "format": "auto", "on_mismatch": "full"}
    )
    assert response.status_code == 400
    assert "Mostly, this file looks like TRL preference data (prompt/chosen/rejected); choose format" in (
        response.content.decode()
    )
    assert not ImportBatch.objects.filter(stream=pm_stream).exists()


def test_the_batch_page_shows_the_hint(client: Client, pm_stream: Stream) -> None:
    upload = SimpleUploadedFile("pairs.jsonl", jsonl(*numbered(TRL, 21)))
    response = client.post(
        f"/streams/{pm_stream.pk}/import/", {"file": upload, "format": "native", "on_mismatch": "full"}
    )
    page = client.get(response["Location"]).content.decode()
    assert (
        "<strong>Hint:</strong> This file looks like TRL preference data (prompt/chosen/rejected); choose format"
        in (page)
    )
