"""The item browser (annotation/browse_views.py) and the stream page's progress and estimated
finish (annotation.selectors.stream_forecast through the stream_page_context hook)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from annotation import selectors
from annotation.models import Item
from projects.models import Role, Stream
from tests.annotation.conftest import make_annotator
from tests.factories import ItemFactory, JudgementFactory, MembershipFactory, StreamFactory, UserFactory

pytestmark = pytest.mark.django_db


def _judge(item: Any, annotator: Any, choice: str, **fields: Any) -> Any:
    return JudgementFactory(assignment__item=item, assignment__annotator=annotator, choice=choice, **fields)


@pytest.fixture
def world() -> dict[str, Any]:
    stream: Any = StreamFactory(status=Stream.Status.ACTIVE, overlap=2)
    pm = UserFactory(username="boss")
    MembershipFactory(project=stream.project, user=pm, role=Role.PM)
    reviewer = UserFactory(username="rita")
    MembershipFactory(project=stream.project, user=reviewer, role=Role.REVIEWER)
    alice, bob = make_annotator(stream, "alice"), make_annotator(stream, "bob")
    items = {
        "unanimous": ItemFactory(
            stream=stream, external_id="same", context=[{"role": "user", "content": "Name a fruit"}]
        ),
        "split": ItemFactory(
            stream=stream, external_id="differ", context=[{"role": "user", "content": "Write a poem"}]
        ),
        "single": ItemFactory(stream=stream, external_id="one"),
        "none": ItemFactory(stream=stream, external_id="untouched"),
        "golden": ItemFactory(stream=stream, external_id="gold", is_golden=True, golden_answers=["A"]),
    }
    for item in (items["unanimous"], items["golden"]):
        _judge(item, alice, "A")
        _judge(item, bob, "A")
    for item in (items["unanimous"], items["split"], items["single"], items["golden"]):
        n = 2 if item is not items["single"] else 1
        Item.objects.filter(pk=item.pk).update(judgement_count=n, claim_count=n)
    _judge(items["split"], alice, "A", display_order=[1, 0])
    _judge(items["split"], bob, "B", flag_harmful=True)
    _judge(items["single"], alice, "tie")
    return {"stream": stream, "pm": pm, "reviewer": reviewer, "alice": alice, "items": items}


def _ids(client: Client, stream: Any, **params: str) -> set[str]:
    response = client.get(reverse("annotation:item_browser", args=[stream.pk]), params)
    assert response.status_code == 200
    return {item.external_id for item in response.context["page"]}


def test_it_filters_by_agreement_flags_golden_status_and_text(client: Client, world: dict[str, Any]) -> None:
    stream = world["stream"]
    client.force_login(world["pm"])
    assert _ids(client, stream) == {"same", "differ", "one", "untouched", "gold"}
    assert _ids(client, stream, agreement="unanimous") == {"same", "gold"}
    assert _ids(client, stream, agreement="split") == {"differ"}
    assert _ids(client, stream, agreement="single") == {"one"}
    assert _ids(client, stream, agreement="none") == {"untouched"}
    assert _ids(client, stream, harmful="yes") == {"differ"}
    assert _ids(client, stream, golden="yes") == {"gold"}
    assert _ids(client, stream, golden="no", status="complete") == {"same", "differ"}
    assert _ids(client, stream, status="open") == {"one", "untouched"}
    assert _ids(client, stream, q="POEM") == {"differ"}  # the conversation's text, any case
    assert _ids(client, stream, q="gold") == {"gold"}  # the item's id


def test_a_bad_filter_is_a_400_that_says_why(client: Client, world: dict[str, Any]) -> None:
    client.force_login(world["pm"])
    response = client.get(reverse("annotation:item_browser", args=[world["stream"].pk]), {"agreement": "most"})
    assert response.status_code == 400
    assert b"Select a valid choice" in response.content


def test_an_item_shows_each_annotators_order_and_answer_as_they_saw_it(client: Client, world: dict[str, Any]) -> None:
    stream, item = world["stream"], world["items"]["split"]
    client.force_login(world["pm"])
    response = client.get(reverse("annotation:item_detail", args=[stream.pk, item.pk]))
    assert response.status_code == 200
    html = response.content.decode()
    assert "alice" in html
    assert "<strong>B</strong> then <strong>A</strong>" in html  # alice saw B on top
    assert "chose the response shown second (A in the file)" in html
    assert "harmful" in html


def test_reviewers_browse_blind_and_annotators_and_outsiders_cannot(client: Client, world: dict[str, Any]) -> None:
    stream, item = world["stream"], world["items"]["split"]
    detail = reverse("annotation:item_detail", args=[stream.pk, item.pk])
    client.force_login(world["reviewer"])
    assert _ids(client, stream, agreement="split") == {"differ"}
    html = client.get(detail).content.decode()
    assert "Annotator 1" in html
    assert "alice" not in html
    client.force_login(world["alice"])
    assert client.get(detail).status_code == 403
    assert client.get(reverse("annotation:item_browser", args=[stream.pk])).status_code == 403
    client.force_login(UserFactory.create())
    assert client.get(detail).status_code == 404
    assert client.get(reverse("annotation:item_browser", args=[stream.pk])).status_code == 404


def test_an_item_of_another_stream_is_a_404_and_posts_are_405(client: Client, world: dict[str, Any]) -> None:
    other = ItemFactory()
    client.force_login(world["pm"])
    assert client.get(reverse("annotation:item_detail", args=[world["stream"].pk, other.pk])).status_code == 404
    assert client.post(reverse("annotation:item_browser", args=[world["stream"].pk])).status_code == 405


def test_the_browser_costs_the_same_queries_for_more_items(
    client: Client, world: dict[str, Any], django_assert_num_queries: Any
) -> None:
    stream = world["stream"]
    client.force_login(world["pm"])
    url = reverse("annotation:item_browser", args=[stream.pk])
    client.get(url)
    with django_assert_num_queries(7):  # session, user, stream, role, count, the page, the navigation
        client.get(url, {"agreement": "split"})
    for _ in range(20):
        _judge(ItemFactory(stream=stream), world["alice"], "A")
    with django_assert_num_queries(7):
        client.get(url, {"agreement": "split"})


# --- The stream page's progress and estimated finish -------------------------------------------------
def test_the_forecast_extrapolates_the_last_week(world: dict[str, Any]) -> None:
    stream = world["stream"]
    now = timezone.now()
    progress = selectors.StreamProgress(items=100, complete=10, judgements=60, needed=200)
    forecast = selectors.stream_forecast(stream, progress, now=now)
    # 7 judgements in the fixture, all just now: 1 a day, 140 to go.
    assert (forecast.recent, forecast.remaining, forecast.per_day) == (7, 140, 1.0)
    assert forecast.days_left == 140.0
    assert forecast.finish is not None
    assert forecast.finish.date() == (now + timedelta(days=140)).date()
    later = selectors.stream_forecast(stream, progress, now=now + timedelta(days=30))
    assert later.per_day == 0
    assert later.finish is None  # nothing judged lately: no rate, no estimate
    done = selectors.stream_forecast(stream, selectors.StreamProgress(items=1, complete=1, judgements=2, needed=2))
    assert (done.remaining, done.days_left) == (0, 0.0)


def test_the_stream_page_shows_progress_throughput_finish_and_links_the_browser(
    client: Client, world: dict[str, Any]
) -> None:
    stream = world["stream"]
    client.force_login(world["pm"])
    html = client.get(reverse("stream_detail", args=[stream.pk])).content.decode()
    assert "Items complete" in html
    assert "Estimated finish" in html
    assert "/day" in html
    assert reverse("annotation:item_browser", args=[stream.pk]) in html
    client.force_login(world["reviewer"])
    assert (
        reverse("annotation:item_browser", args=[stream.pk])
        in client.get(reverse("stream_detail", args=[stream.pk])).content.decode()
    )
