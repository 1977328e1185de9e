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
