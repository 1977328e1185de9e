"""Integrity signals in Chromium: copying item text, leaving the page and pasting into the rationale
are recorded with the judgement (counts and seconds, no text).

What fires what in headless Chromium (Debian's 156): every page of a headless browser stays
"visible" — bringing another page to the front, ``Target.activateTarget`` and minimising the window
through ``Browser.setWindowBounds`` change neither ``document.visibilityState`` nor fire
``visibilitychange``, and the DevTools protocol has no command that does. Focus does move for
real once Playwright's focus emulation is off (``Emulation.setFocusEmulationEnabled``): bringing a
second page of the same context to the front fires ``blur`` on the first, and bringing it back fires
``focus``. So the test leaves the page for real (blur/focus, counted as unfocused time) and, for
the hidden state, makes the document report ``hidden`` and dispatches the browser's own
``visibilitychange`` event, which is what a tab switch in a headed browser does.
"""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Page

from annotation.models import Judgement
from tests.annotation.conftest import make_annotator
from tests.e2e.conftest import login
from tests.factories import PASSWORD, ItemFactory, StreamFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ANSWER = "Canberra has been the capital of Australia since 1913, chosen as a compromise between Sydney and Melbourne."

SET_HIDDEN = """hidden => {
  Object.defineProperty(document, "visibilityState", { value: hidden ? "hidden" : "visible", configurable: true });
  Object.defineProperty(document, "hidden", { value: hidden, configurable: true });
  document.dispatchEvent(new Event("visibilitychange"));
}"""


def _open_item(page: Page, live_server: Any, stream: Any) -> None:
    login(page, live_server, "carol", PASSWORD)
    page.goto(f"{live_server.url}/annotate/streams/{stream.pk}/work/")
    page.wait_for_selector("#judge-form")


def test_copying_leaving_and_pasting_are_recorded_with_the_judgement(page: Page, live_server: Any) -> None:
    stream: Any = StreamFactory(name="Geography")
    ItemFactory(
        stream=stream,
        context=[{"role": "user", "content": "What is the capital of Australia?"}],
        responses=[{"text": ANSWER, "model": "m1"}, {"text": "Sydney.", "model": "m2"}],
    )
    carol = make_annotator(stream, "carol")
    _open_item(page, live_server, stream)
    page.context.new_cdp_session(page).send("Emulation.setFocusEmulationEnabled", {"enabled": False})
    page.wait_for_timeout(400)  # time before the first action

    # Select the long answer (a triple click: the first action on the item) and copy it.
    page.click(f".resp-md p:has-text('{ANSWER[:20]}')", click_count=3)
    selected = page.evaluate("window.getSelection().toString().length")
    page.keyboard.press("Control+c")

    # Leave for another page of the same browser, then come back: blur, focus.
    other = page.context.new_page()
    other.bring_to_front()
    page.wait_for_timeout(1200)
    page.bring_to_front()
    other.close()
    # Hidden for a while (the tab switch a headed browser reports; see the module docstring).
    page.evaluate(SET_HIDDEN, True)
    page.wait_for_timeout(800)
    page.evaluate(SET_HIDDEN, False)

    # Paste what was copied into the rationale, answer and submit.
    page.focus("#rationale")
    page.keyboard.press("Control+v")
    page.keyboard.press("Escape")
    for key in ("a", "2", "Enter"):
        page.keyboard.press(key)
    page.wait_for_selector("text=The queue is empty")
    assert page.console_errors == []

    judgement = Judgement.objects.get(annotator=carol)
    signals = judgement.signals
    assert ANSWER in judgement.rationale  # the paste landed in the answer, but never in the signals
    assert all(isinstance(value, int | float) for value in signals.values())
    assert (signals["copy_response"], signals["copy_response_chars"]) == (1, selected)
    assert (signals["copy_prompt"], signals["copy_prompt_chars"]) == (0, 0)
    assert (signals["paste_rationale"], signals["paste_rationale_chars"]) == (1, selected)
    assert signals["leaves"] == 2
    assert 1.0 <= signals["unfocused_seconds"] < 5.0
    assert 0.7 <= signals["hidden_seconds"] < 5.0
    assert signals["shown_seconds"] >= signals["hidden_seconds"] + signals["unfocused_seconds"] + 0.4
    assert 0.3 <= signals["first_interaction_seconds"] < signals["shown_seconds"] - 2.0
    # The stored first interaction is the page's: ~0.4 s after it showed the item.
    assert judgement.first_interaction_at is not None
    assert judgement.served_at < judgement.first_interaction_at < judgement.submitted_at
    assert (judgement.submitted_at - judgement.first_interaction_at).total_seconds() > 2.0


def test_a_ranking_with_a_rubric_records_a_prompt_copy(page: Page, live_server: Any) -> None:
    stream: Any = StreamFactory(name="Ranked", task_kind="ranking", rubric=["helpfulness"])
    ItemFactory(
        stream=stream,
        num_responses=3,
        context=[{"role": "user", "content": "Name a prime number between 10 and 20."}],
        responses=[{"text": "11"}, {"text": "13"}, {"text": "15"}],
    )
    carol = make_annotator(stream, "carol")
    _open_item(page, live_server, stream)
    page.click(".ws-context .turn-text p", click_count=3)
    page.keyboard.press("Control+c")
    page.focus("#rationale")
    page.keyboard.press("Control+v")  # what the browser copied: the selection, put back as it was
    for position in range(3):
        page.click(f".resp[data-position='{position}'] .rubric-row label.pill:nth-of-type(3)")
    page.click("#submit-btn")
    page.wait_for_selector("text=The queue is empty")
    judgement = Judgement.objects.get(annotator=carol)
    assert judgement.rationale.startswith("Name a prime number between 10 and 20.")
    signals = judgement.signals
    assert signals["copy_prompt"] == 1
    assert signals["copy_prompt_chars"] >= len("Name a prime number between 10 and 20.")
    # The triple click's selection ran on into the responses (to the hint below them), but only the
    # prompt's text was copied.
    assert (signals["copy_response"], signals["leaves"], signals["paste_rationale"]) == (0, 0, 1)
