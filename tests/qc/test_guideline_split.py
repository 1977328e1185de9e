"""The Quality page's split by guideline version, on a fixture whose figures are known: under v1
the three annotators disagree on every item, miss every golden item and take 5 s; under v2 they
agree on every item (A on half, B on the others), answer every golden item right and take 20 s."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from projects import services as project_services
from projects.models import Role
from qc.services import figures_by_guideline_version
from tests.factories import ItemFactory, JudgementFactory, MembershipFactory, ProjectFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def stream() -> Any:
    stream = project_services.create_stream(project=ProjectFactory.create(), slug="chat", name="Chat", guidelines="v1")
    project_services.update_stream(stream=stream, guidelines="v2", change_note="Ties are rare")
    annotators = [UserFactory.create() for _ in range(3)]
    # v2: unanimous on each item, A on half of them and B on the others (alpha needs variation).
    answers = {1: [["A", "B", "tie"]] * 4, 2: [["A"] * 3, ["B"] * 3] * 2}
    seconds = {1: 5.0, 2: 20.0}
    for version, per_item in answers.items():
        for choices in per_item:
            item = ItemFactory.create(stream=stream)
            for user, choice in zip(annotators, choices, strict=True):
                JudgementFactory.create(
                    assignment__item=item,
                    assignment__annotator=user,
                    choice=choice,
                    guideline_version=version,
                    active_seconds=seconds[version],
                )
        golden = ItemFactory.create(stream=stream, is_golden=True, golden_answers=["B"])
        for user in annotators:
            JudgementFactory.create(
                assignment__item=golden,
                assignment__annotator=user,
                choice="A" if version == 1 else "B",
                guideline_version=version,
                active_seconds=seconds[version],
            )
    # One judgement from before versions were recorded.
    JudgementFactory.create(assignment__item=ItemFactory.create(stream=stream), choice="A", guideline_version=None)
    return stream


def test_it_splits_agreement_gold_accuracy_and_time_by_version(stream: Any) -> None:
    rows = figures_by_guideline_version(stream=stream)
    assert [row.number for row in rows] == [None, 1, 2]
    before, v1, v2 = rows
    assert before.version is None
    assert before.figures["judgements"].sample_size == 1
    assert (v1.figures["judgements"].sample_size, v2.figures["judgements"].sample_size) == (15, 15)
    assert v1.figures["alpha_nominal"].value is not None
    assert v1.figures["alpha_nominal"].value < 0
    assert v2.figures["alpha_nominal"].value == 1.0
    assert v1.figures["alpha_nominal"].sample_size == v2.figures["alpha_nominal"].sample_size == 12
    assert (v1.figures["gold_accuracy"].value, v1.figures["gold_accuracy"].sample_size) == (0.0, 3)
    assert (v2.figures["gold_accuracy"].value, v2.figures["gold_accuracy"].sample_size) == (1.0, 3)
    assert v2.gold_interval is not None
    assert v2.gold_interval[0] == pytest.approx(0.2924, abs=1e-3)  # exact 95% interval of 3/3
    assert v2.gold_interval[1] == 1.0
    assert (v1.figures["labeling_time"].value, v2.figures["labeling_time"].value) == (5.0, 20.0)
    assert v2.version is not None
    assert v2.version.change_note == "Ties are rare"


def test_the_quality_page_shows_the_split_when_asked(client: Client, stream: Any) -> None:
    pm = UserFactory.create()
    MembershipFactory.create(project=stream.project, user=pm, role=Role.PM)
    client.force_login(pm)
    url = reverse("qc:stream_qc", args=[stream.pk])
    plain = client.get(url).content.decode()
    assert "Split the figures by guideline version" in plain
    assert "Ties are rare" not in plain
    body = client.get(url + "?split=version").content.decode()
    assert 'id="guideline-split"' in body
    assert "Ties are rare" in body
    assert "before versions were recorded" in body
    assert "20.0 s" in body
    assert f'href="/streams/{stream.pk}/guidelines/2/"' in body
