"""The judge on the Quality page: measured by the recompute, shown apart from the people, never in
their figures."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from annotation.models import Judgement
from projects.models import Role, Stream
from qc.models import MetricSnapshot
from qc.services import compute_stream_metrics
from tests.annotation.conftest import make_annotator
from tests.factories import ItemFactory, JudgementFactory, MembershipFactory, StreamFactory, UserFactory
from tests.judging.uses_helpers import add_verdict, make_judge

pytestmark = pytest.mark.django_db


@pytest.fixture
def world() -> dict[str, Any]:
    stream: Any = StreamFactory(status=Stream.Status.ACTIVE, min_sample=2)
    pm = UserFactory(username="boss")
    MembershipFactory(project=stream.project, user=pm, role=Role.PM)
    alice, bob = make_annotator(stream, "alice"), make_annotator(stream, "bob")
    judge = make_judge(stream, use_suggest=True)
    answers = [("A", "A", "A"), ("B", "B", "A"), ("A", "A", "B"), ("B", "B", "B")]  # alice, bob, judge
    for a, b, verdict in answers:
        item = ItemFactory.create(stream=stream)
        JudgementFactory(assignment__item=item, assignment__annotator=alice, choice=a)
        JudgementFactory(assignment__item=item, assignment__annotator=bob, choice=b)
        add_verdict(judge, item, verdict)
    add_verdict(judge, ItemFactory.create(stream=stream), "A", "B")  # inconsistent
    compute_stream_metrics(stream=stream)
    return {"stream": stream, "pm": pm, "alice": alice, "judge": judge}


def test_the_recompute_measures_the_judge_apart_from_the_people(world: dict[str, Any]) -> None:
    stream, judge = world["stream"], world["judge"]
    assert Judgement.objects.filter(stream=stream, source=Judgement.Source.MODEL).count() == 4
    assert not MetricSnapshot.objects.filter(stream=stream, annotator=judge.user).exists()
    people = MetricSnapshot.objects.get(stream=stream, annotator=None, metric="judgements", window="all")
    assert people.sample_size == 8  # alice's and bob's, not the judge's
    alice = MetricSnapshot.objects.get(stream=stream, annotator=world["alice"], metric="agreement", window="all")
    assert (alice.value, alice.sample_size) == (1.0, 4)  # bob is her only peer
    figures = {
        row.metric: row
        for row in MetricSnapshot.objects.filter(stream=stream, annotator=None, metric__startswith="judge_")
    }
    # Majorities A, B, A, B; the judge A, A, B, B: 2 of 4.
    assert (figures["judge_agreement"].value, figures["judge_agreement"].sample_size) == (0.5, 4)
    assert (figures["judge_swap_consistency"].value, figures["judge_swap_consistency"].sample_size) == (0.8, 5)
    assert "flagged" in figures["judge_position_bias"].details


def test_the_quality_page_shows_the_judge_apart(client: Client, world: dict[str, Any]) -> None:
    client.force_login(world["pm"])
    response = client.get(reverse("qc:stream_qc", args=[world["stream"].pk]))
    assert response.status_code == 200
    html = response.content.decode()
    assert 'class="qc-judge-rows"' in html
    assert "model judge" in html
    assert 'id="judge"' in html
    assert "Swap consistency" in html
    assert "Uses on: suggest" in html
    assert world["judge"].user.username not in html  # the service account is not a person on the page
    assert '"judge": {"agreement": [{' in html  # the over-time series, for the chart
