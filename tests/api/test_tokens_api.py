from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from projects.models import ApiToken
from tests.api.conftest import World
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db


def test_it_shows_a_new_key_once_and_stores_only_its_hash(world: World) -> None:
    client = world.client(world.pm)
    response = client.post("/api/tokens/", {"name": "trainer"}, format="json")
    assert response.status_code == 201
    key = response.json()["key"]
    assert key.startswith("qrm_")
    token = ApiToken.objects.get(pk=response.json()["id"])
    assert token.key_hash == ApiToken.hash_key(key)
    assert key not in str(ApiToken.objects.filter(pk=token.pk).values().get())
    listed = client.get("/api/tokens/").json()["results"]
    assert {t["name"] for t in listed} == {"trainer", "test"}
    assert all("key" not in t for t in listed)


def test_it_revokes_a_token(world: World) -> None:
    token, key = ApiToken.generate(user=world.pm, name="old")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert client.get("/api/projects/").status_code == 200
    assert world.client(world.pm).delete(f"/api/tokens/{token.pk}/").status_code == 204
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert client.get("/api/projects/").status_code == 401


def test_it_does_not_touch_other_peoples_tokens(world: World) -> None:
    token, _key = ApiToken.generate(user=world.annotator)
    assert world.client(world.pm).delete(f"/api/tokens/{token.pk}/").status_code == 404
    token.refresh_from_db()
    assert token.revoked_at is None


def test_it_requires_csrf_for_session_writes(world: World) -> None:
    client = APIClient(enforce_csrf_checks=True)
    assert client.login(username=world.pm.username, password=PASSWORD)
    assert client.get("/api/tokens/").status_code == 200
    assert client.post("/api/tokens/", {"name": "x"}, format="json").status_code == 403
