"""The import service: real files, formats end to end, validation, re-import, the batch record."""

from __future__ import annotations

import gzip
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.db import connection, connections

from annotation.importing import ImportOptionsError, InvalidImport, import_items
from annotation.importing import service as import_service
from annotation.importing import writer as import_writer
from annotation.models import ImportBatch, Item
from projects.models import Stream
from tests.factories import StreamFactory

pytestmark = pytest.mark.django_db

HH_MISMATCHES = [1255, 1689, 1951, 1953, 2037]


def data_file(name: str) -> Path:
    return Path(settings.QUORUM_DEMO_DATA_DIR) / name


def write_jsonl(path: Path, records: list[Any]) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records), encoding="utf-8")
    return path


def prior(item: Item) -> dict[str, Any]:
    assert item.prior_label is not None
    return dict(item.prior_label)


def native(n: int, **fields: Any) -> dict[str, Any]:
    return {"id": f"q{n}", "prompt": f"Question {n}?", "responses": [f"Short {n}.", f"Longer answer {n}."], **fields}


@pytest.fixture(autouse=True)
def _media(settings: Any, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture(params=["default", "portable"])
def writer_kind(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Runs a test through the database's own writer (COPY on PostgreSQL) and through the ORM one
    that SQLite uses."""
    if request.param == "portable":
        monkeypatch.setattr(import_service, "writer_for", import_writer.PortableWriter)
    return str(request.param)


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(import_service.CHUNK_ROWS, connection.vendor, 3)
    monkeypatch.setattr(import_service, "DEFAULT_CHUNK_ROWS", 3)


# --- The two real files -------------------------------------------------------------------------


def test_it_imports_the_alpaca_eval_file_as_it_is() -> None:
    stream = StreamFactory.create()
    report = import_items(stream=stream, source=data_file("alpacaeval_gpt4turbo_vs_mixtral.jsonl"), fmt="mapped")
    assert (report.created, report.invalid, report.preset) == (805, 0, "alpacaeval")
    items = Item.objects.filter(stream=stream)
    assert items.count() == 805
    assert Counter(i.metadata["dataset"] for i in items) == {
        "selfinstruct": 252,
        "oasst": 188,
        "koala": 156,
        "helpful_base": 129,
        "vicuna": 80,
    }
    # The judge's verdicts are kept as prior labels: 621 for gpt-4 turbo, 183 for Mixtral, 1 tie.
    preferred: Counter[str] = Counter()
    for item in items:
        choice = prior(item)["choice"]
        preferred["tie" if choice == "tie" else item.responses["AB".index(choice)]["model"]] += 1
    assert preferred == {"gpt4_1106_preview": 621, "Mixtral-8x7B-Instruct-v0.1": 183, "tie": 1}
    assert items.first().context[0]["role"] == "user"


def test_it_imports_the_hh_file_with_mismatched_pairs_whole() -> None:
    stream = StreamFactory.create()
    report = import_items(stream=stream, source=data_file("hh_rlhf_harmless_base_test.jsonl.gz"), fmt="hh")
    assert (report.lines_read, report.created, report.skipped, report.invalid) == (2312, 2312, 0, 0)
    assert report.mismatches == HH_MISMATCHES
    whole = Item.objects.filter(stream=stream, metadata__transcript_mismatch=True)
    assert whole.count() == 5
    assert all(i.context == [] and i.responses[0]["text"].startswith("Human:") for i in whole)
    assert report.warning_count == 4  # four chosen answers are empty: kept, reported


def test_it_skips_mismatched_hh_pairs_when_asked() -> None:
    stream = StreamFactory.create()
    path = data_file("hh_rlhf_harmless_base_test.jsonl.gz")
    report = import_items(stream=stream, source=path, fmt="hh", on_mismatch="skip")
    assert (report.created, report.skipped, report.mismatches) == (2307, 5, HH_MISMATCHES)
    assert Item.objects.filter(stream=stream).count() == 2307
    item = Item.objects.filter(stream=stream).exclude(context=[]).first()
    assert item is not None
    assert item.context[-1]["role"] == "user"
    assert prior(item)["source"] == "hh:chosen"


def test_it_does_not_reveal_the_chosen_answer_by_its_position() -> None:
    stream = StreamFactory.create()
    import_items(stream=stream, source=data_file("hh_rlhf_harmless_base_test.jsonl.gz"), fmt="hh", on_mismatch="skip")
    at_a = Item.objects.filter(stream=stream, prior_label__choice="A").count()
    # Binomial(2307, 0.5): the standard deviation is 24; this allows more than 4 of them.
    assert abs(at_a - 2307 / 2) < 100, at_a


def test_it_records_the_batch() -> None:
    stream = StreamFactory.create()
    path = data_file("hh_rlhf_harmless_base_test.jsonl.gz")
    report = import_items(stream=stream, source=path, fmt="hh", on_mismatch="skip")
    batch = ImportBatch.objects.get(pk=report.batch_id or 0)
    assert batch.status == ImportBatch.Status.DONE
    assert (batch.lines_read, batch.created_count, batch.invalid_count) == (2312, 2307, 0)
    assert batch.total_bytes == batch.bytes_read == path.stat().st_size
    assert batch.options == {"mapping": {}, "skip_invalid": False, "on_mismatch": "skip"}
    assert batch.report["mismatches"] == HH_MISMATCHES
    assert batch.report["skipped"] == 5
    assert batch.finished_at is not None
    assert Item.objects.filter(import_batch=batch).count() == 2307


# --- Formats end to end -------------------------------------------------------------------------


def test_it_imports_native_jsonl_with_golden_answers(tmp_path: Path) -> None:
    stream = StreamFactory.create()
    path = write_jsonl(
        tmp_path / "items.jsonl",
        [
            native(1, golden={"answers": ["A"], "explanation": "Shorter is right.", "harmful": True}, priority=5),
            native(2, metadata={"topic": "x"}),
        ],
    )
    report = import_items(stream=stream, source=path)
    assert report.created == 2
    golden = Item.objects.get(stream=stream, external_id="q1")
    assert (golden.is_golden, golden.golden_harmful, golden.priority) == (True, True, 5)
    assert golden.golden_explanation == "Shorter is right."
    answer = golden.golden_answers[0]
    assert golden.responses["AB".index(answer)]["text"] == "Short 1."
    assert Item.objects.get(stream=stream, external_id="q2").metadata == {"topic": "x"}


@pytest.mark.parametrize(
    ("record", "context", "chosen"),
    [
        ({"prompt": "Capital of France?", "chosen": "Paris.", "rejected": "Lyon."}, "Capital of France?", "Paris."),
        (
            {
                "prompt": [{"role": "user", "content": "Capital of France?"}],
                "chosen": [{"role": "assistant", "content": "Paris."}],
                "rejected": [{"role": "assistant", "content": "Lyon."}],
            },
            "Capital of France?",
            "Paris.",
        ),
        ({"chosen": "The capital is Paris.", "rejected": "The capital is Lyon."}, "The capital is", " Paris."),
        (
            {
                "chosen": [{"role": "user", "content": "Capital?"}, {"role": "assistant", "content": "Paris."}],
                "rejected": [{"role": "user", "content": "Capital?"}, {"role": "assistant", "content": "Lyon."}],
            },
            "Capital?",
            "Paris.",
        ),
    ],
    ids=["standard", "conversational", "implicit-strings", "implicit-messages"],
)
def test_it_imports_trl_preference_data(tmp_path: Path, record: dict[str, Any], context: str, chosen: str) -> None:
    stream = StreamFactory.create()
    report = import_items(stream=stream, source=write_jsonl(tmp_path / "trl.jsonl", [record]), fmt="trl")
    assert report.created == 1
    item = Item.objects.get(stream=stream)
    assert item.context[-1] == {"role": "user", "content": context}
    assert item.responses["AB".index(prior(item)["choice"])]["text"] == chosen
    assert prior(item)["source"] == "trl:chosen"


def test_it_imports_a_mapped_csv(tmp_path: Path) -> None:
    stream = StreamFactory.create()
    path = tmp_path / "pairs.csv"
    path.write_text(
        'qid,question,a,b,winner,lang\nr1,"What is 2+2?","4","5",1,en\nr2,"Quote:\n""hi""","Fine.","Bad.",B,de\n',
        encoding="utf-8",
    )
    mapping = ["id=qid", "prompt=question", "response_1=a", "response_2=b", "prior=winner"]
    report = import_items(stream=stream, source=path, fmt="mapped", mapping=mapping)
    assert report.created == 2
    second = Item.objects.get(stream=stream, external_id="r2")
    assert second.context == [{"role": "user", "content": 'Quote:\n"hi"'}]
    assert second.metadata == {"lang": "de"}
    assert second.responses["AB".index(prior(second)["choice"])]["text"] == "Bad."


def test_it_reads_gzip_whatever_the_file_is_called(tmp_path: Path) -> None:
    stream = StreamFactory.create()
    path = tmp_path / "items.jsonl"
    path.write_bytes(gzip.compress(b"".join(json.dumps(native(n)).encode() + b"\n" for n in range(3))))
    assert import_items(stream=stream, source=path).created == 3


def test_it_takes_more_than_two_responses_in_a_ranking_stream_only(tmp_path: Path) -> None:
    record = native(1, responses=["a", "b", "c"])
    ranking = StreamFactory.create(task_kind=Stream.TaskKind.RANKING)
    assert import_items(stream=ranking, source=write_jsonl(tmp_path / "r.jsonl", [record])).created == 1
    assert Item.objects.get(stream=ranking).num_responses == 3
    with pytest.raises(InvalidImport) as info:
        import_items(stream=StreamFactory.create(), source=tmp_path / "r.jsonl")
    assert (
        str(info.value.report.errors[0])
        == 'line 1, field "responses": this stream is pairwise: exactly 2 responses, not 3'
    )


def test_it_refuses_bad_options_before_reading() -> None:
    stream = StreamFactory.create()
    with pytest.raises(ImportOptionsError, match="Unknown format"):
        import_items(stream=stream, source="/nonexistent", fmt="csv")
    with pytest.raises(ImportOptionsError, match="mapped format only"):
        import_items(stream=stream, source="/nonexistent", fmt="native", mapping=["prompt=q"])
    with pytest.raises(FileNotFoundError):
        import_items(stream=stream, source="/nonexistent/file.jsonl")
    assert not ImportBatch.objects.exists()


# --- Validation ---------------------------------------------------------------------------------

BROKEN = [
    native(1),
    '{"id": "q2", "prompt": "Q", "responses": ["a", ""]}',
    native(3),
    '{"id": "q4", "prompt": "Q", "responses": ["a", "b"],}',
    native(5, responses=["only one"]),
    native(1),
    '{"id": "q7", "prompt": "Q\\u0000", "responses": ["a", "b"]}',
    '{"id": "q8", "prompt": "Q", "responses": ["a", {"text": "\\ud800"}]}',
    native(9),
]
BROKEN_ERRORS = [
    'line 2, field "responses[1]": must be a non-empty string',
    "line 4: invalid JSON: ",
    'line 5, field "responses": must have at least 2 responses, not 1',
    "line 6, field \"id\": duplicate id 'q1': already used on line 1",
    'line 7, field "prompt": contains a NUL character (\\u0000)',
    'line 8, field "responses[1].text": contains a lone surrogate',
]


def test_it_imports_nothing_from_a_broken_file_and_names_lines_and_fields(tmp_path: Path, small_chunks: None) -> None:
    stream = StreamFactory.create()
    with pytest.raises(InvalidImport) as info:
        import_items(stream=stream, source=write_jsonl(tmp_path / "broken.jsonl", BROKEN))
    report = info.value.report
    assert report.invalid == 6
    messages = [str(e) for e in report.errors]
    assert len(messages) == len(BROKEN_ERRORS)
    for message, expected in zip(messages, BROKEN_ERRORS, strict=True):
        assert message.startswith(expected), message
    assert str(info.value) == "Nothing imported: 6 invalid lines."
    assert not Item.objects.filter(stream=stream).exists()  # chunks before the errors were rolled back
    batch = ImportBatch.objects.get(pk=report.batch_id or 0)
    assert (batch.status, batch.invalid_count, batch.created_count) == ("failed", 6, 0)
    assert Path(report.report_file).read_text().count("\nline ") == 6


def test_it_imports_the_valid_lines_with_skip_invalid_and_writes_a_report(tmp_path: Path, small_chunks: None) -> None:
    stream = StreamFactory.create()
    report = import_items(stream=stream, source=write_jsonl(tmp_path / "broken.jsonl", BROKEN), skip_invalid=True)
    assert (report.created, report.invalid, report.status) == (3, 6, "done")
    assert sorted(Item.objects.filter(stream=stream).values_list("external_id", flat=True)) == ["q1", "q3", "q9"]
    text = Path(report.report_file).read_text()
    assert "3 created, 0 updated, 0 unchanged, 0 skipped, 6 invalid" in text
    assert 'line 7, field "prompt": contains a NUL character' in text


def test_it_stops_reading_an_all_or_nothing_import_after_100_errors(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "bad.jsonl", ["{"] * 150)
    with pytest.raises(InvalidImport) as info:
        import_items(stream=StreamFactory.create(), source=path)
    assert (info.value.report.invalid, info.value.report.stopped_at) == (100, 100)
    assert info.value.report.error_lines(3)[-1] == "... reading stopped at line 100"


def test_it_rolls_back_and_fails_the_batch_on_an_unexpected_error(
    tmp_path: Path, small_chunks: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    stream = StreamFactory.create()
    real = import_service.finalise

    def explode(draft: Any, *, line: int) -> Any:
        if line == 8:
            raise RuntimeError("disk on fire")
        return real(draft, line=line)

    monkeypatch.setattr(import_service, "finalise", explode)
    with pytest.raises(RuntimeError):
        import_items(stream=stream, source=write_jsonl(tmp_path / "ok.jsonl", [native(n) for n in range(10)]))
    assert not Item.objects.filter(stream=stream).exists()
    batch = ImportBatch.objects.get(stream=stream)
    assert (batch.status, batch.report["failure"]) == ("failed", "disk on fire")
    # The connection is usable after an aborted COPY.
    monkeypatch.undo()
    assert import_items(stream=stream, source=tmp_path / "ok.jsonl").created == 10


# --- Re-import ----------------------------------------------------------------------------------


def test_it_reimports_idempotently_and_updates_changed_items(
    tmp_path: Path, writer_kind: str, small_chunks: None
) -> None:
    stream = StreamFactory.create()
    path = tmp_path / "items.jsonl"
    write_jsonl(path, [native(n) for n in range(7)])
    assert import_items(stream=stream, source=path).created == 7
    again = import_items(stream=stream, source=path)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 7)

    changed = [native(n) for n in range(7)]
    changed[2]["responses"] = ["Short 2.", "A corrected answer."]
    changed[5]["metadata"] = {"reviewed": True}
    write_jsonl(path, [*changed, native(7)])
    report = import_items(stream=stream, source=path)
    assert (report.created, report.updated, report.unchanged) == (1, 2, 5)
    assert Item.objects.filter(stream=stream).count() == 8
    item = Item.objects.get(stream=stream, external_id="q2")
    assert {r["text"] for r in item.responses} == {"Short 2.", "A corrected answer."}
    assert item.import_batch_id == report.batch_id
    assert Item.objects.get(stream=stream, external_id="q0").import_batch_id != report.batch_id


def test_it_reimports_a_file_without_ids_idempotently(writer_kind: str) -> None:
    stream = StreamFactory.create()
    path = data_file("alpacaeval_gpt4turbo_vs_mixtral.jsonl")
    import_items(stream=stream, source=path, fmt="mapped")
    report = import_items(stream=stream, source=path, fmt="mapped")
    assert (report.created, report.updated, report.unchanged) == (0, 0, 805)


def test_it_keeps_a_pms_golden_answer_when_the_file_has_none(tmp_path: Path, writer_kind: str) -> None:
    stream = StreamFactory.create()
    path = write_jsonl(tmp_path / "items.jsonl", [native(1)])
    import_items(stream=stream, source=path)
    Item.objects.filter(stream=stream).update(is_golden=True, golden_answers=["A"])
    write_jsonl(path, [native(1, metadata={"v": 2})])
    assert import_items(stream=stream, source=path).updated == 1
    item = Item.objects.get(stream=stream)
    assert (item.is_golden, item.golden_answers, item.metadata) == (True, ["A"], {"v": 2})


def test_it_protects_the_responses_of_items_being_annotated(tmp_path: Path, writer_kind: str) -> None:
    stream = StreamFactory.create()
    path = write_jsonl(tmp_path / "items.jsonl", [native(1), native(2)])
    import_items(stream=stream, source=path)
    Item.objects.filter(stream=stream).update(claim_count=1)
    write_jsonl(path, [native(1, responses=["New.", "Other."]), native(2, metadata={"k": 1})])
    report = import_items(stream=stream, source=path)
    assert (report.updated, report.unchanged, report.protected, report.protected_lines) == (1, 0, 1, [1])
    assert {r["text"] for r in Item.objects.get(external_id="q1").responses} == {"Short 1.", "Longer answer 1."}
    assert Item.objects.get(external_id="q2").metadata == {"k": 1}
    assert "already being annotated" in str(report.warnings[0])


# --- Progress -----------------------------------------------------------------------------------


def test_it_reports_progress(tmp_path: Path, small_chunks: None) -> None:
    calls: list[tuple[int, int, int]] = []
    path = write_jsonl(tmp_path / "items.jsonl", [native(n) for n in range(7)])
    import_items(stream=StreamFactory.create(), source=path, progress=lambda *args: calls.append(args))
    assert [c[2] for c in calls] == [3, 6, 7]
    assert calls[-1][:2] == (path.stat().st_size, path.stat().st_size)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_it_shows_progress_to_other_connections_while_it_runs(tmp_path: Path, small_chunks: None) -> None:
    stream = StreamFactory.create()
    seen: list[int] = []
    watcher = connections.create_connection("default")

    def watch(bytes_read: int, total: int, lines: int) -> None:
        with watcher.cursor() as cursor:
            cursor.execute("SELECT lines_read FROM projects_importbatch WHERE stream_id = %s", [stream.pk])
            seen.append(cursor.fetchone()[0])

    try:
        path = write_jsonl(tmp_path / "items.jsonl", [native(n) for n in range(7)])
        import_items(stream=stream, source=path, progress=watch)
    finally:
        watcher.close()
    assert seen == [3, 6, 7]
