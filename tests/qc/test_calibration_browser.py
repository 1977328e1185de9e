"""A calibration round by keyboard in Chromium: from the stream page's notice to the last item with
the item page's keys (A/B/T/X, 1-3, R for the rationale, Esc, Enter, Ctrl+Enter), a too-short
rationale refused in place, each answer stored once in canonical order, then the round's page."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from playwright.sync_api import Page

from projects import services as project_services
from projects.models import Stream
from qc import calibration
from qc.models import CalibrationAnswer
from tests.annotation.conftest import make_annotator
from tests.e2e.conftest import login, screenshot_path
from tests.factories import PASSWORD, ItemFactory, ProjectFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_calibration_round_by_keyboard(page: Page, live_server: Any) -> None:
    stream = project_services.create_stream(
        project=ProjectFactory.create(), slug="chat", name="Chat", guidelines="Prefer **correct** answers."
    )
    Stream.objects.filter(pk=stream.pk).update(status=Stream.Status.ACTIVE)
    items = [
        ItemFactory.create(stream=stream, is_open=False, claim_count=0, judgement_count=0, external_id=f"cal-{n}")
        for n in range(2)
    ]
    make_annotator(stream, "alice")
    round_ = calibration.open_round(
        stream=stream,
        title="Keyboard round",
        deadline=timezone.now() + timedelta(days=1),
        item_ids=[item.pk for item in items],
        created_by=None,
    )

    login(page, live_server, "alice", PASSWORD)
    page.goto(f"{live_server.url}/annotate/streams/{stream.pk}/")
    assert "Calibration round: 2 items, due" in page.inner_text(".calibration-notice")
    page.focus(f"#calibration-start-{round_.pk}")
    page.keyboard.press("Enter")
    page.wait_for_selector("#judge-form")
    assert "item 1 of 2" in page.inner_text("#calibration-count")

    # The guidelines drawer opens and closes with G, as on the item page.
    page.keyboard.press("g")
    page.wait_for_selector("#guidelines[open]")
    page.keyboard.press("g")
    page.wait_for_selector("#guidelines", state="hidden")

    # A is better, clearly; a two-word rationale is refused in place (at least 3 words).
    page.keyboard.press("a")
    page.keyboard.press("2")
    assert page.is_checked("input[name=choice][value=A]")
    page.keyboard.press("r")
    page.keyboard.type("too short")
    page.keyboard.press("Control+Enter")
    page.wait_for_selector(".ws-errors")
    assert "at least 3 words" in page.inner_text(".ws-errors")
    assert not CalibrationAnswer.objects.filter(submitted_at__isnull=False).exists()
    # The answer is kept with the error: write more and submit from the text box.
    assert page.is_checked("input[name=choice][value=A]")
    page.focus("#rationale")
    page.keyboard.press("End")
    page.keyboard.type(" but A cites the docs")
    page.keyboard.press("Control+Enter")
    page.wait_for_function("() => document.querySelector('.ws-notice-success') !== null")
    assert "item 2 of 2" in page.inner_text("#calibration-count")
    page.screenshot(path=str(screenshot_path("calibration-round.png")))

    # Tie: rationale, Esc to leave the box, Enter to submit.
    page.keyboard.press("t")
    page.keyboard.press("r")
    page.keyboard.type("both are equally helpful here")
    page.keyboard.press("Escape")
    page.keyboard.press("Enter")
    page.wait_for_selector("#calibration-done")

    answers = list(CalibrationAnswer.objects.filter(submitted_at__isnull=False).order_by("round_item__position"))
    assert len(answers) == 2
    first, second = answers
    assert first.choice == "AB"[first.display_order[0]]  # "A" is the response shown first
    assert (first.strength, first.rationale) == (2, "too short but A cites the docs")
    assert (second.choice, second.strength, second.rationale) == ("tie", None, "both are equally helpful here")

    # The round's page says what is left: nothing; the results open when it closes.
    page.click("text=The round's page")
    page.wait_for_selector("#take")
    assert "You answered 2 of 2 items" in page.inner_text("#take")
    # htmx's 400 (the refused rationale) is the only console error.
    assert [e for e in page.console_errors if "400" not in e] == []
