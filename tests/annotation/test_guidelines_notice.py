"""Judgements record the guideline version they were made under; an annotator sees a "guidelines
changed" notice with the diff the first time they open the stream after a change, until they
acknowledge it."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from annotation import services
from annotation.models import Assignment, Judgement
from projects import services as project_services
from projects.models import GuidelineVersion, StreamMembership
from tests.annotation.conftest import claim_next, make_annotator
from tests.factories import ItemFactory, StreamFactory, UserFactory

pytestmark = pytest.mark.django_db

HTMX: dict[str, Any] = {"HTTP_HX_REQUEST": "true"}


def _stream(**fields: Any) -> Any:
    stream = StreamFactory.create(overlap=3, status="active", guidelines="Be brief.\nBe kind.", **fields)
    GuidelineVersion.objects.create(stream=stream, number=1, text=stream.guidelines)  # as create_stream does
    for _ in range(4):
        ItemFactory.create(stream=stream)
    return stream


def _submit(stream: Any, annotator: Any) -> Judgement:
    assignment = claim_next(stream=stream, annotator=annotator)
    key = services.idempotency_key(assignment_id=assignment.pk, token="t")
    return services.submit_judgement(assignment=assignment, idempotency_key=key, choice="A").judgement


def _acknowledged(stream: Any, user: Any) -> int:
    return StreamMembership.objects.get(stream=stream, user=user).guidelines_acknowledged


def test_it_records_the_version_current_at_submit_on_each_judgement() -> None:
    stream = _stream()
    alice = make_annotator(stream)
    first = _submit(stream, alice)
    project_services.update_stream(stream=stream, guidelines="Be brief.\nBe honest.")
    stream.refresh_from_db()
    second = _submit(stream, alice)
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.guideline_version, second.guideline_version) == (1, 2)


def test_a_web_submit_records_the_version(client: Client) -> None:
    stream = _stream()
    project_services.update_stream(stream=stream, guidelines="v2")
    alice = make_annotator(stream)
    client.force_login(alice)
    client.get(reverse("annotation:work", args=[stream.pk]))
    assignment = Assignment.objects.get(annotator=alice)
    client.post(
        reverse("annotation:submit", args=[assignment.pk]),
        {"token": services.lease_token(assignment), "choice": "B", "strength": "2"},
    )
    assert Judgement.objects.get(annotator=alice).guideline_version == 2


def test_the_first_open_records_the_version_the_annotator_starts_under(client: Client) -> None:
    stream = _stream()
    project_services.update_stream(stream=stream, guidelines="Be brief.\nBe honest.")
    alice = make_annotator(stream)  # acknowledged 0: invited outside the service
    client.force_login(alice)
    body = client.get(reverse("annotation:work", args=[stream.pk])).content.decode()
    assert 'id="guidelines-notice"' not in body  # nothing changed since she started
    assert _acknowledged(stream, alice) == 2


def test_an_invited_member_starts_at_the_current_version() -> None:
    stream = _stream()
    project_services.update_stream(stream=stream, guidelines="v2")
    stream.refresh_from_db()
    user = UserFactory.create()
    project_services.add_member(project=stream.project, username=user.username, role="annotator", streams=[stream])
    assert _acknowledged(stream, user) == 2


def test_it_shows_the_changes_once_until_acknowledged(client: Client) -> None:
    stream = _stream()
    alice = make_annotator(stream)
    client.force_login(alice)
    work = reverse("annotation:work", args=[stream.pk])
    client.get(work)  # starts under version 1
    project_services.update_stream(
        stream=stream, guidelines="Be brief.\nBe <b>honest</b>.", change_note="Honesty over kindness"
    )
    body = client.get(work).content.decode()
    assert 'id="guidelines-notice"' in body
    assert "v1 → v2" in body
    assert "Honesty over kindness" in body
    assert '<del><span class="gdiff-mark" aria-label="removed">−</span>Be kind.</del>' in body
    assert "Be &lt;b&gt;honest&lt;/b&gt;." in body  # the diff is text, escaped
    assert 'id="judge-form"' in body  # the item is there too: the notice does not block it
    # The stream page shows it as well.
    assert 'id="guidelines-notice"' in client.get(reverse("annotation:stream_home", args=[stream.pk])).content.decode()

    ack = reverse("annotation:guidelines_acknowledge", args=[stream.pk])
    response = client.post(ack, {"version": 2})
    assert response.status_code == 302
    assert response["Location"] == work
    assert _acknowledged(stream, alice) == 2
    assert 'id="guidelines-notice"' not in client.get(work).content.decode()


def test_the_htmx_acknowledgement_removes_the_notice_and_never_goes_backwards(client: Client) -> None:
    stream = _stream()
    alice = make_annotator(stream)
    client.force_login(alice)
    client.get(reverse("annotation:work", args=[stream.pk]))
    for text in ("two", "three"):
        project_services.update_stream(stream=stream, guidelines=text)
    ack = reverse("annotation:guidelines_acknowledge", args=[stream.pk])
    response = client.post(ack, {"version": 3}, **HTMX)
    assert response.status_code == 200
    assert response.content == b""
    client.post(ack, {"version": 2}, **HTMX)
    assert _acknowledged(stream, alice) == 3
    client.post(ack, {"version": 99}, **HTMX)  # never beyond the current version
    assert _acknowledged(stream, alice) == 3


def test_the_notice_shows_after_an_htmx_submit_when_the_text_changed_meanwhile(client: Client) -> None:
    stream = _stream()
    alice = make_annotator(stream)
    client.force_login(alice)
    client.get(reverse("annotation:work", args=[stream.pk]))
    assignment = Assignment.objects.get(annotator=alice)
    project_services.update_stream(stream=stream, guidelines="Be brief.")
    response = client.post(
        reverse("annotation:submit", args=[assignment.pk]),
        {"token": services.lease_token(assignment), "choice": "A", "strength": "1"},
        **HTMX,
    )
    body = response.content.decode()
    assert 'id="guidelines-notice"' in body
    assert Judgement.objects.get(annotator=alice).guideline_version == 2


def test_the_acknowledgement_is_for_members_of_the_stream_only(client: Client) -> None:
    stream = _stream()
    ack = reverse("annotation:guidelines_acknowledge", args=[stream.pk])
    client.force_login(UserFactory.create())
    assert client.post(ack, {"version": 1}).status_code == 404
    alice = make_annotator(stream)
    client.force_login(alice)
    assert client.get(ack).status_code == 405
    assert client.post(ack, {"version": "x"}).status_code == 400
