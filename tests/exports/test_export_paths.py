"""The tallied export path (PostgreSQL counts the votes) and the general path (Python reads every
judgement) must write the same files and the same manifest counts, whatever the filters."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from annotation import services as annotation_services
from exports import services as exporting
from projects.models import StreamMembership
from qc.models import Review
from tests.factories import StreamFactory, StreamMembershipFactory, UserFactory
from tests.qc.helpers import judge, judged_item

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

CHOICES = ["A", "A", "B", "B", "tie", "both_bad"]


def _varied_stream() -> Any:
    """A stream whose items cover every branch: majorities, ties, no majority, flags, rejected
    work, a paused annotator, strengths, single judgements, multi-turn and assistant-last contexts."""
    rng = random.Random(7)
    stream = StreamFactory.create()
    paused = UserFactory.create()
    StreamMembershipFactory.create(stream=stream, user=paused, status=StreamMembership.Status.PAUSED)
    reviewer = UserFactory.create()
    for n in range(60):
        answers: list[Any] = []
        for _ in range(rng.choice([1, 2, 3, 3, 4])):
            choice = rng.choice(CHOICES)
            answer: dict[str, Any] = {"choice": choice}
            if choice in ("A", "B") and rng.random() < 0.7:
                answer["strength"] = rng.choice([1, 2, 3])
            flag = rng.random()
            if flag < 0.05:
                answer["flag_harmful"] = True
            elif flag < 0.10:
                answer["flag_cannot_judge"] = True
            elif flag < 0.13:
                answer["flag_pii"] = True
            answers.append(answer)
        context: list[dict[str, Any]] = [{"role": "user", "content": f"Question {n}\u2028with a line separator"}]
        if n % 7 == 0:
            context += [{"role": "assistant", "content": "Earlier answer"}, {"role": "user", "content": "And?"}]
        if n % 11 == 0:
            context.append({"role": "assistant", "content": "ends with the assistant"})
        # One-message contexts PostgreSQL must not take for a plain user prompt: no role (the
        # export reads it as the user's), content that is not a string, a system message alone.
        if n % 13 == 3:
            context = [{"content": f"No role {n}"}]
        elif n % 13 == 4:
            context = [{"role": "user", "content": 42}]
        elif n % 13 == 5:
            context = [{"role": "system", "content": "A system message alone"}]
        item = judged_item(stream, answers, context=context)
        if n % 5 == 0:
            judge(item, paused, rng.choice(["A", "B"]))
        if n % 6 == 0:
            rejected = judge(item, UserFactory.create(), "B")
            Review.objects.create(judgement=rejected, reviewer=reviewer, decision="reject", reason="rushed")
            if n % 12 == 0:  # as the review service marks it
                annotation_services.exclude_judgements(judgement_ids=[rejected.pk], reason="review_rejected")
        if n % 4 == 1:
            drifted = judge(item, UserFactory.create(), rng.choice(["A", "B"]))
            reason = ("qc_drift", "qc_pause", "review_rejected", "pm")[n % 3 + (n % 8 == 1)]
            annotation_services.exclude_judgements(judgement_ids=[drifted.pk], reason=reason)
    return stream


SPECS: list[dict[str, Any]] = [
    {},
    {"aggregation": "unanimous"},
    {"format": "trl-conversational", "min_judgements": 2},
    {"format": "reward", "margin": True, "min_agreement": 0.6},
    {"format": "kto", "test_fraction": 0.3, "seed": 3},
    {"exclude_flagged": False, "exclude_rejected": False, "exclude_inactive_annotators": False},
    {"format": "reward", "margin": True, "exclude_flagged": False, "aggregation": "unanimous"},
    {"format": "kto", "ties": "both-orders"},  # both-bad comparisons as two negatives; KTO drops ties
    {"format": "reward", "ties": "both-orders", "confidence": False},
    {"format": "rewardbench", "test_fraction": 0.4, "seed": 2},
    {"format": "llama-factory", "min_agreement": 0.5},
    {"format": "openrlhf", "aggregation": "unanimous", "ties": "both-orders"},
    {"format": "trl", "ties": "both-orders", "test_fraction": 0.2},
    {"format": "trl", "confidence": False, "margin": False},
]


@pytest.mark.parametrize("options", SPECS, ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()) or "defaults")
def test_it_writes_the_same_export_through_both_paths(tmp_path: Path, options: dict[str, Any]) -> None:
    assert connection.vendor == "postgresql"
    stream = _varied_stream()
    spec = exporting.ExportSpec(stream_ids=(stream.pk,), **options)
    snapshot = exporting.Snapshot.take()
    assert exporting._tallies_apply(spec, [stream], snapshot)
    tallied = exporting.write_export(spec, tmp_path / "tallied")
    exporting._FORCE_GENERAL_PATH = True
    try:
        general = exporting.write_export(spec, tmp_path / "general")
    finally:
        exporting._FORCE_GENERAL_PATH = False
    assert tallied["counts"]["pairs"]["kept"] > 0
    dropped = tallied["counts"]["judgements"]["dropped"]
    assert (dropped.get("excluded_qc_drift", 0) > 0) == spec.exclude_inactive_annotators
    assert (dropped.get("excluded_qc_pause", 0) > 0) == spec.exclude_inactive_annotators
    assert (dropped.get("excluded_review_rejected", 0) > 0) == spec.exclude_rejected
    assert tallied["counts"] == general["counts"]
    for slug, figures in tallied["streams"].items():  # one key at a time: a failure names it
        for key, value in figures.items():
            assert value == general["streams"][slug][key], (slug, key)
    for name in ("train.jsonl", "test.jsonl", exporting.ITEMS_INDEX_NAME):
        fast, slow = tmp_path / "tallied" / name, tmp_path / "general" / name
        assert fast.exists() == slow.exists(), name
        if fast.exists():
            assert fast.read_bytes() == slow.read_bytes(), name


def test_it_takes_the_general_path_for_rankings_and_dawid_skene() -> None:
    stream = StreamFactory.create()
    judged_item(stream, ["A", "B"])
    snapshot = exporting.Snapshot.take()
    assert not exporting._tallies_apply(
        exporting.ExportSpec(stream_ids=(stream.pk,), aggregation="dawid-skene"), [stream], snapshot
    )
    assert exporting._tallies_apply(exporting.ExportSpec(stream_ids=(stream.pk,)), [stream], snapshot)
    judged_item(stream, [[[0], [1]]])  # a ranking answer in a pairwise stream
    snapshot = exporting.Snapshot.take()
    assert not exporting._tallies_apply(exporting.ExportSpec(stream_ids=(stream.pk,)), [stream], snapshot)


@pytest.mark.django_db(transaction=True)
def test_outside_a_transaction_the_side_query_runs_on_its_own_connection(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker's export is not inside a transaction: the manifest's guideline versions are counted
    by a thread on a second connection while the rows are written, and come out the same."""
    assert not connection.in_atomic_block
    stream = StreamFactory.create()
    for n in range(4):
        judged_item(stream, ["A", "A", "B"][: n % 3 + 1])
    spec = exporting.ExportSpec(stream_ids=(stream.pk,))
    threads: list[str] = []
    real = exporting.guideline_versions

    def recording(*args: Any) -> Any:
        import threading

        threads.append(threading.current_thread().name)
        return real(*args)

    monkeypatch.setattr(exporting, "guideline_versions", recording)
    manifest = exporting.write_export(spec, tmp_path)
    assert threads == ["export-beside"]
    expected = real(spec, exporting.Snapshot(manifest["snapshot"]["max_judgement_id"], stream.created_at), [stream])
    assert manifest["guideline_versions"] == expected
    assert sum(v["judgements"] for v in manifest["guideline_versions"][stream.slug]) == 1 + 2 + 3 + 1
