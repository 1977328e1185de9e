"""JSON nested 1,000+ levels deep is a 400 with a clear message on every JSON endpoint, for any
signed-in user (it was a RecursionError: HTTP 500 and a traceback)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from quorum.parsers import MAX_JSON_DEPTH, json_depth_exceeds
from tests.api.conftest import World


def _nested(depth: int) -> str:
    return '{"name": ' + "[" * depth + "]" * depth + "}"


@pytest.mark.parametrize("depth", [1_000, 100_000])
def test_a_deeply_nested_body_is_a_400_for_an_annotator(world: World, depth: int) -> None:
    client = world.client(world.annotator)
    response = client.post(reverse("api-tokens"), _nested(depth), content_type="application/json")
    assert response.status_code == 400
    assert f"nested deeper than {MAX_JSON_DEPTH} levels" in response.json()["detail"]


def test_a_deeply_nested_import_is_a_400_for_a_pm(world: World) -> None:
    url = reverse("api-items-import", args=[world.stream.pk])
    body = '{"format": "native", "data": [' + '{"a":' * 5_000 + "1" + "}" * 5_000 + "]}"
    response = world.client(world.pm).post(url, body, content_type="application/json")
    assert response.status_code == 400
    assert "nested deeper than" in response.json()["detail"]


def test_the_depth_is_counted_as_defined() -> None:
    assert not json_depth_exceeds(1, 0)
    assert json_depth_exceeds([], 0)
    assert not json_depth_exceeds({"a": [1, {"b": []}]}, 4)
    assert json_depth_exceeds({"a": [1, {"b": []}]}, 3)
    assert not json_depth_exceeds([[[]] * 3] * 3, 3)
