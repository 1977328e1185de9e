"""Vote: the judge's consistent verdicts join Dawid–Skene as one more worker when the stream's
vote use is on; ``--exclude-model-judgements`` (CLI, API, export page) leaves them out; the
manifest says which judge and how many verdicts voted."""

from __future__ import annotations

import json
import random
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command

from exports import services as exporting
from tests.factories import ItemFactory, StreamFactory, UserFactory
from tests.judging.uses_helpers import add_verdict, make_judge
from tests.qc.helpers import judge as human_judge
from tests.qc.helpers import read_jsonl

pytestmark = pytest.mark.django_db

SHORT = "A short answer."  # ItemFactory's responses[0]: chosen when the label is "A"


def world(*, vote: bool) -> dict[str, Any]:
    """30 items: a careful annotator and the judge give the truth; two careless ones are right 55%
    of the time (seed 5: seven items where the careless two agree against the careful one).
    Without the judge Dawid–Skene cannot tell who is careful; with it, it can."""
    rng = random.Random(5)
    truth = [rng.choice("AB") for _ in range(30)]
    flip = {"A": "B", "B": "A"}
    careless = [[t if rng.random() < 0.55 else flip[t] for t in truth] for _ in range(2)]
    stream: Any = StreamFactory()
    careful, one, two = (UserFactory.create() for _ in range(3))
    judge = make_judge(stream, use_vote=vote)
    prompts = {}
    for i, t in enumerate(truth):
        item = ItemFactory.create(stream=stream)
        prompts[item.context[0]["content"]] = t
        human_judge(item, careful, t)
        human_judge(item, one, careless[0][i])
        human_judge(item, two, careless[1][i])
        add_verdict(judge, item, t)
    return {"stream": stream, "judge": judge, "truth": prompts}


def export(tmp_path: Path, stream: Any, **spec: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    manifest = exporting.write_export(exporting.ExportSpec(stream_ids=(stream.pk,), **spec), tmp_path)
    return manifest, read_jsonl(tmp_path / "train.jsonl")


def right(rows: list[dict[str, Any]], truth: dict[str, str]) -> int:
    return sum(1 for r in rows if (r["chosen"] == SHORT) == (truth[r["prompt"]] == "A"))


def test_the_judge_votes_under_dawid_skene_when_the_use_is_on(tmp_path: Path) -> None:
    w = world(vote=True)
    manifest, rows = export(tmp_path, w["stream"], aggregation="dawid-skene")
    assert len(rows) == 30
    assert right(rows, w["truth"]) == 30  # DS learned that the careful one agrees with the judge
    judge = manifest["streams"][w["stream"].slug]["model_judge"]
    assert (judge["voted"], judge["votes"], judge["vote_use"], judge["excluded"]) == (True, 30, True, False)
    assert judge["judge"] == w["judge"].endpoint.name
    assert "30 consistent verdicts voted" in judge["why"]


def test_without_the_vote_the_people_alone_decide(tmp_path: Path) -> None:
    w = world(vote=False)
    manifest, rows = export(tmp_path, w["stream"], aggregation="dawid-skene")
    assert right(rows, w["truth"]) < 30
    judge = manifest["streams"][w["stream"].slug]["model_judge"]
    assert (judge["voted"], judge["votes"], judge["why"]) == (False, 0, "the stream's vote use is off")


def test_exclude_model_judgements_gives_the_export_without_the_judge(tmp_path: Path) -> None:
    w = world(vote=True)
    on = export(tmp_path / "on", w["stream"], aggregation="dawid-skene")[1]
    manifest, excluded = export(tmp_path / "ex", w["stream"], aggregation="dawid-skene", exclude_model_judgements=True)
    w["judge"].use_vote = False
    w["judge"].save()
    off = export(tmp_path / "off", w["stream"], aggregation="dawid-skene")[1]
    assert excluded == off
    assert excluded != on
    judge = manifest["streams"][w["stream"].slug]["model_judge"]
    assert (judge["voted"], judge["excluded"], judge["why"]) == (False, True, "left out by --exclude-model-judgements")
    assert manifest["settings"]["exclude_model_judgements"] is True


def test_under_majority_the_judge_does_not_vote(tmp_path: Path) -> None:
    w = world(vote=True)
    manifest, rows = export(tmp_path / "m", w["stream"], aggregation="majority")
    w["judge"].use_vote = False
    w["judge"].save()
    assert rows == export(tmp_path / "m2", w["stream"], aggregation="majority")[1]
    judge = manifest["streams"][w["stream"].slug]["model_judge"]
    assert judge["voted"] is False
    assert judge["why"].startswith("the judge votes only under Dawid–Skene")


def test_the_cli_flag(tmp_path: Path) -> None:
    w = world(vote=True)
    call_command(
        "export_preferences",
        "--stream",
        str(w["stream"].pk),
        "--aggregate",
        "dawid-skene",
        "--exclude-model-judgements",
        "--out",
        str(tmp_path),
        stdout=StringIO(),
    )
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["streams"][w["stream"].slug]["model_judge"]["excluded"] is True
