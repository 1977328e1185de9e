"""``manage.py load_demo``: the demo project, exactly, and nothing new on a second run."""

from __future__ import annotations

import io
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import authenticate
from django.contrib.auth.models import User
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client

from annotation.models import ImportBatch, Item, Judgement
from projects.models import Membership, Project, Stream, StreamMembership, StreamMembershipEvent
from qualification.models import QualificationQuestion, QualificationTest

pytestmark = pytest.mark.django_db

EXPECTED_ITEMS = {
    "selfinstruct": 252,
    "oasst": 188,
    "koala": 156,
    "helpful-base": 129,
    "vicuna": 80,
    "harmlessness": 2307,
    "helpful-safe": 120,  # the first HH-RLHF pairs, on two axes
    "attributes": 80,  # the Vicuna instructions again, per attribute
    "live-chat": 0,  # dynamic: its items are the turns annotators judge
}


@pytest.fixture(autouse=True)
def _media(settings: Any, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"


def load() -> str:
    out = io.StringIO()
    call_command("load_demo", stdout=out)
    return out.getvalue()


def snapshot() -> dict[str, int]:
    models = (
        User,
        Project,
        Stream,
        Membership,
        StreamMembership,
        StreamMembershipEvent,
        Item,
        ImportBatch,
        QualificationTest,
        QualificationQuestion,
    )
    return {model.__name__: model.objects.count() for model in models}


def test_it_loads_the_demo_with_exact_counts() -> None:
    out = load()
    project = Project.objects.get(slug="alpacaeval-demo")
    assert project.name == "AlpacaEval demo"
    streams = {s.slug: s for s in project.streams.all()}
    assert {slug: Item.objects.filter(stream=s).count() for slug, s in streams.items()} == EXPECTED_ITEMS
    assert streams["harmlessness"].name == "Harmlessness re-annotation"
    assert all(s.status == Stream.Status.ACTIVE and s.guidelines.startswith("## ") for s in streams.values())
    people = Membership.objects.filter(project=project).exclude(user__username__startswith="sim-")
    assert Counter(people.values_list("role", flat=True)) == {
        "pm": 1,
        "reviewer": 1,
        "annotator": 4,
    }
    annotators = StreamMembership.objects.filter(user__username__startswith="annotator")
    assert annotators.count() == 4 * 9
    # PM and reviewer see every stream uninvited; the simulated QC annotators (qc.demo) are apart.
    assert StreamMembership.objects.exclude(user__username__startswith="sim-").count() == 4 * 9
    # annotator1-3 label at once; annotator4 is invited but untested, to show the qualification path.
    assert set(annotators.exclude(user__username="annotator4").values_list("status", flat=True)) == {"qualified"}
    assert set(annotators.filter(user__username="annotator4").values_list("status", flat=True)) == {"invited"}
    tests = {t.stream.slug: t for t in QualificationTest.objects.select_related("stream")}
    assert set(tests) == set(EXPECTED_ITEMS) - {"harmlessness", "live-chat", "helpful-safe", "attributes"}
    assert (streams["helpful-safe"].task_kind, streams["attributes"].task_kind) == (
        "helpful_safe",
        "attribute_pairwise",
    )
    assert streams["attributes"].attributes == ["correctness", "instruction following", "style"]
    for test in tests.values():
        questions = list(test.questions.select_related("item"))
        assert len(questions) == 10
        # The expected answer is the AlpacaEval judge's verdict on the item.
        assert all(q.acceptable_answers == [(q.item.prior_label or {})["choice"]] for q in questions)
        assert all(q.item.stream_id == test.stream_id and q.explanation for q in questions)
    assert "lines 1255, 1689, 1951, 1953, 2037" in out
    assert "  annotator4   quorum-annotator4    Annotator" in out
    assert authenticate(username="pm", password="quorum-pm") is not None
    # Where each role starts, and each of those pages opens for that role.
    starts = dict(re.findall(r"^  (PM|annotator|reviewer) \(\w+\): +http://127\.0\.0\.1:8000(\S+)", out, re.M))
    assert starts["PM"] == "/projects/alpacaeval-demo/"
    assert starts["annotator"] == "/annotate/"
    assert re.fullmatch(r"/streams/\d+/review/", starts["reviewer"])
    for role, username in (("PM", "pm"), ("annotator", "annotator1"), ("reviewer", "reviewer")):
        client = Client()
        client.force_login(User.objects.get(username=username))
        assert client.get(starts[role]).status_code == 200, role


def test_it_creates_nothing_the_second_time() -> None:
    load()
    before = snapshot()
    out = load()
    assert snapshot() == before
    assert out.count("(already loaded)") == 8
    assert "pm           quorum-pm            Project manager" in out


def test_it_explains_missing_data(settings: Any, tmp_path: Path) -> None:
    settings.QUORUM_DEMO_DATA_DIR = tmp_path
    with pytest.raises(CommandError, match="Demo data not found"):
        load()
    assert not Project.objects.exists()


def test_it_loads_a_dynamic_stream_with_the_demo_replay_models() -> None:
    from demo.management.commands.load_demo import DEMO_MODEL_URL
    from dynamic.models import StreamEndpoint

    out = load()
    stream = Stream.objects.get(slug="live-chat")
    assert stream.mode == Stream.Mode.DYNAMIC
    endpoints = StreamEndpoint.objects.filter(stream=stream).select_related("endpoint")
    assert sorted(se.endpoint.model for se in endpoints) == ["demo-replay-gpt4-turbo", "demo-replay-mixtral"]
    assert {se.endpoint.base_url for se in endpoints} == {DEMO_MODEL_URL}
    assert all("Demo replay" in se.endpoint.name for se in endpoints)
    assert "demo replay models" in out


def test_it_loads_golden_sets_and_clearly_simulated_qc_data() -> None:
    from demo.management.commands.load_demo import SIMULATED_QC_STREAMS
    from qc.models import Alert, MetricSnapshot

    out = load()
    for slug in SIMULATED_QC_STREAMS:
        stream = Stream.objects.get(slug=slug)
        golden = Item.objects.filter(stream=stream, is_golden=True)
        assert golden.count() == 20
        # The AlpacaEval judge's verdict is the golden answer.
        assert all(g.golden_answers and "AlpacaEval judge" in g.golden_explanation for g in golden)
        judgements = Judgement.objects.filter(stream=stream)
        assert judgements.exists()
        assert set(judgements.values_list("source", flat=True)) == {"simulated"}
        assert all(name.startswith("sim-") for name in judgements.values_list("annotator__username", flat=True))
        assert MetricSnapshot.objects.filter(stream=stream, metric="run").exists()
        kinds = set(Alert.objects.filter(stream=stream).values_list("kind", flat=True))
        assert {"gold_accuracy_low", "rushing", "position_bias"} <= kinds, kinds
        assert StreamMembership.objects.filter(stream=stream, status="paused", user__username="sim-random").exists()
        assert not Alert.objects.filter(stream=stream, annotator__username__startswith="sim-careful").exists()
        # Integrity signals: sim-longer leans on a chatbot (copies item text, pastes, leaves the page).
        assert Alert.objects.filter(stream=stream, kind="copy_rate", annotator__username="sim-longer").exists()
        assert f"simulated judgements (accounts sim-*) in {slug}" in out
    # The multi-axis streams get a few simulated answers on every axis, and their figures.
    for slug in ("helpful-safe", "attributes"):
        judgements = Judgement.objects.filter(stream__slug=slug)
        assert judgements.count() == 3 * 40
        assert set(judgements.values_list("source", flat=True)) == {"simulated"}
        assert all(j.axes and j.choice in ("A", "B", "tie") for j in judgements)
        figure = MetricSnapshot.objects.get(stream__slug=slug, annotator=None, metric="axes", window="all")
        assert len(figure.details["axes"]) == (2 if slug == "helpful-safe" else 3)
        assert all(entry["alpha_nominal"]["sample_size"] > 0 for entry in figure.details["axes"])
        assert f"simulated judgements (accounts sim-*) in {slug}" in out
    # Only those streams.
    simulated_streams = {*SIMULATED_QC_STREAMS, "helpful-safe", "attributes"}
    assert not Judgement.objects.exclude(stream__slug__in=simulated_streams).exists()


def test_it_builds_tests_and_golden_sets_that_no_trivial_strategy_passes() -> None:
    """The AlpacaEval judge preferred the longer response ~70% of the time: the demo's questions
    and golden items are balanced so that no trivial strategy reaches the bar, and load_demo says
    so for each test and golden set."""
    from qc import golden
    from qualification import selectors

    out = load()
    tests = list(QualificationTest.objects.select_related("stream"))
    assert len(tests) == 5
    for test in tests:
        check = selectors.strategy_check(test)
        assert check.questions == 10
        assert check.warnings == [], (test.stream.slug, check.scores)
        assert max(check.scores.values()) < test.pass_mark
        # Exactly balanced: the longer response is right in 5 of 10, A in 5 of 10.
        assert check.scores["longer"] == check.scores["always_A"] == 0.5
        assert f"  {test.stream.slug} test: Trivial strategies on 10 questions: longer 50%, shorter 50%" in out
    golden_streams = 0
    for stream in Stream.objects.all():
        check = golden.strategy_check(stream)
        if not check.questions:
            continue
        golden_streams += 1
        assert check.warnings == [], (stream.slug, check.scores)
        assert max(check.scores.values()) < stream.min_gold_accuracy
        assert f"  {stream.slug} golden set: Trivial strategies on 20 questions:" in out
    assert golden_streams == 2
    assert out.count("None reaches the pass mark 60%") == 5
    assert out.count("None reaches the pause threshold 70%") == 2


def test_it_attaches_the_heuristic_demo_judge_to_one_stream() -> None:
    from demo.management.commands.load_demo import DEMO_MODEL_URL, JUDGE_BUDGET_REQUESTS, JUDGE_STREAM
    from dynamic.demo_model import JUDGE_MODEL
    from judging.models import Judge

    out = load()
    judge = Judge.objects.select_related("endpoint", "user", "stream").get()
    assert judge.stream.slug == JUDGE_STREAM
    assert (judge.endpoint.model, judge.endpoint.base_url) == (JUDGE_MODEL, DEMO_MODEL_URL)
    assert judge.follow
    assert judge.budget_requests == JUDGE_BUDGET_REQUESTS
    assert not judge.user.is_active
    assert not Membership.objects.filter(user=judge.user).exists()
    assert f"/streams/{judge.stream_id}/judge/" in out
    load()
    assert Judge.objects.count() == 1


def test_it_shows_a_closed_calibration_round_and_an_open_one_for_the_people() -> None:
    """``make run`` shows calibration: a round the simulated annotators answered two days ago, with
    the PM's expected answers and its results, and an open round on the people's stream page."""
    from django.test import Client

    from qc.models import CalibrationAnswer, CalibrationRound

    out = load()
    past, upcoming = CalibrationRound.objects.order_by("opened_at")
    assert (past.status, upcoming.status) == ("closed", "open")
    assert past.stream_id == upcoming.stream_id
    assert past.stream.slug == "oasst"
    answers = CalibrationAnswer.objects.filter(round_item__round=past).exclude(submitted_at=None)
    assert answers.count() >= 2 * past.items.count()
    assert {a.annotator.username[:4] for a in answers} == {"sim-"}
    assert all(item.expected_answer for item in past.items.all())
    assert f"/streams/{past.stream_id}/calibration/{past.pk}/" in out
    pm, person = Client(), Client()
    pm.force_login(User.objects.get(username="pm"))
    assert "Alignment" in pm.get(f"/streams/{past.stream_id}/calibration/{past.pk}/").content.decode()
    person.force_login(User.objects.get(username="annotator1"))
    assert "Calibration round" in person.get(f"/annotate/streams/{past.stream_id}/").content.decode()
    load()  # a second load adds no round
    assert CalibrationRound.objects.count() == 2
