"""Per-axis QC figures of the multi-axis task kinds (``qc.metrics._per_axis``) against values
worked out by hand, and loaded from a real stream (``qc.services``)."""

from __future__ import annotations

from typing import Any, cast

import krippendorff
import numpy as np
import pytest
from django.test import Client
from django.urls import reverse

from annotation import services
from annotation.models import Assignment
from projects.models import Role, Stream
from qc import metrics
from qc import services as qc_services
from qc.models import MetricSnapshot
from tests.annotation.conftest import make_annotator
from tests.factories import ItemFactory, MembershipFactory, StreamFactory, UserFactory
from tests.qc.test_metrics_units import _stream_data

A, B, T = metrics.A, metrics.B, metrics.TIE

# Three annotators (0, 1, 2) judge the same three items; annotators 0 and 1 saw A first, 2 saw B first.
ITEM = np.array([0, 0, 0, 1, 1, 1, 2, 2, 2])
ANNOTATOR = np.array([0, 1, 2] * 3)
FIRST_SHOWN = np.array([0, 0, 1] * 3)
HELPFUL = np.array([A, A, A, B, B, A, A, B, T])
SAFER = np.array([B, B, B, A, A, A, B, B, A])
SAFETY = np.array([[1, 1], [1, 1], [1, 0], [0, 1], [0, 1], [0, 1], [1, 1], [1, 1], [1, 1]])


def _data() -> metrics.StreamData:
    data = _stream_data(annotator=ANNOTATOR, item=ITEM, active_seconds=np.full(9, 20.0), n_items=3)
    data.n_annotators = 3
    data.skipped = data.reviewed = data.rejected = np.zeros(3, dtype=np.int64)
    data.choice = HELPFUL.copy()  # the main axis is the judgement's choice
    data.first_shown = FIRST_SHOWN
    data.axes = {"helpful": HELPFUL, "safer": SAFER}
    data.safety = SAFETY
    return data


def test_it_computes_each_axis_as_worked_out_by_hand() -> None:
    figures = metrics.compute_figures(_data(), metrics.Thresholds(min_sample=1))
    axes = {entry["name"]: entry for entry in figures.stream["axes"].details["axes"]}
    assert list(axes) == ["helpful", "safer"]
    # helpful: coincidences AA 3, AB = BA 1.5, A-tie = B-tie 0.5 each way, BB 1; n_A 5, n_B 3, n_tie 1,
    # n 9: alpha = 1 − (n − 1)·Σ off-diagonal / (n² − Σ n_c²) = 1 − 8·5 / 46.
    assert axes["helpful"]["alpha_nominal"]["value"] == round(1 - 40 / 46, 4)
    assert axes["helpful"]["alpha_nominal"]["sample_size"] == 9
    # safer: AA 3, BB 4, AB = BA 1; n_A 4, n_B 5: 1 − 8·2 / 40.
    assert axes["safer"]["alpha_nominal"]["value"] == 0.6
    # Leave-one-out majority: helpful has 4 judgements with a strict majority of the others (item 0
    # three times, agreeing; annotator 2 on item 1, disagreeing); safer 7 (6 agree).
    assert (axes["helpful"]["agreement"]["value"], axes["helpful"]["agreement"]["sample_size"]) == (0.75, 4)
    assert (axes["safer"]["agreement"]["value"], axes["safer"]["agreement"]["sample_size"]) == (round(6 / 7, 4), 7)
    # Position: helpful picked the response shown first 3 times of 8 A/B answers; safer 3 of 9.
    assert (axes["helpful"]["position_bias"]["value"], axes["helpful"]["position_bias"]["sample_size"]) == (0.375, 8)
    assert (axes["safer"]["position_bias"]["value"], axes["safer"]["position_bias"]["sample_size"]) == (0.3333, 9)
    # The figure's value: the lowest alpha of the axes.
    assert figures.stream["axes"].value == round(1 - 40 / 46, 4)
    assert figures.stream["axes"].sample_size == 9


def test_the_main_axis_keeps_the_pairwise_figures() -> None:
    data = _data()
    figures = metrics.compute_figures(data, metrics.Thresholds(min_sample=1))
    helpful = figures.stream["axes"].details["axes"][0]
    assert figures.stream["alpha_nominal"].value == helpful["alpha_nominal"]["value"]
    assert figures.stream["agreement"].value == helpful["agreement"]["value"]
    assert figures.stream["position_bias"].value == helpful["position_bias"]["value"]
    # A stream without axes gets no "axes" figure.
    data.axes = {}
    assert "axes" not in metrics.compute_figures(data, metrics.Thresholds(min_sample=1)).stream


def test_it_computes_the_safety_flags_alpha_by_hand_and_like_the_package() -> None:
    figures = metrics.compute_figures(_data(), metrics.Thresholds(min_sample=1))
    safe = figures.stream["axes"].details["safe_alpha"]
    # Units (item, response): five unanimous ones (4 × safe, 1 × unsafe) and one 2 safe : 1 unsafe:
    # n_unsafe 4, n_safe 14, n 18, off-diagonal 2: 1 − 17·2 / (2·4·14).
    assert safe["value"] == round(1 - 34 / 112, 4)
    assert safe["sample_size"] == 18
    assert safe["unsafe_share"] == round(4 / 18, 4)
    reliability = np.full((3, 6), np.nan)
    for row in range(9):
        for response in range(2):
            reliability[ANNOTATOR[row], ITEM[row] * 2 + response] = SAFETY[row, response]
    expected = krippendorff.alpha(reliability_data=reliability, level_of_measurement="nominal")
    assert safe["value"] == round(float(expected), 4)


def test_each_annotator_gets_their_axes() -> None:
    figures = metrics.compute_figures(_data(), metrics.Thresholds(min_sample=1))
    third = {entry["name"]: entry for entry in figures.annotators[2]["axes"].details["axes"]}
    # Annotator 2: helpful — item 0 agrees, item 1 disagrees; safer — items 0 and 1 agree, item 2 not.
    assert (third["helpful"]["agreement"]["value"], third["helpful"]["agreement"]["sample_size"]) == (0.5, 2)
    assert (third["safer"]["agreement"]["value"], third["safer"]["agreement"]["sample_size"]) == (round(2 / 3, 4), 3)
    # They saw B first: helpful A, A, A (item 2's tie left out) — never the first shown.
    assert third["helpful"]["position_bias"]["value"] == 0.0


def test_a_window_keeps_the_axes_of_its_judgements() -> None:
    data = _data()
    keep = ITEM < 2
    window = data.select(keep, skipped=data.skipped, reviewed=data.reviewed, rejected=data.rejected)
    assert window.axes["safer"].tolist() == SAFER[keep].tolist()
    assert window.safety.tolist() == SAFETY[keep].tolist()


# --- From a stream ------------------------------------------------------------------------------
@pytest.mark.django_db
def test_the_recompute_loads_the_attributes_of_a_per_attribute_stream() -> None:
    stream = cast(
        Stream,
        StreamFactory(
            task_kind="attribute_pairwise", attributes=["correctness", "style"], overlap=2, golden_rate=0, min_sample=1
        ),
    )
    items = [ItemFactory(stream=stream) for _ in range(2)]
    people = [make_annotator(stream) for _ in range(2)]
    answers = {  # (item, person) -> canonical (correctness, style)
        (0, 0): ("A", "B"),
        (0, 1): ("A", "A"),
        (1, 0): ("B", "tie"),
        (1, 1): ("B", "tie"),
    }
    for person_index, person in enumerate(people):
        for _ in items:
            assignment = services.claim_next(stream=stream, annotator=person)
            assert assignment is not None
            correctness, style = answers[items.index(cast(Any, assignment.item)), person_index]
            services.submit_judgement(
                assignment=assignment,
                idempotency_key=f"{assignment.pk}",
                choice=correctness,
                strength=1 if correctness != "tie" else None,
                axes={"attributes": {"correctness": correctness, "style": style}},
            )
    assert Assignment.objects.filter(status="submitted").count() == 4
    qc_services.compute_stream_metrics(stream=stream)
    snapshot = MetricSnapshot.objects.get(stream=stream, annotator=None, metric="axes", window="all")
    axes = {entry["name"]: entry for entry in snapshot.details["axes"]}
    assert list(axes) == ["correctness", "style"]
    assert axes["correctness"]["alpha_nominal"]["value"] == 1.0
    assert axes["correctness"]["agreement"]["value"] == 1.0
    # style: item 0 split (B / A), item 1 tie / tie: 2 of 4 agree with the other annotator.
    assert axes["style"]["agreement"]["value"] == 0.5
    assert axes["style"]["answers"] == 4
    # The Quality page shows them, one row per attribute, names escaped.
    pm: Any = UserFactory(username="boss")
    MembershipFactory(project=stream.project, user=pm, role=Role.PM)
    client = Client()
    client.force_login(pm)
    page = client.get(reverse("qc:stream_qc", args=[stream.pk])).content.decode()
    assert "Per attribute" in page
    assert '<th scope="row">correctness</th>' in page
    assert '<th scope="row">style</th>' in page


@pytest.mark.django_db
def test_the_quality_page_of_a_stream_without_figures_says_so() -> None:
    stream = cast(Stream, StreamFactory(task_kind="helpful_safe"))
    pm: Any = UserFactory(username="boss")
    MembershipFactory(project=stream.project, user=pm, role=Role.PM)
    client = Client()
    client.force_login(pm)
    page = client.get(reverse("qc:stream_qc", args=[stream.pk])).content.decode()
    assert "Per axis" in page
    assert "No figures yet" in page
