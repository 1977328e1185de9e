"""Dynamic labeling in Chromium: a three-turn conversation with the demo model (real HTTP, tokens
streaming into the page), every turn judged with the keyboard alone, then the TRL conversational
export of what was judged, with the right context at each turn."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from playwright.sync_api import Page

from annotation.models import Judgement
from dynamic.demo_model import Behaviour
from dynamic.models import Conversation, Turn
from tests.annotation.conftest import make_annotator
from tests.e2e.conftest import login, screenshot_path
from tests.factories import PASSWORD
from tests.model_servers import dynamic_stream, model_server

# PostgreSQL: the page's answers are written by generation threads of the live server while it
# serves polls; the in-memory SQLite test database (shared cache) locks whole tables against that.
# `make run` uses a file database in WAL mode, where the same works (see docs/dynamic.md).
pytestmark = [pytest.mark.browser, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

SCREENSHOT = screenshot_path("dynamic.png")
MESSAGES = [
    "What are some famous actors that started their careers on Broadway?",
    "Which of them won a Tony Award?",
    "Write a short poem about the ocean.",
]
KEYS = [["a", "2"], ["b", "3"], ["a", "1"]]


def test_a_three_turn_conversation_judged_with_the_keyboard_is_exported(
    page: Page, live_server: Any, settings: Any, tmp_path: Path
) -> None:
    settings.QUORUM_GENERATE_IN_THREAD = True  # as in `make run`: workers are threads of the server
    with model_server(Behaviour(token_delay=0.01, first_token_delay=0.6)) as server:
        stream = dynamic_stream(server.url, max_turns=3, name="Live chat")
        make_annotator(stream, "alice")
        login(page, live_server, "alice", PASSWORD)
        page.goto(f"{live_server.url}/annotate/streams/{stream.pk}/")
        page.keyboard.press("Tab")
        page.goto(f"{live_server.url}/annotate/streams/{stream.pk}/work/")  # leads to the chat page
        page.wait_for_selector("#message:focus")

        for number, (message, keys) in enumerate(zip(MESSAGES, KEYS, strict=True)):
            page.keyboard.type(message)
            page.keyboard.press("Enter")
            # Tokens arrive while the page polls: a partial answer is visible before the controls.
            page.wait_for_selector("#live[data-status=generating] .resp-streaming .resp-md p")
            page.wait_for_selector("#judge-form")
            assert page.inner_text("#current-message .turn-text") == message
            if number == 0:
                page.set_viewport_size({"width": 1440, "height": 900})
                SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(SCREENSHOT), caret="initial")
            for key in keys:
                page.keyboard.press(key)
            page.keyboard.press("Enter")
            if number < len(MESSAGES) - 1:
                page.wait_for_selector("#message:focus")
            else:
                page.wait_for_selector("#new-conversation")
        assert page.console_errors == []

    conversation = Conversation.objects.get()
    assert conversation.status == Conversation.Status.ENDED
    turns = list(Turn.objects.filter(conversation=conversation).order_by("index"))
    assert [t.status for t in turns] == [Turn.Status.JUDGED] * 3
    judgements = list(Judgement.objects.filter(item__turn__in=turns).order_by("item__turn__index"))
    shown = conversation.display_order
    # "A" on the page is the candidate shown first; the stored choice is canonical.
    assert [j.choice for j in judgements] == ["AB"[shown[0]], "AB"[shown[1]], "AB"[shown[0]]]
    assert [j.strength for j in judgements] == [2, 3, 1]

    out = io.StringIO()
    call_command(
        "export_preferences",
        "--stream",
        str(stream.pk),
        "--format",
        "trl-conversational",
        "--out",
        str(tmp_path),
        stdout=out,
    )
    rows = [json.loads(line) for line in (tmp_path / "train.jsonl").read_text().splitlines()]
    assert len(rows) == 3
    context: list[dict[str, str]] = []
    for turn, row in zip(turns, rows, strict=True):
        texts = [g.text for g in turn.generations.order_by("position")]
        chosen = texts[turn.chosen_position or 0]
        context = [*context, {"role": "user", "content": turn.user_message}]
        assert row["prompt"] == context  # the conversation so far, ending with the user's message
        assert row["chosen"] == [{"role": "assistant", "content": chosen}]
        assert row["rejected"] == [{"role": "assistant", "content": texts[1 - (turn.chosen_position or 0)]}]
        context = [*context, {"role": "assistant", "content": chosen}]
