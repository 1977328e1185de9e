"""The example gallery: reviewers and PMs mark judgements from the review page; the stream's
annotators see the gallery without any name (no username, user id or e-mail in its HTML or API);
golden items and test questions cannot be marked; an example waits until its item is settled."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from annotation.models import Item, Judgement
from projects.models import ApiToken, Role, Stream
from qc.models import GalleryExample, ReviewTask
from tests.annotation.conftest import make_annotator
from tests.factories import (
    AssignmentFactory,
    ItemFactory,
    JudgementFactory,
    MembershipFactory,
    StreamFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

HTMX: dict[str, Any] = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def world() -> dict[str, Any]:
    stream: Any = StreamFactory.create(status=Stream.Status.ACTIVE, overlap=1)
    pm = UserFactory.create(username="pm-petra-unique", email="petra@pm.example")
    MembershipFactory.create(project=stream.project, user=pm, role=Role.PM)
    reviewer = UserFactory.create(username="rev-rita-unique", email="rita@rev.example")
    MembershipFactory.create(project=stream.project, user=reviewer, role=Role.REVIEWER)
    author = make_annotator(stream, "author-alice-unique")
    author.email = "alice@author.example"
    author.save()
    viewer = make_annotator(stream, "viewer-victor")
    item = ItemFactory.create(
        stream=stream,
        context=[{"role": "user", "content": "Explain <script>alert(1)</script> tags"}],
        responses=[
            {"text": "Answer one", "model": "secret-model-a"},
            {"text": "Answer two", "model": "secret-model-b"},
        ],
        is_open=False,
        claim_count=1,
        judgement_count=1,
    )
    judgement = JudgementFactory.create(
        assignment__item=item, assignment__annotator=author, choice="B", strength=2, rationale="signed: alice"
    )
    task = ReviewTask.objects.create(judgement=judgement, stream=stream, reason=ReviewTask.Reason.SAMPLE)
    return {
        "stream": stream,
        "pm": pm,
        "reviewer": reviewer,
        "author": author,
        "viewer": viewer,
        "item": item,
        "judgement": judgement,
        "task": task,
    }


def _mark(client: Client, world: dict[str, Any], headers: dict[str, Any] | None = None, **data: Any) -> Any:
    url = reverse("qc:gallery_mark", args=[world["stream"].pk, world["judgement"].pk])
    return client.post(url, {"kind": "exemplary", "note": "Cites the <b>docs</b>.", **data}, **(headers or {}))


def test_the_review_page_offers_to_add_the_judgement_to_the_gallery(client: Client, world: dict[str, Any]) -> None:
    client.force_login(world["reviewer"])
    body = client.get(reverse("qc:review_queue", args=[world["stream"].pk])).content.decode()
    assert 'id="gallery-mark"' in body
    assert reverse("qc:gallery_mark", args=[world["stream"].pk, world["judgement"].pk]) in body


def test_a_reviewer_marks_a_judgement_and_marking_again_changes_it(client: Client, world: dict[str, Any]) -> None:
    client.force_login(world["reviewer"])
    response = _mark(client, world)
    assert response.status_code == 302
    example = GalleryExample.objects.get(judgement=world["judgement"])
    assert (example.kind, example.note, example.marked_by, example.stream) == (
        "exemplary",
        "Cites the <b>docs</b>.",
        world["reviewer"],
        world["stream"],
    )
    response = _mark(client, world, kind="instructive_mistake", note="Misses the question.", headers=HTMX)
    assert response.status_code == 200
    assert "In the gallery as instructive mistake." in response.content.decode()
    assert GalleryExample.objects.get().kind == "instructive_mistake"


def test_it_refuses_golden_items_test_questions_and_bad_forms(client: Client, world: dict[str, Any]) -> None:
    client.force_login(world["pm"])
    stream = world["stream"]
    for fields in ({"is_golden": True, "golden_answers": ["A"]}, {"pool": Item.Pool.QUALIFICATION}):
        judgement = JudgementFactory.create(assignment__item=ItemFactory.create(stream=stream, **fields))
        url = reverse("qc:gallery_mark", args=[stream.pk, judgement.pk])
        response = client.post(url, {"kind": "exemplary", "note": "x"})
        assert response.status_code == 400
        assert b"cannot go to the gallery" in response.content
    assert _mark(client, world, kind="wonderful").status_code == 400
    assert _mark(client, world, note="").status_code == 400
    assert not GalleryExample.objects.exists()


def test_annotators_cannot_mark_and_other_streams_judgements_are_404(client: Client, world: dict[str, Any]) -> None:
    client.force_login(world["viewer"])
    assert _mark(client, world).status_code == 403
    client.force_login(world["pm"])
    elsewhere = JudgementFactory.create()  # another project's judgement, through this stream's URL
    url = reverse("qc:gallery_mark", args=[world["stream"].pk, elsewhere.pk])
    assert client.post(url, {"kind": "exemplary", "note": "x"}).status_code == 404
    assert client.get(reverse("qc:gallery_mark", args=[world["stream"].pk, world["judgement"].pk])).status_code == 405
    assert not GalleryExample.objects.exists()


def _names(world: dict[str, Any]) -> list[str]:
    people = [world["author"], world["reviewer"], world["pm"]]
    return [p.username for p in people] + [p.email for p in people] + ["alice", "secret-model"]


def test_the_gallery_names_nobody_in_its_html(client: Client, world: dict[str, Any]) -> None:
    client.force_login(world["reviewer"])
    _mark(client, world)
    client.force_login(world["viewer"])
    response = client.get(reverse("qc:gallery", args=[world["stream"].pk]))
    assert response.status_code == 200
    body = response.content.decode()
    assert "Cites the &lt;b&gt;docs&lt;/b&gt;." in body  # the note, escaped
    assert "B is better, clearly better" in body
    assert "Answer two" in body
    assert "Explain &lt;script&gt;alert(1)&lt;/script&gt; tags" in body
    assert "<script>alert(1)</script>" not in body
    for name in _names(world):
        assert name not in body, name
    ids = {str(world[key].pk) for key in ("author", "reviewer", "pm")}
    # No user id in any attribute or text: every number on the page is another object's.
    numbers = set(re.findall(r"(?<![\w.-])(\d+)(?![\w.-])", body))
    allowed = {str(world["stream"].pk), str(GalleryExample.objects.get().pk)}
    assert not (ids & (numbers - allowed)), ids & numbers


def test_the_gallery_api_names_nobody(world: dict[str, Any]) -> None:
    _, key = ApiToken.generate(user=world["viewer"])
    GalleryExample.objects.create(
        judgement=world["judgement"], stream=world["stream"], kind="exemplary", note="Good", marked_by=world["pm"]
    )
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    response = client.get(f"/api/streams/{world['stream'].pk}/gallery/")
    assert response.status_code == 200, response.content
    data = response.json()
    assert len(data) == 1
    assert set(data[0]) == {"id", "kind", "note", "answer", "conversation", "responses", "marked_at"}
    assert data[0]["responses"] == [
        {"letter": "A", "text": "Answer one", "chosen": False},
        {"letter": "B", "text": "Answer two", "chosen": True},
    ]
    text = response.content.decode()
    for name in _names(world):
        assert name not in text, name
    for key_name in ("annotator", "user", "user_id", "marked_by", "username", "email", "rationale"):
        assert f'"{key_name}":' not in text


def test_an_example_waits_until_its_item_is_settled(client: Client, world: dict[str, Any]) -> None:
    stream = world["stream"]
    open_item = ItemFactory.create(stream=stream, is_open=True, claim_count=1, judgement_count=1)
    pending = JudgementFactory.create(assignment__item=open_item, choice="A")
    GalleryExample.objects.create(judgement=pending, stream=stream, kind="exemplary", note="Wait for it")
    GalleryExample.objects.create(judgement=world["judgement"], stream=stream, kind="exemplary", note="Settled")
    client.force_login(world["viewer"])
    url = reverse("qc:gallery", args=[stream.pk])
    body = client.get(url).content.decode()
    assert "Settled" in body
    assert "Wait for it" not in body
    # Once the viewer has had the item, the example is theirs to see.
    AssignmentFactory.create(item=open_item, annotator=world["viewer"], status="submitted")
    assert "Wait for it" in client.get(url).content.decode()
    client.force_login(world["pm"])
    body = client.get(url).content.decode()
    assert "Wait for it" in body
    assert "held back from annotators" in body


def test_who_sees_the_gallery(client: Client, world: dict[str, Any]) -> None:
    url = reverse("qc:gallery", args=[world["stream"].pk])
    client.force_login(UserFactory.create())
    assert client.get(url).status_code == 404
    stranger = UserFactory.create()
    MembershipFactory.create(project=world["stream"].project, user=stranger, role=Role.ANNOTATOR)  # not invited
    client.force_login(stranger)
    assert client.get(url).status_code == 404
    for user in (world["viewer"], world["reviewer"], world["pm"]):
        client.force_login(user)
        assert client.get(url).status_code == 200
    assert client.post(url).status_code == 405


def test_a_pm_takes_an_example_out(client: Client, world: dict[str, Any]) -> None:
    example = GalleryExample.objects.create(
        judgement=world["judgement"], stream=world["stream"], kind="exemplary", note="Good"
    )
    url = reverse("qc:gallery_remove", args=[world["stream"].pk, example.pk])
    client.force_login(world["viewer"])
    assert client.post(url).status_code == 403
    client.force_login(world["pm"])
    assert client.post(url).status_code == 302
    assert not GalleryExample.objects.exists()
    assert Judgement.objects.filter(pk=world["judgement"].pk).exists()


def test_the_item_page_drawer_links_the_gallery(client: Client, world: dict[str, Any]) -> None:
    client.force_login(world["viewer"])
    body = client.get(reverse("annotation:work", args=[world["stream"].pk])).content.decode()
    assert f'href="/streams/{world["stream"].pk}/gallery/"' in body
