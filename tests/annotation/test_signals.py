"""Integrity signals on submit: the web form and the API store them, validated and clamped."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from annotation import services
from annotation import signals as integrity
from annotation.models import Assignment, Item, Judgement
from projects.models import Stream
from tests.annotation.conftest import claim_next
from tests.annotation.test_api import api_client, judgement_url

PAGE = {
    "shown_seconds": 40.0,
    "hidden_seconds": 12.5,
    "unfocused_seconds": 3.25,
    "leaves": 2,
    "copy_prompt": 0,
    "copy_prompt_chars": 0,
    "copy_response": 2,
    "copy_response_chars": 640,
    "paste_rationale": 1,
    "paste_rationale_chars": 180,
    "first_interaction_seconds": 4.0,
}


def _served_minutes_ago(assignment: Assignment, minutes: float) -> Assignment:
    served = timezone.now() - timedelta(minutes=minutes)
    Assignment.objects.filter(pk=assignment.pk).update(served_at=served)
    assignment.refresh_from_db()
    return assignment


@pytest.fixture
def lease(stream: Stream, annotator: Any, items: list[Item]) -> Assignment:
    assignment = claim_next(stream=stream, annotator=annotator)
    return _served_minutes_ago(assignment, 2)


def _web(client: Client, assignment: Assignment, signals: str) -> Any:
    data = {"token": services.lease_token(assignment), "choice": "A", "strength": "2", "signals": signals}
    return client.post(reverse("annotation:submit", args=[assignment.pk]), data)


# --- The pure rules -------------------------------------------------------------------------------
def test_parse_keeps_the_documented_keys_as_numbers() -> None:
    assert integrity.parse(PAGE) == PAGE
    assert integrity.parse(None) == {}
    assert integrity.parse({"hidden_seconds": 3}) == {"hidden_seconds": 3.0}


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ({"copied_text": "secret"}, "copied_text"),
        ({"copy_response": -1}, "copy_response"),
        ({"copy_response": 1.5}, "copy_response"),
        ({"copy_response": True}, "copy_response"),
        ({"copy_response": integrity.MAX_EVENTS + 1}, "copy_response"),
        ({"hidden_seconds": "12"}, "hidden_seconds"),
        ({"hidden_seconds": float("inf")}, "hidden_seconds"),
        ({"hidden_seconds": float("nan")}, "hidden_seconds"),
        ({"copy_response_chars": 40}, "copy_response_chars"),
        (["copy_response"], "signals"),
    ],
)
def test_parse_names_what_is_wrong(raw: Any, key: str) -> None:
    with pytest.raises(integrity.InvalidSignals) as caught:
        integrity.parse(raw)
    assert key in caught.value.errors


def test_clamp_bounds_the_durations_by_the_lease() -> None:
    lying = {
        "shown_seconds": 3600.0,
        "hidden_seconds": 5000.0,
        "unfocused_seconds": 10.0,
        "first_interaction_seconds": 99.0,
    }
    assert integrity.clamp(lying, window=60.0) == {
        "shown_seconds": 60.0,
        "hidden_seconds": 60.0,
        "unfocused_seconds": 0.0,
        "first_interaction_seconds": 60.0,
    }
    # Without shown_seconds the window bounds them.
    assert integrity.clamp({"hidden_seconds": 20.0, "unfocused_seconds": 50.0}, window=60.0) == {
        "hidden_seconds": 20.0,
        "unfocused_seconds": 40.0,
    }


# --- The web page ---------------------------------------------------------------------------------
def test_it_stores_the_page_signals_with_the_judgement(client: Client, annotator: Any, lease: Assignment) -> None:
    client.force_login(annotator)
    response = _web(client, lease, json.dumps(PAGE))
    assert response.status_code == 302
    judgement = Judgement.objects.get(assignment=lease)
    assert judgement.signals == PAGE
    # The first action: 36 s before the submit (shown 40 s, first action at 4 s).
    assert judgement.first_interaction_at is not None
    assert abs((judgement.submitted_at - judgement.first_interaction_at).total_seconds() - 36.0) < 0.01


def test_the_page_signals_win_over_the_heartbeat_mark(client: Client, annotator: Any, lease: Assignment) -> None:
    services.extend_lease(assignment=lease, interacted=True, now=lease.served_at + timedelta(seconds=90))
    client.force_login(annotator)
    _web(client, lease, json.dumps({**PAGE, "shown_seconds": 10.0, "first_interaction_seconds": 2.0}))
    judgement = Judgement.objects.get(assignment=lease)
    assert judgement.first_interaction_at is not None
    assert abs((judgement.submitted_at - judgement.first_interaction_at).total_seconds() - 8.0) < 0.01


def test_without_signals_the_heartbeat_mark_stays(client: Client, annotator: Any, lease: Assignment) -> None:
    mark = lease.served_at + timedelta(seconds=30)
    services.extend_lease(assignment=lease, interacted=True, now=mark)
    client.force_login(annotator)
    _web(client, lease, "")
    judgement = Judgement.objects.get(assignment=lease)
    assert judgement.signals == {}
    assert judgement.first_interaction_at == mark


def test_a_lying_page_is_clamped_to_the_lease(client: Client, annotator: Any, lease: Assignment) -> None:
    client.force_login(annotator)
    _web(client, lease, json.dumps({**PAGE, "shown_seconds": 86_400.0, "hidden_seconds": 86_000.0}))
    judgement = Judgement.objects.get(assignment=lease)
    window = (judgement.submitted_at - lease.served_at).total_seconds()
    assert 119 < judgement.signals["shown_seconds"] <= window
    assert judgement.signals["hidden_seconds"] == judgement.signals["shown_seconds"]
    assert judgement.signals["unfocused_seconds"] == 0.0


@pytest.mark.parametrize(
    "garbage",
    ["{not json", "[1, 2]", json.dumps({"copy_response": -4}), json.dumps({"text": "pasted words"}), "9" * 5000],
)
def test_unreadable_page_signals_are_dropped_and_the_answer_kept(
    client: Client, annotator: Any, lease: Assignment, garbage: str
) -> None:
    client.force_login(annotator)
    response = _web(client, lease, garbage)
    assert response.status_code == 302
    judgement = Judgement.objects.get(assignment=lease)
    assert (judgement.choice is not None, judgement.signals) == (True, {})


# --- The API --------------------------------------------------------------------------------------
def _api(annotator: Any, assignment: Assignment, **extra: Any) -> Any:
    client: APIClient = api_client(annotator)
    return client.post(judgement_url(assignment.pk), {"choice": "B", "strength": 1, **extra}, format="json")


def test_the_api_stores_the_signals(annotator: Any, lease: Assignment) -> None:
    response = _api(annotator, lease, signals={"copy_prompt": 1, "copy_prompt_chars": 52, "hidden_seconds": 7})
    assert response.status_code == 201
    judgement = Judgement.objects.get(assignment=lease)
    assert judgement.source == Judgement.Source.API
    assert judgement.signals == {"copy_prompt": 1, "copy_prompt_chars": 52, "hidden_seconds": 7.0}


def test_the_api_without_signals_records_nothing(annotator: Any, lease: Assignment) -> None:
    assert _api(annotator, lease).status_code == 201
    assert Judgement.objects.get(assignment=lease).signals == {}


@pytest.mark.parametrize(
    ("signals", "key"),
    [
        ({"copied_text": "the answer"}, "copied_text"),
        ({"paste_rationale": -1}, "paste_rationale"),
        ({"hidden_seconds": "a while"}, "hidden_seconds"),
        ({"paste_rationale_chars": 300}, "paste_rationale_chars"),
    ],
)
def test_the_api_refuses_bad_signals_with_the_reason(
    annotator: Any, lease: Assignment, signals: dict[str, Any], key: str
) -> None:
    response = _api(annotator, lease, signals=signals)
    assert response.status_code == 400
    assert key in response.json()["signals"]
    assert not Judgement.objects.filter(assignment=lease).exists()


def test_the_api_clamps_a_lying_duration(annotator: Any, lease: Assignment) -> None:
    assert _api(annotator, lease, signals={"unfocused_seconds": 1_000_000}).status_code == 201
    judgement = Judgement.objects.get(assignment=lease)
    assert judgement.signals["unfocused_seconds"] <= (judgement.submitted_at - lease.served_at).total_seconds()
