"""Every exported pair says how sure it is: ``confidence`` and ``margin`` columns, the suggested
label smoothing in the manifest, tie handling, both-bad comparisons as KTO negatives, and a dataset
card beside the manifest (exports.formats, exports.card)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from exports import card
from exports import services as exporting
from tests.factories import StreamFactory
from tests.qc.helpers import judged_item, read_jsonl

pytestmark = pytest.mark.django_db


def _export(tmp_path: Path, stream_ids: list[int], **spec: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    manifest = exporting.write_export(exporting.ExportSpec(stream_ids=tuple(stream_ids), **spec), tmp_path)
    return manifest, read_jsonl(tmp_path / "train.jsonl")


def test_the_margin_is_the_expected_signed_strength(tmp_path: Path) -> None:
    stream = StreamFactory.create()
    judged_item(stream, [{"choice": "A", "strength": 3}] * 3)  # unanimous, much better: 3
    judged_item(stream, [{"choice": "B", "strength": 1}, {"choice": "B", "strength": 1}, "A"])  # 2 of 3, slightly
    _manifest, rows = _export(tmp_path, [stream.pk])
    assert [(r["confidence"], r["margin"]) for r in rows] == [
        (1.0, 3.0),
        (pytest.approx(2 / 3, abs=1e-6), pytest.approx(1 / 3, abs=1e-6)),
    ]


def test_the_manifest_suggests_label_smoothing_from_the_disagreement(tmp_path: Path) -> None:
    stream = StreamFactory.create()
    judged_item(stream, ["A", "A", "B"])  # minority share 1/3
    judged_item(stream, ["B", "B", "B", "A"])  # 1/4
    judged_item(stream, ["A", "A"])  # 0
    manifest, _rows = _export(tmp_path, [stream.pk])
    expected = round((1 / 3 + 1 / 4 + 0) / 3, 4)
    assert manifest["streams"][stream.slug]["label_smoothing"] == {"suggested": expected, "pairs": 3}
    smoothing = manifest["uncertainty"]["label_smoothing"]
    assert smoothing["suggested"] == expected
    assert "minority share" in smoothing["definition"]
    assert "label_smoothing" in smoothing["definition"]
    assert "(2 × confidence − 1) × strength" in manifest["uncertainty"]["margin"]


def test_ties_are_dropped_by_default_and_written_both_ways_when_asked(tmp_path: Path) -> None:
    stream = StreamFactory.create()
    item = judged_item(stream, ["tie", "tie", "A"])
    manifest, rows = _export(tmp_path / "drop", [stream.pk], format="reward")
    assert rows == []
    assert manifest["counts"]["pairs"]["dropped"] == {"tie": 1}
    manifest, rows = _export(tmp_path / "both", [stream.pk], format="trl", ties="both-orders")
    texts = [r["text"] for r in item.responses]
    assert [(r["chosen"], r["rejected"], r["margin"]) for r in rows] == [
        (texts[0], texts[1], 0.0),
        (texts[1], texts[0], 0.0),
    ]
    assert rows[0]["confidence"] == pytest.approx(2 / 3, abs=1e-6)
    assert manifest["counts"]["pairs"]["ties_as_both_orders"] == 1
    assert manifest["counts"]["pairs"]["kept"] == 2
    _manifest, rows = _export(tmp_path / "kto", [stream.pk], format="kto", ties="both-orders")
    assert rows == []  # KTO cannot say "as good as": ties stay out


def test_both_bad_items_become_two_kto_negatives(tmp_path: Path) -> None:
    stream = StreamFactory.create()
    item = judged_item(stream, ["both_bad", "both_bad", "A"])
    manifest, rows = _export(tmp_path / "kto", [stream.pk], format="kto")
    assert [(r["completion"][0]["content"], r["label"]) for r in rows] == [
        (item.responses[0]["text"], False),
        (item.responses[1]["text"], False),
    ]
    assert manifest["counts"]["pairs"]["both_bad_as_kto_negatives"] == 1
    manifest, rows = _export(tmp_path / "trl", [stream.pk], format="trl")
    assert rows == []
    assert manifest["counts"]["pairs"]["dropped"] == {"both_bad": 1}


def test_every_export_has_a_dataset_card_rendered_from_its_manifest(tmp_path: Path) -> None:
    stream = StreamFactory.create(name="Support DE")
    judged_item(stream, ["A", "A", "B"])
    judged_item(stream, ["B", "tie"])
    manifest, _rows = _export(tmp_path, [stream.pk], licence="CC-BY-4.0")
    text = (tmp_path / "README.md").read_text(encoding="utf-8")
    assert text == card.render({**manifest, "files": [f for f in manifest["files"] if f["name"] != "README.md"]})
    assert "Licence: CC-BY-4.0" in text
    assert f"Guideline versions: `{stream.slug}`: " in text
    assert f"| {stream.slug} | pairwise | 5 |" in text  # five annotators read
    assert "no majority 1" in text
    assert 'load_dataset("json"' in text
    assert manifest["streams"][stream.slug]["annotators"]["pool"] == 5
    # The guideline versions the judgements were made under, per stream, from the manifest alone.
    versions = {"support-de": [{"number": 7, "created_at": "2026-11-30T09:00:00+00:00", "judgements": 5}]}
    rendered = card.render({**manifest, "guideline_versions": versions})
    assert "Guideline versions: `support-de`: v7 of 2026-11-30 (5 judgements)." in rendered


def test_rewardbench_needs_a_held_out_split() -> None:
    with pytest.raises(exporting.ExportError, match="held-out"):
        exporting.ExportSpec(stream_ids=(1,), format="rewardbench")
    with pytest.raises(exporting.ExportError, match="tie handling"):
        exporting.ExportSpec(stream_ids=(1,), ties="coin")


def test_old_export_settings_still_load() -> None:
    """An export recorded before these options (re-queued by the sweeper) still runs."""
    spec = exporting.ExportSpec.from_json({"stream_ids": [3], "format": "trl", "margin": False, "gone": 1})
    assert (spec.margin, spec.confidence, spec.ties) == (False, True, "drop")
