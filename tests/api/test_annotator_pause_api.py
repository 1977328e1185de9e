"""``POST /api/streams/<id>/annotators/<user_id>/pause/`` and ``.../resume/`` (PMs): the same
rules functions as the annotator's QC page, with a reason."""

from __future__ import annotations

from typing import Any

from rest_framework.test import APIClient

from projects.models import StreamMembership, StreamMembershipEvent
from qc.models import Alert
from tests.api.conftest import World
from tests.factories import StreamMembershipFactory, UserFactory

Status = StreamMembership.Status


def urls(world: World, user: Any) -> tuple[str, str]:
    base = f"/api/streams/{world.stream.pk}/annotators/{user.pk}"
    return f"{base}/pause/", f"{base}/resume/"


def test_a_pm_pauses_and_resumes_an_annotator_with_a_reason(world: World) -> None:
    sm = StreamMembershipFactory.create(stream=world.stream, user=world.annotator, status=Status.QUALIFIED)
    pause, resume = urls(world, world.annotator)
    api = world.client(world.pm)
    response = api.post(pause, {"reason": "Rushing through long items"}, format="json")
    assert response.status_code == 200, response.content
    assert response.json() == {
        "annotator": world.annotator.pk,
        "stream": world.stream.pk,
        "status": "paused",
        "reason": "Rushing through long items",
    }
    sm.refresh_from_db()
    assert sm.status == Status.PAUSED
    event = StreamMembershipEvent.objects.filter(stream_membership=sm).latest("id")
    assert (event.to_status, event.reason, event.actor) == ("paused", "Rushing through long items", world.pm)
    again = api.post(pause, {"reason": "twice"}, format="json")
    assert again.status_code == 409
    assert "(paused)" in again.json()["detail"]

    Alert.objects.create(
        stream=world.stream, annotator=world.annotator, kind="gold_accuracy_low", severity="critical", message="low"
    )
    session = APIClient()
    session.force_login(world.pm)
    resumed = session.post(resume, {"reason": "Talked it through"}, format="json")
    assert resumed.status_code == 200
    assert resumed.json()["status"] == "qualified"
    sm.refresh_from_db()
    assert sm.status == Status.QUALIFIED
    assert not Alert.objects.filter(annotator=world.annotator, acknowledged_at__isnull=True).exists()
    assert session.post(resume, {"reason": "again"}, format="json").status_code == 409


def test_it_needs_a_reason_a_member_and_a_pm(world: World, stranger: Any) -> None:
    StreamMembershipFactory(stream=world.stream, user=world.annotator, status=Status.QUALIFIED)
    pause, resume = urls(world, world.annotator)
    api = world.client(world.pm)
    missing = api.post(pause, {}, format="json")
    assert missing.status_code == 400
    assert "reason" in missing.json()
    assert api.post(pause, {"reason": "   "}, format="json").status_code == 400
    assert api.post(pause, {"reason": "x" * 501}, format="json").status_code == 400
    for user in (world.reviewer, world.annotator):
        assert world.client(user).post(pause, {"reason": "no"}, format="json").status_code == 403
        assert world.client(user).post(resume, {"reason": "no"}, format="json").status_code == 403
    assert world.client(world.outsider).post(pause, {"reason": "no"}, format="json").status_code == 404
    assert world.client(stranger).post(pause, {"reason": "no"}, format="json").status_code == 404
    # Someone who is not in the stream: 404, as on the QC page.
    nobody = UserFactory()
    assert api.post(urls(world, nobody)[0], {"reason": "no"}, format="json").status_code == 404
    other = f"/api/streams/{world.other_stream.pk}/annotators/{world.annotator.pk}/pause/"
    assert api.post(other, {"reason": "no"}, format="json").status_code == 404
    assert StreamMembership.objects.get(stream=world.stream, user=world.annotator).status == Status.QUALIFIED
