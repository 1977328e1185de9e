"""qc.services._load: a stream's judgements read into ``metrics.StreamData`` column by column, on
PostgreSQL (binary records through a server-side cursor, rubric ratings taken from the JSON by
SQL) and on SQLite (the embedded mode) alike. The suite runs on either backend."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import numpy as np
import pytest
from django.utils import timezone

from annotation.models import Item
from qc import metrics
from qc.services import _columns, _load
from tests.factories import ItemFactory, StreamFactory, UserFactory
from tests.qc.helpers import judge

pytestmark = pytest.mark.django_db

THREE = [
    {"text": "First response, in full.", "model": "a", "metadata": {}},
    {"text": "Second.", "model": "b", "metadata": {}},
    {"text": "Third one.", "model": "c", "metadata": {}},
]


def test_it_reads_every_column_of_every_current_judgement() -> None:
    stream = StreamFactory.create(rubric=["helpfulness", "correctness"])
    golden = ItemFactory.create(stream=stream, is_golden=True, golden_answers=["A"], golden_harmful=True)
    plain = ItemFactory.create(stream=stream)
    ItemFactory.create(stream=stream)  # unjudged
    qualification = ItemFactory.create(stream=stream, pool=Item.Pool.QUALIFICATION)
    ann, bob = UserFactory.create(), UserFactory.create()
    now = timezone.now()
    first = judge(plain, bob, {"choice": "B", "strength": 3, "display_order": [1, 0], "active_seconds": 12.5})
    second = judge(plain, ann, {"choice": "tie", "active_seconds": None, "flag_harmful": True})
    third = judge(golden, ann, {"choice": "A", "flag_harmful": True, "display_order": [0, 1], "active_seconds": 3.0})
    judge(qualification, ann, "A")  # not a QC figure
    stale = judge(golden, bob, "B")
    stale.is_current = False  # superseded: not read
    stale.save(update_fields=["is_current"])

    data, annotator_ids, _recent = _load(stream, now - timedelta(days=7))

    assert annotator_ids == sorted([ann.pk, bob.pk])
    assert (data.n, data.n_items) == (3, 2)  # items with a current judgement only
    order = [first, second, third]  # by judgement id
    items = [plain, plain, golden]
    item_index = {golden.pk: int(golden.pk > plain.pk), plain.pk: int(plain.pk > golden.pk)}
    assert data.item.tolist() == [item_index[i.pk] for i in items]
    assert data.annotator.tolist() == [annotator_ids.index(j.annotator_id) for j in order]
    assert data.choice.tolist() == [metrics.B, metrics.TIE, metrics.A]
    assert data.strength.tolist() == [3, 0, 0]
    assert data.first_shown.tolist() == [1, 0, 0]
    assert np.array_equal(data.active_seconds, [12.5, np.nan, 3.0], equal_nan=True)
    # POSIX seconds; SQLite's julianday keeps about a millisecond.
    assert data.submitted_at.tolist() == pytest.approx([j.submitted_at.timestamp() for j in order], abs=2e-3)
    assert data.flag_harmful.tolist() == [False, True, True]
    assert data.gold_correct.tolist() == [-1, -1, 1]
    golden_index = item_index[golden.pk]
    assert data.item_golden.tolist() == [index == golden_index for index in range(2)]
    assert data.item_harmful.tolist() == [index == golden_index for index in range(2)]
    assert data.len_a[golden_index] == len(golden.responses[0]["text"])
    assert data.len_b[golden_index] == len(golden.responses[1]["text"])
    for array in (data.item, data.annotator, data.choice, data.gold_correct, data.rubric_row, data.len_a):
        assert array.dtype == np.int64
    assert data.active_seconds.dtype == data.submitted_at.dtype == np.float64


def test_it_reads_only_integer_ratings_of_the_streams_attributes() -> None:
    stream = StreamFactory.create(rubric=["helpfulness", "correctness"])
    pair = ItemFactory.create(stream=stream)
    triple = ItemFactory.create(stream=stream, responses=THREE)
    rubrics: list[dict[str, Any]] = [
        {"helpfulness": [4, 0], "correctness": [2, None]},
        # 3.0, "3", true, 5 and -1 are not ratings; an unknown attribute or a non-list is ignored.
        {"helpfulness": [3.0, "3"], "correctness": [True, 5], "style": [1, 1]},
        {"helpfulness": 3, "correctness": [-1, 1]},
        {},
    ]
    for rubric in rubrics:
        judge(pair, UserFactory.create(), {"choice": "A", "rubric": rubric})
    judge(triple, UserFactory.create(), {"choice": "B", "rubric": {"correctness": [0, 1, 2], "helpfulness": [1]}})

    data, _ids, _recent = _load(stream, timezone.now() - timedelta(days=7))

    ratings = list(
        zip(
            data.rubric_row.tolist(),
            data.rubric_attribute.tolist(),
            data.rubric_response.tolist(),
            data.rubric_value.tolist(),
            strict=True,
        )
    )
    # (judgement row, attribute index, response index, rating), by row, attribute, response.
    assert ratings == [
        (0, 0, 0, 4),
        (0, 0, 1, 0),
        (0, 1, 0, 2),
        (2, 1, 1, 1),
        (4, 0, 0, 1),
        (4, 1, 0, 0),
        (4, 1, 1, 1),
        (4, 1, 2, 2),
    ]
    assert data.rubric_attributes == ["helpfulness", "correctness"]


def test_it_returns_empty_columns_for_a_stream_without_judgements() -> None:
    stream = StreamFactory.create(rubric=["helpfulness"])
    ItemFactory.create(stream=stream)
    data, annotator_ids, _recent = _load(stream, timezone.now())
    assert (data.n, data.n_items, annotator_ids, data.rubric_row.tolist()) == (0, 0, [], [])
    figures = metrics.compute_figures(data, metrics.Thresholds())
    assert figures.stream["alpha_nominal"].value is None


def test_it_keeps_the_values_of_each_wire_type() -> None:
    values = [(2**40 + 7, -32768, 2**31 - 1, -1.5e-300), (-(2**62), 32767, -(2**31), 1 / 3)]
    sql = " UNION ALL ".join(["SELECT %s, %s, %s, %s"] * len(values))
    params = [value for row in values for value in row]
    columns = _columns((sql, params), ["int8", "int2", "int4", "float8"])
    assert [column.dtype for column in columns] == [np.int64, np.int16, np.int32, np.float64]
    assert sorted(zip(*(column.tolist() for column in columns), strict=True)) == sorted(values)
