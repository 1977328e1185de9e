"""The judge's suggestion in Chromium: shown on an item, absent on an item of the hold-out, and
what was shown stored with each judgement (the suggest use, docs/judging.md)."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Page

from annotation.models import Item, Judgement
from judging.uses import held_out
from tests.annotation.conftest import make_annotator
from tests.e2e.conftest import login
from tests.factories import PASSWORD, ItemFactory, StreamFactory
from tests.judging.uses_helpers import add_verdict, make_judge

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_suggestion_shows_on_a_shown_item_and_not_on_a_held_out_one(page: Page, live_server: Any) -> None:
    stream: Any = StreamFactory.create(overlap=1)
    judge = make_judge(stream, use_suggest=True, suggest_holdout=0.5)
    shown = hidden = None
    while shown is None or hidden is None:
        item = ItemFactory.create(stream=stream)
        if held_out(stream_id=stream.pk, item_id=item.pk, share=0.5):
            hidden = hidden or item
        else:
            shown = shown or item
    Item.objects.filter(stream=stream).exclude(pk__in=[shown.pk, hidden.pk]).delete()
    Item.objects.filter(pk=shown.pk).update(priority=2)  # served first
    add_verdict(judge, shown, "A")
    add_verdict(judge, hidden, "B")
    alice = make_annotator(stream, "alice")

    login(page, live_server, "alice", PASSWORD)
    page.goto(f"{live_server.url}/annotate/streams/{stream.pk}/work/")
    page.wait_for_selector("#judge-form")
    suggestion = page.locator("#judge-suggestion")
    assert suggestion.is_visible()
    text = suggestion.inner_text()
    assert text.startswith("Model judge's pick:")
    first = page.get_attribute("#workspace", "data-assignment")
    page.keyboard.press("t")
    page.keyboard.press("Enter")
    page.wait_for_selector(f"#workspace[data-assignment]:not([data-assignment='{first}'])")
    assert page.locator("#judge-suggestion").count() == 0  # the held-out item
    page.keyboard.press("t")
    page.keyboard.press("Enter")
    page.wait_for_selector("text=The queue is empty")
    assert page.console_errors == []

    stored = dict(Judgement.objects.filter(annotator=alice).values_list("item_id", "suggestion"))
    assert stored == {shown.pk: "A", hidden.pk: ""}
    # The page named the pick by the position A was shown in.
    order = Judgement.objects.get(annotator=alice, item=shown).display_order
    assert text == f"Model judge's pick: {'AB'[order.index(0)]}. A model's opinion, not the answer: judge for yourself."
