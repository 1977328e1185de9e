"""Every exported pair knows how sure it is: vote share or posterior, a minimum per stream, ties never
decided by chance, and ``auto`` choosing per stream on the golden items (exports.aggregation)."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from exports import aggregation
from exports import services as exporting
from tests.factories import ItemFactory, StreamFactory, UserFactory
from tests.qc.helpers import judge, judged_item, read_jsonl

pytestmark = pytest.mark.django_db


def _export(tmp_path: Path, stream_ids: list[int], **spec: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    manifest = exporting.write_export(exporting.ExportSpec(stream_ids=tuple(stream_ids), **spec), tmp_path)
    return manifest, read_jsonl(tmp_path / "train.jsonl")


def test_it_gives_majority_pairs_their_vote_share(tmp_path: Path) -> None:
    stream = StreamFactory.create()
    judged_item(stream, ["A", "A", "B"])
    judged_item(stream, ["B", "B", "B"])
    manifest, rows = _export(tmp_path, [stream.pk], confidence=True)
    assert sorted(r["confidence"] for r in rows) == [pytest.approx(2 / 3, abs=1e-6), 1.0]
    confidence = manifest["streams"][stream.slug]["confidence"]
    assert confidence["mean"] == pytest.approx((2 / 3 + 1) / 2, abs=1e-4)
    assert sum(confidence["histogram"]["pairs"]) == 2
    assert confidence["min_confidence"] == 0.0


def test_it_adds_confidence_and_margin_unless_told_not_to(tmp_path: Path) -> None:
    stream = StreamFactory.create()
    judged_item(stream, ["A", "A", "B"])
    _manifest, rows = _export(tmp_path / "default", [stream.pk])
    assert set(rows[0]) == {"prompt", "chosen", "rejected", "confidence", "margin"}
    _manifest, rows = _export(tmp_path / "bare", [stream.pk], confidence=False, margin=False)
    assert set(rows[0]) == {"prompt", "chosen", "rejected"}


def test_it_drops_pairs_below_the_streams_minimum_and_counts_them(tmp_path: Path) -> None:
    stream = StreamFactory.create(min_confidence=0.75)
    judged_item(stream, ["A", "A", "B"])  # 2/3 < 0.75
    judged_item(stream, ["B", "B", "B", "A"])  # 3/4
    manifest, rows = _export(tmp_path, [stream.pk], confidence=True)
    assert [r["confidence"] for r in rows] == [0.75]
    assert manifest["counts"]["pairs"]["dropped"]["low_confidence"] == 1


def test_the_exports_minimum_overrides_the_streams(tmp_path: Path) -> None:
    stream = StreamFactory.create(min_confidence=0.75)
    judged_item(stream, ["A", "A", "B"])
    manifest, rows = _export(tmp_path, [stream.pk], min_confidence=0.5)
    assert len(rows) == 1
    assert manifest["streams"][stream.slug]["confidence"]["min_confidence"] == 0.5


@pytest.mark.parametrize("method", ["majority", "dawid-skene"])
def test_a_tied_vote_is_never_decided(tmp_path: Path, method: str) -> None:
    """A 2–2 split is "no majority" for Dawid–Skene too: its posterior there is a coin."""
    stream = StreamFactory.create()
    annotators = [UserFactory.create() for _ in range(4)]
    tied = ItemFactory.create(stream=stream)
    for user, answer in zip(annotators, ["A", "A", "B", "B"], strict=True):
        judge(tied, user, answer)
    for _ in range(5):  # enough other items for Dawid–Skene to estimate the annotators
        item = ItemFactory.create(stream=stream)
        for user in annotators:
            judge(item, user, "A")
    manifest, rows = _export(tmp_path, [stream.pk], aggregation=method)
    assert len(rows) == 5
    assert manifest["counts"]["pairs"]["dropped"]["no_majority"] == 1


def test_dawid_skene_pairs_carry_their_posterior(tmp_path: Path) -> None:
    stream = StreamFactory.create()
    annotators = [UserFactory.create() for _ in range(3)]
    for n in range(6):
        item = ItemFactory.create(stream=stream)
        for k, user in enumerate(annotators):
            judge(item, user, "B" if (k == 2 and n % 2) else "A")
    _manifest, rows = _export(tmp_path, [stream.pk], aggregation="dawid-skene", confidence=True)
    assert len(rows) == 6
    assert all(0.5 < r["confidence"] <= 1.0 for r in rows)


def _noisy_stream(seed: int) -> Any:
    """Two careful annotators (always right) and three who answer at random, on ordinary and golden
    items: majority is wrong whenever the three random ones agree on the wrong answer (1 in 8)."""
    rng = random.Random(seed)
    stream = StreamFactory.create()
    careful = [UserFactory.create() for _ in range(2)]
    noisy = [UserFactory.create() for _ in range(3)]
    for n in range(120):
        truth = rng.choice("AB")
        golden = n < 60
        item = ItemFactory.create(stream=stream, is_golden=golden, golden_answers=[truth] if golden else [])
        for user in careful:
            judge(item, user, truth)
        for user in noisy:
            judge(item, user, rng.choice("AB"))
    return stream


def test_auto_picks_dawid_skene_where_it_is_right_more_often_on_golden_items(tmp_path: Path) -> None:
    stream = _noisy_stream(seed=3)
    manifest, _rows = _export(tmp_path, [stream.pk], aggregation="auto")
    choice = manifest["streams"][stream.slug]["aggregation_choice"]
    scores = choice["gold_accuracy"]
    assert choice["golden_comparisons"] == 60
    assert scores["dawid-skene"] > scores["majority"]
    assert choice["method"] == manifest["streams"][stream.slug]["aggregation"] == "dawid-skene"
    assert "golden comparisons right" in choice["why"]


def test_auto_keeps_majority_without_golden_items(tmp_path: Path) -> None:
    stream = StreamFactory.create()
    judged_item(stream, ["A", "A", "B"])
    manifest, rows = _export(tmp_path, [stream.pk], aggregation="auto")
    assert len(rows) == 1
    assert manifest["streams"][stream.slug]["aggregation"] == "majority"
    assert "no golden item" in manifest["streams"][stream.slug]["aggregation_choice"]["why"]


def test_gold_score_counts_undecided_as_wrong() -> None:
    score, n = aggregation.gold_score(
        {"t1": "A", "t2": None, "t3": "B"}, {"t1": ["A"], "t2": ["A"], "t3": ["A", "tie"]}
    )
    assert (score, n) == (pytest.approx(1 / 3), 3)


def test_with_label_refuses_a_tied_vote() -> None:
    assert aggregation.with_label(["A", "A", "B", "B"], "A", 0.97).reason == "no_majority"
    outcome = aggregation.with_label(["A", "A", "B"], "A", 0.9)
    assert (outcome.label, outcome.confidence) == ("A", 0.9)
