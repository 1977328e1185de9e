from __future__ import annotations

import json

import pytest

from annotation.models import Item
from tests.api.conftest import World

pytestmark = pytest.mark.django_db


def _jsonl(*records: object) -> str:
    return "\n".join(json.dumps(r, ensure_ascii=False) for r in records) + "\n"


def test_it_imports_items_through_the_importer(world: World) -> None:
    data = _jsonl(
        {"id": "q1", "prompt": "Hi 😀\u2028there", "responses": ["Hello", "Hey"]},
        {"id": "q2", "prompt": "Bye", "responses": ["Ciao", "Adieu"]},
    )
    url = f"/api/streams/{world.stream.pk}/items/import/"
    response = world.client(world.pm).post(url, {"format": "native", "data": data}, format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["created"] == 2
    assert Item.objects.get(stream=world.stream, external_id="q1").context[0]["content"] == "Hi 😀\u2028there"
    again = world.client(world.pm).post(url, {"data": data}, format="json")  # idempotent re-import
    assert again.json()["unchanged"] == 2
    assert Item.objects.filter(stream=world.stream).count() == 2


def test_it_reports_invalid_lines_and_writes_nothing(world: World) -> None:
    data = _jsonl({"id": "ok", "prompt": "Hi", "responses": ["a", "b"]}, {"id": "bad", "prompt": "Hi"})
    response = world.client(world.pm).post(
        f"/api/streams/{world.stream.pk}/items/import/", {"data": data}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["line"] == 2
    assert not Item.objects.filter(stream=world.stream).exists()


def test_it_lets_only_pms_import(world: World) -> None:
    url = f"/api/streams/{world.stream.pk}/items/import/"
    body = {"data": _jsonl({"prompt": "Hi", "responses": ["a", "b"]})}
    assert world.client(world.reviewer).post(url, body, format="json").status_code == 403
    assert world.client(world.outsider).post(url, body, format="json").status_code == 404
    assert world.client(world.pm).post(url, {"format": "xml", "data": "x"}, format="json").status_code == 400


def test_the_api_detects_by_default_and_returns_the_hint(world: World) -> None:
    url = f"/api/streams/{world.stream.pk}/items/import/"
    client = world.client(world.pm)
    created = client.post(
        url,
        {"data": _jsonl({"instruction": "Say hi", "output_1": "Hi", "output_2": "Hello", "preference": 1})},
        format="json",
    )
    assert created.status_code == 201, created.json()
    assert (created.json()["format"], created.json()["detected"]) == (
        "mapped",
        "AlpacaEval pairs (instruction/output_1/output_2)",
    )
    wrong = client.post(
        url,
        {"format": "hh", "data": _jsonl(*({"prompt": f"Q{n}", "responses": ["a", "b"]} for n in range(3)))},
        format="json",
    )
    assert wrong.status_code == 400
    assert (
        wrong.json()["hint"]
        == "this file looks like Quorum's native format (prompt or context, responses); choose format 'native'"
    )
    unsure = client.post(url, {"data": _jsonl({"messages": [{"role": "user", "content": "Hi"}]})}, format="json")
    assert unsure.status_code == 400
    assert "OpenAI chat messages" in unsure.json()["detail"]
