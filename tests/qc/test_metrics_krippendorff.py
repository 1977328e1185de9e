"""Krippendorff's canonical reliability example, entered as judgements through the services.

"Computing Krippendorff's Alpha-Reliability" (Krippendorff 2011): 4 coders × 12 units with
missing values. Published: interval 0.849, ordinal 0.815 (nominal 0.743), the values the
``krippendorff`` package documents for the same matrix.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import pytest

from annotation import services as annotation
from annotation.models import Assignment, Item
from projects.models import Stream
from qc import metrics
from qc.models import MetricSnapshot
from qc.services import compute_stream_metrics
from tests.factories import ItemFactory, StreamFactory, UserFactory

pytestmark = pytest.mark.django_db

_: int | None = None
# Rows: coders A–D; columns: units 1–12; None = the coder did not rate the unit.
RELIABILITY_DATA: list[list[int | None]] = [
    [1, 2, 3, 3, 2, 1, 4, 1, 2, _, _, _],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, _, 3],
    [_, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, _],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, _],
]


def _as_preference(value: int) -> dict[str, Any]:
    """1–2 prefer A (much, slightly), 3 tie, 4–5 prefer B (slightly, much)."""
    answers: dict[int, dict[str, Any]] = {
        1: {"choice": "A", "strength": 3},
        2: {"choice": "A", "strength": 1},
        3: {"choice": "tie"},
        4: {"choice": "B", "strength": 1},
        5: {"choice": "B", "strength": 3},
    }
    return answers[value]


def _as_rubric(value: int) -> dict[str, Any]:
    """The value as the helpfulness rating (0–4) of response A; the choice is incidental."""
    return {"choice": "A", "rubric": {"helpfulness": [value - 1, None]}}


def _enter(stream: Stream, answer: Any) -> None:
    """Each coder works through the stream's queue in unit order: claim the next item, submit the
    coder's value, or skip the unit the coder left empty."""
    for row in RELIABILITY_DATA:
        coder = UserFactory.create()
        for value in row:
            assignment = annotation.claim_next(stream=stream, annotator=coder)
            if assignment is None:
                break
            if value is None:
                annotation.skip_assignment(assignment=assignment, reason=Assignment.SkipReason.CANNOT_JUDGE)
                continue
            key = annotation.idempotency_key(assignment_id=assignment.pk, token=annotation.lease_token(assignment))
            annotation.submit_judgement(assignment=assignment, idempotency_key=key, active_seconds=30, **answer(value))


def _stream(**fields: Any) -> Stream:
    stream = StreamFactory.create(overlap=4, **fields)
    # Unit order = queue order: highest priority first.
    for unit in range(12):
        ItemFactory.create(stream=stream, external_id=f"unit-{unit + 1}", priority=100 - unit)
    return stream


def test_it_matches_the_package_on_the_published_matrix() -> None:
    data = [[np.nan if v is None else v for v in row] for row in RELIABILITY_DATA]
    import krippendorff

    assert round(krippendorff.alpha(reliability_data=data, level_of_measurement="interval"), 3) == 0.849
    assert round(krippendorff.alpha(reliability_data=data, level_of_measurement="ordinal"), 3) == 0.815
    assert round(krippendorff.alpha(reliability_data=data, level_of_measurement="nominal"), 3) == 0.743


def test_it_reproduces_interval_alpha_from_rubric_ratings() -> None:
    stream = _stream(rubric=["helpfulness"])
    _enter(stream, _as_rubric)
    result = compute_stream_metrics(stream=stream)
    figure = result.windows["all"].stream["alpha_interval"]
    assert figure.value is not None
    assert round(figure.value, 3) == 0.849
    # Pairable values: every rating in a unit rated at least twice (unit 12 has one).
    assert figure.sample_size == 40
    assert figure.details["attributes"]["helpfulness"]["value"] == pytest.approx(0.849, abs=5e-4)


def test_it_reproduces_ordinal_alpha_from_signed_preference_strength() -> None:
    stream = _stream()
    _enter(stream, _as_preference)
    result = compute_stream_metrics(stream=stream)
    figure = result.windows["all"].stream["alpha_ordinal"]
    assert figure.value is not None
    assert round(figure.value, 3) == 0.815
    assert figure.sample_size == 40
    # The same judgements as snapshots, with their sample size.
    snapshot = MetricSnapshot.objects.get(stream=stream, annotator=None, metric="alpha_ordinal", window="all")
    assert (round(snapshot.value or 0, 3), snapshot.sample_size) == (0.815, 40)


def test_it_reproduces_nominal_alpha_when_the_choice_is_the_value() -> None:
    # Five choices don't exist; nominal alpha on A/B/tie is checked on a 3-value recoding instead,
    # against the package on the same recoded matrix.
    recode = {1: "A", 2: "A", 3: "tie", 4: "B", 5: "B"}
    stream = _stream()
    _enter(stream, lambda v: {"choice": recode[v]})
    figure = compute_stream_metrics(stream=stream).windows["all"].stream["alpha_nominal"]
    codes = {"A": 0, "B": 1, "tie": 2}
    matrix = [[np.nan if v is None else codes[recode[v]] for v in row] for row in RELIABILITY_DATA]
    import krippendorff

    expected = krippendorff.alpha(reliability_data=matrix, level_of_measurement="nominal")
    assert figure.value == pytest.approx(expected, abs=1e-4)


def test_it_leaves_golden_items_out_of_alpha() -> None:
    stream = _stream()
    _enter(stream, _as_preference)
    # Made golden after the fact (the queue never serves golden items as ordinary work).
    Item.objects.filter(stream=stream, external_id="unit-7").update(is_golden=True, golden_answers=["B"])
    figure = compute_stream_metrics(stream=stream).windows["all"].stream["alpha_ordinal"]
    assert figure.sample_size == 36  # unit 7's four values are gone


def test_it_computes_the_contribution_alpha_from_coincidences_like_the_package() -> None:
    rng = np.random.default_rng(7)
    counts = rng.integers(0, 3, size=(200, 3))
    o = metrics.coincidences(counts)
    alpha, _n = metrics.krippendorff_alpha(counts, level="nominal", value_domain=[0, 1, 2])
    assert metrics.nominal_alpha_from_coincidences(o) == pytest.approx(alpha)


@pytest.mark.parametrize(
    ("level", "domain"),
    [("nominal", [0, 1, 2]), ("ordinal", [1, 2, 3, 4, 5]), ("interval", [0, 1, 2, 3, 4]), ("ordinal", [1, 2])],
)
def test_it_computes_alpha_like_the_package_on_random_value_counts(
    level: Literal["nominal", "ordinal", "interval"], domain: list[int]
) -> None:
    # qc.metrics computes alpha from the coincidence matrix itself (a units × values × values
    # array of the package took 1.5 GB at a million judgements); the package stays the oracle.
    import krippendorff

    rng = np.random.default_rng(11)
    for trial in range(25):
        units = int(rng.integers(5, 400))
        # Units of 0..5 values, some of one value only (not pairable), leaning to a unit's "truth".
        truth = rng.integers(0, len(domain), units)
        m = rng.integers(0, 6, units)
        counts = np.zeros((units, len(domain)), dtype=np.int64)
        for unit in range(units):
            agree = rng.random(int(m[unit])) < 0.3 + 0.6 * trial / 25
            values = np.where(agree, truth[unit], rng.integers(0, len(domain), int(m[unit])))
            np.add.at(counts[unit], values, 1)
        alpha, n = metrics.krippendorff_alpha(counts, level=level, value_domain=domain)
        pairable = counts[counts.sum(axis=1) >= 2]
        assert n == int(pairable.sum())
        expected = krippendorff.alpha(value_counts=pairable, value_domain=domain, level_of_measurement=level)
        assert alpha == pytest.approx(float(expected), rel=1e-12, abs=1e-12)


def test_it_leaves_alpha_undefined_without_variation_or_pairs() -> None:
    same = np.array([[3, 0, 0], [2, 0, 0], [1, 0, 0]])
    assert metrics.krippendorff_alpha(same, level="nominal", value_domain=[0, 1, 2]) == (None, 5)
    single = np.array([[1, 0, 0], [0, 1, 0]])
    assert metrics.krippendorff_alpha(single, level="interval", value_domain=[0, 1, 2]) == (None, 0)
    assert metrics.krippendorff_alpha(np.zeros((0, 5), dtype=np.int64), level="ordinal", value_domain=range(5)) == (
        None,
        0,
    )
