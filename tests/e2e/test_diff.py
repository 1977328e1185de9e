""" "Highlight differences" in Chromium: two responses that differ only in their markdown markup
show no highlight; a changed word is highlighted, inside the rendered formatting."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Page

from projects.models import StreamMembership
from tests.annotation.conftest import make_annotator
from tests.e2e.conftest import login
from tests.factories import PASSWORD, ItemFactory, StreamFactory, StreamMembershipFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

MARKUP_A = (
    "The **capital** of Australia is *Canberra*.\n\n- one city\n- `two` cities\n\nSee [the atlas](https://example.org)."
)
MARKUP_B = "The capital of Australia is Canberra.\n\n* one city\n* two cities\n\nSee the atlas."
WORDS_A = "The **capital** of Australia is *Canberra*, a planned city."
WORDS_B = "The capital of Australia is Sydney, a planned city."


def _open_with_diff(page: Page, live_server: Any, stream: Any) -> None:
    page.goto(f"{live_server.url}/annotate/streams/{stream.pk}/work/")
    page.wait_for_selector("#judge-form")
    assert not page.is_visible(".resp-diff")
    page.keyboard.press("d")
    page.wait_for_selector(".resp-diff", state="visible")
    assert not page.is_visible(".resp-md")


def _marks(page: Page) -> list[str]:
    return [m.inner_text() for m in page.query_selector_all(".resp-diff ins, .resp-diff del") if m.is_visible()]


def test_the_highlight_compares_the_rendered_text(page: Page, live_server: Any) -> None:
    markup: Any = StreamFactory(name="Markup only")
    ItemFactory(stream=markup, responses=[{"text": MARKUP_A}, {"text": MARKUP_B}])
    words: Any = StreamFactory(name="One word", project=markup.project)
    ItemFactory(stream=words, responses=[{"text": WORDS_A}, {"text": WORDS_B}])
    user = make_annotator(markup, "dora")
    StreamMembershipFactory(stream=words, user=user, status=StreamMembership.Status.QUALIFIED)
    login(page, live_server, "dora", PASSWORD)

    _open_with_diff(page, live_server, markup)
    assert _marks(page) == []  # bold, italics, bullets, code and links are no difference
    texts = sorted(d.inner_text() for d in page.query_selector_all(".resp-diff"))
    assert all("The capital of Australia is Canberra." in t for t in texts)
    assert page.query_selector_all(".resp-diff strong")  # the formatting is still shown

    _open_with_diff(page, live_server, words)
    # "Canberra," is one word to the reader: marked in its <em> and the comma after it.
    assert sorted(_marks(page)) == [",", "Canberra", "Sydney,"]
    # The display order is random: "Canberra" is the <del> or the <ins>, whichever side shows it.
    canberra = [m for m in page.query_selector_all(".resp-diff ins, .resp-diff del") if m.inner_text() == "Canberra"]
    assert len(canberra) == 1
    assert canberra[0].evaluate("node => node.parentElement.tagName") == "EM"
    assert page.evaluate("getComputedStyle(document.querySelector('.resp-diff ins')).backgroundColor") != (
        "rgba(0, 0, 0, 0)"
    )
    assert page.console_errors == []
