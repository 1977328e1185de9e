"""The stream settings API carries a stream's purpose and its tags (``PATCH /api/streams/<id>/``),
validated like the stream form."""

from __future__ import annotations

from tests.api.conftest import World


def test_the_api_reads_and_changes_the_purpose(world: World) -> None:
    url = f"/api/streams/{world.stream.pk}/"
    assert world.client(world.pm).get(url).json()["purpose"] == ""
    response = world.client(world.pm).patch(
        url, {"purpose": "Safety: self-harm", "purpose_safety": "self-harm"}, format="json"
    )
    assert response.status_code == 200, response.content
    assert response.json()["purpose"] == "Safety: self-harm"
    world.stream.refresh_from_db()
    assert world.stream.purpose_safety == "self-harm"
    bad = world.client(world.pm).patch(url, {"purpose_language": "de_DE"}, format="json")
    assert bad.status_code == 400
    assert "purpose_language" in bad.json()
    assert world.client(world.reviewer).patch(url, {"purpose": "x"}, format="json").status_code == 403
