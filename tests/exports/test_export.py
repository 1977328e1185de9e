from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.utils import timezone

from annotation import services as annotation_services
from annotation.models import Judgement
from exports import services as exporting
from exports.models import Export
from projects.models import StreamMembership
from qc.models import Review
from tests.factories import ItemFactory, JudgementFactory, StreamFactory, StreamMembershipFactory, UserFactory
from tests.qc.helpers import judge, judged_item, read_jsonl

pytestmark = pytest.mark.django_db


def _export(tmp_path: Path, stream_ids: list[int], **spec: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    manifest = exporting.write_export(exporting.ExportSpec(stream_ids=tuple(stream_ids), **spec), tmp_path)
    return manifest, read_jsonl(tmp_path / "train.jsonl")


def test_it_exports_majority_pairs_in_trl_format(tmp_path: Path) -> None:
    stream = StreamFactory.create()
    a_wins = judged_item(stream, ["A", "A", "B"])
    b_wins = judged_item(stream, ["B", "B", "A"])
    manifest, rows = _export(tmp_path, [stream.pk], confidence=False, margin=False)
    assert rows == [
        {
            "prompt": a_wins.context[0]["content"],
            "chosen": a_wins.responses[0]["text"],
            "rejected": a_wins.responses[1]["text"],
        },
        {
            "prompt": b_wins.context[0]["content"],
            "chosen": b_wins.responses[1]["text"],
            "rejected": b_wins.responses[0]["text"],
        },
    ]
    assert manifest["counts"]["pairs"]["kept"] == 2
    assert manifest["streams"][stream.slug]["agreement"]["value"] == pytest.approx(2 / 3, abs=1e-4)


def test_it_never_makes_pairs_of_ties_and_both_bad(tmp_path: Path) -> None:
    stream = StreamFactory.create()
    judged_item(stream, ["tie", "tie", "A"])
    judged_item(stream, ["both_bad", "both_bad"])
    judged_item(stream, ["A", "B"])
    manifest, rows = _export(tmp_path, [stream.pk])
    assert rows == []
    assert manifest["counts"]["pairs"]["dropped"] == {"both_bad": 1, "no_majority": 1, "tie": 1}
    assert manifest["counts"]["items"]["dropped"]["no_pair"] == 3


def test_it_keeps_only_unanimous_items_when_asked(tmp_path: Path) -> None:
    stream = StreamFactory.create()
    judged_item(stream, ["A", "A", "B"])
    judged_item(stream, ["B", "B", "B"])
    manifest, rows = _export(tmp_path, [stream.pk], aggregation="unanimous")
    assert len(rows) == 1
    assert manifest["counts"]["pairs"]["dropped"] == {"not_unanimous": 1}


def test_it_aggregates_with_dawid_skene(tmp_path: Path) -> None:
    stream = StreamFactory.create()
    good = [UserFactory.create() for _ in range(3)]
    spammer = UserFactory.create()
    items = [ItemFactory.create(stream=stream) for _ in range(12)]
    for n, item in enumerate(items):
        truth = "A" if n % 2 else "B"
        for user in good:
            judge(item, user, truth)
        judge(item, spammer, "A")
    manifest, rows = _export(tmp_path, [stream.pk], aggregation="dawid-skene")
    assert len(rows) == 12
    for n, (item, row) in enumerate(zip(items, rows, strict=True)):
        assert row["chosen"] == item.responses[0 if n % 2 else 1]["text"]
    assert manifest["aggregation"] == "dawid-skene"


def test_it_drops_an_item_below_min_judgements(tmp_path: Path) -> None:
    stream = StreamFactory.create()
    judged_item(stream, ["A"])
    judged_item(stream, ["B", "B"])
    manifest, rows = _export(tmp_path, [stream.pk], min_judgements=2)
    assert len(rows) == 1
    assert manifest["counts"]["items"]["dropped"]["min_judgements"] == 1


def test_it_filters_on_min_agreement(tmp_path: Path) -> None:
    stream = StreamFactory.create()
    judged_item(stream, ["A", "A", "B"])
    judged_item(stream, ["A", "A", "A"])
    manifest, rows = _export(tmp_path, [stream.pk], min_agreement=0.9)
    assert len(rows) == 1
    assert manifest["counts"]["pairs"]["dropped"] == {"low_agreement": 1}


def test_it_leaves_out_golden_items_by_default(tmp_path: Path) -> None:
    stream = StreamFactory.create()
    judged_item(stream, ["A"], is_golden=True, golden_answers=["A"])
    judged_item(stream, ["A"])
    manifest, rows = _export(tmp_path, [stream.pk])
    assert len(rows) == 1
    assert manifest["counts"]["items"]["dropped"]["golden"] == 1
    _manifest, rows = _export(tmp_path / "with", [stream.pk], include_golden=True)
    assert len(rows) == 2


def test_it_drops_flagged_rejected_and_inactive_annotators_work(tmp_path: Path) -> None:
    stream = StreamFactory.create()
    judged_item(stream, ["A", {"choice": "A", "flag_harmful": True}])
    item = judged_item(stream, ["B", {"choice": "A", "flag_cannot_judge": True}])
    rejected = judge(item, UserFactory.create(), "A")
    Review.objects.create(judgement=rejected, reviewer=UserFactory.create(), decision="reject", reason="rushed")
    removed = UserFactory.create()
    StreamMembershipFactory.create(stream=stream, user=removed, status=StreamMembership.Status.REMOVED)
    judge(item, removed, "A")
    # A paused annotator keeps the work from before what QC suspected; the suspect work is out.
    paused = UserFactory.create()
    StreamMembershipFactory.create(stream=stream, user=paused, status=StreamMembership.Status.PAUSED)
    good = judged_item(stream, ["B"])
    judge(good, paused, "B")
    suspect = judge(item, paused, "A")
    annotation_services.exclude_judgements(judgement_ids=[suspect.pk], reason="qc_pause")
    manifest, rows = _export(tmp_path, [stream.pk])
    assert [r["chosen"] for r in rows] == [item.responses[1]["text"], good.responses[1]["text"]]
    counts = manifest["counts"]
    assert counts["items"]["dropped"]["flagged_harmful_or_pii"] == 1
    assert counts["judgements"]["dropped"] == {
        "annotator_inactive": 1,
        "flagged_cannot_judge": 1,
        "rejected": 1,
        "excluded_qc_pause": 1,
    }
    _manifest, rows = _export(
        tmp_path / "all",
        [stream.pk],
        exclude_flagged=False,
        exclude_rejected=False,
        exclude_inactive_annotators=False,
    )
    assert len(rows) == 3
    assert rows[1]["chosen"] == item.responses[0]["text"]


def test_it_filters_on_submission_dates(tmp_path: Path) -> None:
    stream = StreamFactory.create()
    old = judged_item(stream, ["A"])
    Judgement.objects.filter(item=old).update(submitted_at=timezone.now() - timedelta(days=10))
    judged_item(stream, ["B"])
    _manifest, rows = _export(tmp_path, [stream.pk], submitted_from=timezone.now() - timedelta(days=1))
    assert len(rows) == 1
    _manifest, rows = _export(tmp_path / "old", [stream.pk], submitted_to=timezone.now() - timedelta(days=1))
    assert len(rows) == 1
    assert rows[0]["prompt"] == old.context[0]["content"]


def test_it_exports_only_new_items_since_a_previous_export(tmp_path: Path) -> None:
    stream = StreamFactory.create()
    judged_item(stream, ["A", "A"])
    first = exporting.create_export(
        project=stream.project, spec=exporting.ExportSpec(stream_ids=(stream.pk,)), queued=False
    )
    first = exporting.run_export(export_id=first.pk, out_dir=tmp_path / "1")
    assert first.status == Export.Status.DONE
    pending = judged_item(stream, ["B"])  # one judgement so far
    new = judged_item(stream, ["B", "B"])
    spec = exporting.ExportSpec(stream_ids=(stream.pk,), since_export_id=first.pk, min_judgements=2)
    second = exporting.run_export(
        export_id=exporting.create_export(project=stream.project, spec=spec, queued=False).pk, out_dir=tmp_path / "2"
    )
    rows = read_jsonl(tmp_path / "2" / "train.jsonl")
    assert [r["prompt"] for r in rows] == [new.context[0]["content"]]
    assert second.counts["items"]["dropped"]["already_exported"] == 1
    # The index is cumulative: a third export continuing from the second skips both earlier items.
    judge(pending, UserFactory.create(), "B")
    spec = exporting.ExportSpec(stream_ids=(stream.pk,), since_export_id=second.pk, min_judgements=2)
    exporting.run_export(
        export_id=exporting.create_export(project=stream.project, spec=spec, queued=False).pk, out_dir=tmp_path / "3"
    )
    rows = read_jsonl(tmp_path / "3" / "train.jsonl")
    assert [r["prompt"] for r in rows] == [pending.context[0]["content"]]


def test_it_splits_train_and_test_deterministically_by_item(tmp_path: Path) -> None:
    stream = StreamFactory.create(task_kind="ranking")
    items = [judged_item(stream, [[[0], [1], [2]]], responses=_three()) for _ in range(40)]
    spec: dict[str, Any] = {"test_fraction": 0.25, "seed": 7}
    manifest, train = _export(tmp_path, [stream.pk], **spec)
    test = read_jsonl(tmp_path / "test.jsonl")
    assert train
    assert test
    assert len(train) + len(test) == 40 * 3
    train_prompts = {r["prompt"] for r in train}
    assert not train_prompts & {r["prompt"] for r in test}  # an item's pairs stay together
    _again, train_again = _export(tmp_path / "again", [stream.pk], **spec)
    assert train_again == train
    expected_test = {
        i.context[0]["content"]
        for i in items
        if exporting.split_of(i.pk, exporting.ExportSpec(stream_ids=(stream.pk,), **spec)) == "test"
    }
    assert {r["prompt"] for r in test} == expected_test
    assert manifest["counts"]["rows"] == {"test": len(test), "train": len(train)}


def _three() -> list[dict[str, Any]]:
    return [{"text": f"Response {n}", "model": f"m{n}", "metadata": {}} for n in range(3)]


def test_it_expands_rankings_to_pairs(tmp_path: Path) -> None:
    stream = StreamFactory.create(task_kind="ranking")
    judged_item(stream, [[[2], [0, 1]], [[2], [0], [1]], [[2], [1], [0]]], responses=_three())
    manifest, rows = _export(tmp_path, [stream.pk], format="reward", margin=True)
    pairs = {(r["chosen"][-1]["content"], r["rejected"][-1]["content"], r["margin"]) for r in rows}
    # 2 beats 0 and 1 in every ranking (distances 1,1,2 and 1,2,1); 0 vs 1 has no majority.
    # Unanimous (confidence 1), so the margin is the mean rank distance itself.
    assert pairs == {("Response 2", "Response 0", 1.333333), ("Response 2", "Response 1", 1.333333)}
    assert manifest["counts"]["pairs"]["dropped"] == {"no_majority": 1}


def test_it_writes_conversational_reward_and_kto_shapes(tmp_path: Path) -> None:
    stream = StreamFactory.create()
    context = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello"},
        {"role": "user", "content": "Capital of France?"},
    ]
    item = judged_item(stream, [{"choice": "B", "strength": 3}, {"choice": "B", "strength": 2}], context=context)
    chosen = [{"role": "assistant", "content": item.responses[1]["text"]}]
    rejected = [{"role": "assistant", "content": item.responses[0]["text"]}]

    bare = {"confidence": False, "margin": False}
    _m, rows = _export(tmp_path / "c", [stream.pk], format="trl-conversational", **bare)
    assert rows == [{"prompt": context, "chosen": chosen, "rejected": rejected}]
    _m, rows = _export(tmp_path / "r", [stream.pk], format="reward", confidence=False)
    assert rows == [{"chosen": context + chosen, "rejected": context + rejected, "margin": 2.5}]
    _m, rows = _export(tmp_path / "k", [stream.pk], format="kto", **bare)
    assert rows == [
        {"prompt": context, "completion": chosen, "label": True},
        {"prompt": context, "completion": rejected, "label": False},
    ]
    _m, rows = _export(tmp_path / "s", [stream.pk], format="trl")
    assert rows[0]["prompt"] == "System: Be brief.\n\nUser: Hi\n\nAssistant: Hello\n\nUser: Capital of France?"


def test_it_drops_items_whose_prompt_does_not_end_with_a_user_turn(tmp_path: Path) -> None:
    stream = StreamFactory.create()
    judged_item(stream, ["A"], context=[{"role": "assistant", "content": "Hello"}])
    manifest, rows = _export(tmp_path, [stream.pk], format="trl-conversational")
    assert rows == []
    assert manifest["counts"]["items"]["dropped"]["prompt_not_ending_with_user"] == 1


def test_it_pseudonymises_annotators_in_raw_rows(tmp_path: Path) -> None:
    stream = StreamFactory.create()
    user = UserFactory.create(username="alice-real-name")
    item = ItemFactory.create(stream=stream)
    judgement = judge(item, user, {"choice": "A", "strength": 2, "rationale": "clearer"})
    _m, rows = _export(tmp_path, [stream.pk], format="raw")
    assert len(rows) == 1
    row = rows[0]
    assert row["annotator"] == exporting.pseudonym(stream.project_id, user.pk)
    assert len(row["annotator"]) == 16
    text = (tmp_path / "train.jsonl").read_text()
    assert "alice" not in text
    assert '"annotator_id"' not in text
    assert row["judgement_id"] == judgement.pk
    assert row["choice"] == "A"
    assert row["strength"] == 2
    assert row["responses"][0]["text"] == item.responses[0]["text"]
    _m, again = _export(tmp_path / "again", [stream.pk], format="raw")
    assert again[0]["annotator"] == row["annotator"]  # stable across exports


@pytest.mark.parametrize("fmt", ["trl", "trl-conversational", "raw"])
def test_it_round_trips_awkward_text_exactly(tmp_path: Path, fmt: str) -> None:
    stream = StreamFactory.create()
    prompt = 'Line one\nline two\r\n\u2028separator\u2029 "quotes" \\ back \t tab 😀👩‍🔬 ܐ \x7f'
    big = ("100 KB of text 😀\n" * 6000)[:100_000]
    item = judged_item(
        stream,
        ["B", "B"],
        context=[{"role": "user", "content": prompt}],
        responses=[{"text": "short", "model": "m", "metadata": {}}, {"text": big, "model": "m", "metadata": {}}],
    )
    _m, rows = _export(tmp_path, [stream.pk], format=fmt)
    raw = (tmp_path / "train.jsonl").read_bytes()
    assert "\u2028".encode() not in raw  # escaped, so naive line splitters see one row per line
    assert raw.count(b"\n") == len(rows)
    if fmt == "trl":
        assert rows[0]["prompt"] == prompt
        assert rows[0]["chosen"] == big
    elif fmt == "trl-conversational":
        assert rows[0]["prompt"][0]["content"] == prompt
        assert rows[0]["chosen"][0]["content"] == big
    else:
        assert rows[0]["context"] == item.context
        assert rows[0]["responses"][1]["text"] == big


def test_it_writes_a_manifest_with_checksums_and_version(tmp_path: Path) -> None:
    stream = StreamFactory.create()
    judged_item(stream, ["A", "A"])
    _manifest, _rows = _export(tmp_path, [stream.pk], test_fraction=0.5)
    on_disk = json.loads((tmp_path / "manifest.json").read_text())
    assert on_disk["quorum_version"] == settings.VERSION
    assert on_disk["settings"]["test_fraction"] == 0.5
    names = {f["name"]: f for f in on_disk["files"]}
    assert set(names) == {"train.jsonl", "test.jsonl", exporting.ITEMS_INDEX_NAME, "README.md"}
    for name, entry in names.items():
        assert hashlib.sha256((tmp_path / name).read_bytes()).hexdigest() == entry["sha256"]
    assert "path" not in names["train.jsonl"]  # no server paths in the manifest


def test_it_exports_a_consistent_snapshot_while_judgements_arrive(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.setattr(exporting, "CHUNK_SIZE", 2)
    monkeypatch.setattr(exporting, "ITEM_BATCH", 1)
    stream = StreamFactory.create()
    items = [judged_item(stream, ["A", "A"]) for _ in range(4)]
    superseded = Judgement.objects.filter(item=items[0]).first()
    assert superseded is not None
    late_user = UserFactory.create()
    arrivals: list[Judgement] = []

    def submit_during_export(fraction: float) -> None:
        # Another annotator submits, and an existing judgement is corrected, mid-export.
        if not arrivals:
            arrivals.append(judge(items[3], late_user, "B"))
            arrivals.append(judged_item(stream, ["B", "B"]).judgements.first())  # type: ignore[arg-type]
            Judgement.objects.filter(pk=superseded.pk).update(is_current=False)
            JudgementFactory.create(
                assignment=superseded.assignment, choice="B", supersedes=superseded, idempotency_key="fix-1"
            )

    manifest = exporting.write_export(
        exporting.ExportSpec(stream_ids=(stream.pk,)), tmp_path, on_progress=submit_during_export
    )
    assert arrivals
    rows = read_jsonl(tmp_path / "train.jsonl")
    assert len(rows) == 4
    assert all(r["chosen"] == items[0].responses[0]["text"] for r in rows)
    assert manifest["counts"]["judgements"]["read"] == 8
    after, _rows = _export(tmp_path / "after", [stream.pk])
    assert after["counts"]["judgements"]["read"] == 11


def test_it_records_a_failed_export(tmp_path: Path, monkeypatch: Any) -> None:
    stream = StreamFactory.create()
    judged_item(stream, ["A"])

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise OSError("disk full")

    monkeypatch.setattr(exporting, "dumps", broken)
    export = exporting.create_export(
        project=stream.project, spec=exporting.ExportSpec(stream_ids=(stream.pk,)), queued=False
    )
    export = exporting.run_export(export_id=export.pk, out_dir=tmp_path)
    assert export.status == Export.Status.FAILED
    assert export.error == "disk full"


def test_it_rejects_bad_specs() -> None:
    with pytest.raises(exporting.ExportError):
        exporting.ExportSpec(stream_ids=())
    with pytest.raises(exporting.ExportError):
        exporting.ExportSpec(stream_ids=(1,), format="csv")
    with pytest.raises(exporting.ExportError):
        exporting.ExportSpec(stream_ids=(1,), aggregation="mean")
    with pytest.raises(exporting.ExportError):
        exporting.ExportSpec(stream_ids=(1,), test_fraction=1.0)


def test_it_round_trips_a_spec_through_json() -> None:
    spec = exporting.ExportSpec(stream_ids=(3, 4), format="kto", submitted_from=timezone.now(), test_fraction=0.1)
    assert exporting.ExportSpec.from_json(json.loads(json.dumps(spec.to_json()))) == spec
