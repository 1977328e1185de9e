"""The export manifest says how many items stopped early, and excluded judgements stay out."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from annotation import services as annotation_services
from exports import services as exporting
from tests.annotation.conftest import make_annotator
from tests.annotation.test_exclusion import work
from tests.factories import ItemFactory, StreamFactory
from tests.qc.helpers import read_jsonl

pytestmark = pytest.mark.django_db


def test_the_manifest_counts_items_stopped_early_and_excluded_judgements(tmp_path: Path) -> None:
    stream: Any = StreamFactory(overlap=3, adaptive_overlap=True, adaptive_min_agree=2)
    agreed = ItemFactory.create(stream=stream, priority=3, context=[{"role": "user", "content": "agreed"}])
    split = ItemFactory.create(stream=stream, priority=2, context=[{"role": "user", "content": "split"}])
    people = [make_annotator(stream) for _ in range(3)]
    for person, choices in zip(people, (["A", "A"], ["A", "B"], ["B"]), strict=True):
        for choice in choices:
            work(stream, person, choice)
    # agreed: A, A (stopped at 2); split: A, B (escalated), B; then the first B is taken out and refilled.
    first_b = split.judgements.get(annotator=people[1])
    assert annotation_services.exclude_judgements(judgement_ids=[first_b.pk], reason="qc_drift") == 1
    work(stream, make_annotator(stream), "A")

    manifest = exporting.write_export(exporting.ExportSpec(stream_ids=(stream.pk,)), tmp_path)

    assert manifest["counts"]["items"]["stopped_early"] == 1
    adaptive = manifest["streams"][stream.slug]["adaptive_overlap"]
    assert adaptive["on"] is True
    assert adaptive["stopped_early_items"] == 1
    assert (adaptive["overlap"], adaptive["min_agree"]) == (3, 2)
    assert manifest["counts"]["judgements"]["dropped"] == {"excluded_qc_drift": 1}
    assert manifest["counts"]["judgements"]["read"] == 6
    # split now counts A, B, A: majority A, not the 2-1 for B it would be with the excluded vote.
    rows = {row["prompt"]: row for row in read_jsonl(tmp_path / "train.jsonl")}
    assert set(rows) == {"agreed", "split"}
    assert rows["agreed"]["chosen"] == agreed.responses[0]["text"]
    assert rows["split"]["chosen"] == split.responses[0]["text"]


def test_a_stream_without_adaptive_overlap_stops_nothing_early(tmp_path: Path) -> None:
    stream: Any = StreamFactory(overlap=2)
    ItemFactory.create(stream=stream)
    for _ in range(2):
        work(stream, make_annotator(stream), "A")
    manifest = exporting.write_export(exporting.ExportSpec(stream_ids=(stream.pk,)), tmp_path)
    assert manifest["counts"]["items"]["stopped_early"] == 0
    assert manifest["streams"][stream.slug]["adaptive_overlap"]["on"] is False
