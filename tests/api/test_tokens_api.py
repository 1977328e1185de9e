from __future__ import annotations

from typing import Any

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


def test_it_caps_the_active_tokens_of_a_user(world: World, settings: Any) -> None:
    settings.QUORUM_MAX_API_TOKENS_PER_USER = 3
    client = world.client(world.pm)  # the first active token
    created = [client.post("/api/tokens/", {"name": f"t{n}"}, format="json").status_code for n in range(2)]
    assert created == [201, 201]
    refused = client.post("/api/tokens/", {"name": "one too many"}, format="json")
    assert refused.status_code == 400
    assert refused.json() == {"detail": "You already have 3 active API tokens, the most allowed; revoke one first."}
    assert ApiToken.objects.filter(user=world.pm).count() == 3
    # Revoking one makes room again.
    other = ApiToken.objects.filter(user=world.pm, name="t0").get()
    assert client.delete(f"/api/tokens/{other.pk}/").status_code == 204
    assert client.post("/api/tokens/", {"name": "replacement"}, format="json").status_code == 201
