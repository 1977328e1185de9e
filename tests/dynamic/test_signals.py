"""Integrity signals on a dynamic turn: the judge form carries them like an item's (annotation.signals)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from annotation.models import Judgement
from dynamic.models import Turn
from tests.annotation.conftest import make_annotator
from tests.model_servers import dynamic_stream, model_server

pytestmark = pytest.mark.django_db
HTMX: dict[str, Any] = {"HTTP_HX_REQUEST": "true"}


def test_a_judged_turn_stores_the_page_signals(django_capture_on_commit_callbacks: Any) -> None:
    with model_server() as server:
        stream = dynamic_stream(server.url)
        client = Client()
        client.force_login(make_annotator(stream, "alice"))
        with django_capture_on_commit_callbacks(execute=True):
            client.post(reverse("dynamic:converse_send", args=[stream.pk]), {"message": "Hello"}, **HTMX)
    turn = Turn.objects.get()
    page = client.get(reverse("dynamic:turn_poll", args=[turn.pk]), **HTMX)
    assert b'id="judge-form"' in page.content
    signals = {"shown_seconds": 30.0, "hidden_seconds": 12.0, "copy_response": 1, "copy_response_chars": 80}
    judged = client.post(
        reverse("dynamic:turn_judge", args=[turn.pk]),
        {"token": str(turn.pk), "choice": "A", "strength": "2", "signals": json.dumps(signals)},
        **HTMX,
    )
    assert judged.status_code == 200
    judgement = Judgement.objects.get()
    assert (judgement.signals["copy_response"], judgement.signals["copy_response_chars"]) == (1, 80)
    # The turn's lease began when its answers were ready (moments ago): the durations are clamped.
    window = (judgement.submitted_at - judgement.served_at).total_seconds()
    assert judgement.signals["shown_seconds"] <= window
    assert judgement.signals["hidden_seconds"] <= judgement.signals["shown_seconds"]
