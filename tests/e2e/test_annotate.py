"""The annotator's page in Chromium: keyboard-only labeling, htmx swaps, hostile model output."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Dialog, Page

from annotation.models import Judgement
from projects.models import Stream
from tests.annotation.conftest import make_annotator
from tests.e2e.conftest import login, screenshot_path
from tests.factories import PASSWORD, ItemFactory, StreamFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCREENSHOT = screenshot_path("annotate.png")

HOSTILE = (
    'Sure! <img src=x onerror="window.pwned=1;alert(1)"> <script>window.pwned=2;alert(2)</script>\n\n'
    "[Click for the answer](javascript:window.pwned=3) "
    '<svg onload="window.pwned=4"><script>window.pwned=5</script></svg> '
    '<iframe src="javascript:window.parent.pwned=6"></iframe> <form action="https://evil.example"><button>Go</button>'
    "</form><style>body{display:none}</style>\n\n![x](javascript:window.pwned=7)"
)

DEMO = [
    (
        [
            {"role": "system", "content": "You are a careful senior Python reviewer."},
            {"role": "user", "content": "How do I read a large CSV file in Python **without** running out of memory?"},
        ],
        "Use the `csv` module and iterate row by row — the file is never fully loaded:\n\n"
        '```python\nimport csv\n\nwith open("big.csv", newline="") as f:\n    for row in csv.DictReader(f):\n'
        "        process(row)\n```\n\nMemory stays flat whatever the file size. If you need pandas, pass "
        "`chunksize=` to `read_csv` and handle one chunk at a time.",
        'Just use pandas:\n\n```python\nimport pandas as pd\ndf = pd.read_csv("big.csv")\n```\n\n'
        "Pandas is optimised, so memory is usually not a problem. If it is, buy more RAM or use a bigger "
        "machine in the cloud.",
    ),
    (
        [{"role": "user", "content": "What is the capital of Australia?"}],
        "The capital of Australia is Canberra.",
        "Sydney is the capital of Australia.",
    ),
    (
        [{"role": "user", "content": "Say something nice."}],
        HOSTILE,
        "You are doing great work today.",
    ),
    (
        [
            {"role": "user", "content": "Translate 'good morning' to German."},
            {"role": "assistant", "content": "Guten Morgen."},
            {"role": "user", "content": "And to French?"},
        ],
        "Bonjour.",
        "Bonjour ! (literally “good day”).",
    ),
    (
        [{"role": "user", "content": "Is 91 a prime number?"}],
        "No: 91 = 7 × 13.",
        "Yes, 91 is prime.",
    ),
]


def _record(dialogs: list[str], dialog: Dialog) -> None:
    dialogs.append(dialog.message)
    dialog.dismiss()


def _workspace_id(page: Page) -> str:
    return page.get_attribute("#workspace", "data-assignment") or ""


def test_an_annotator_labels_five_items_with_the_keyboard_alone(page: Page, live_server: Any) -> None:
    stream: Any = StreamFactory(
        name="Python help · pairwise",
        overlap=3,
        guidelines="Prefer the response that is **correct**, then the one that is most helpful.",
    )
    for index, (context, first, second) in enumerate(DEMO):
        ItemFactory(
            stream=stream,
            priority=len(DEMO) - index,  # served in this order
            context=context,
            responses=[{"text": first, "model": "m1"}, {"text": second, "model": "m2"}],
        )
    alice = make_annotator(stream, "alice")
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: _record(dialogs, dialog))

    login(page, live_server, "alice", PASSWORD)
    page.goto(f"{live_server.url}/annotate/streams/{stream.pk}/")
    page.keyboard.press("Tab")  # keyboard only from here: focus moves to the page's links
    page.goto(f"{live_server.url}/annotate/streams/{stream.pk}/work/")
    page.evaluate("window.__sameDocument = true")

    keys = [["a", "3"], ["b", "2", "h"], ["t"], ["x", "c"], ["a", "1"]]
    for number, presses in enumerate(keys):
        before = _workspace_id(page)
        page.wait_for_selector("#judge-form")
        for key in presses:
            page.keyboard.press(key)
        if number == 0:
            page.keyboard.press("?")
            assert page.is_visible("#help")
            page.keyboard.press("Escape")
            page.keyboard.press("r")
            page.keyboard.type("Only one of them keeps memory flat.")  # shortcuts are off while typing
            page.keyboard.press("Escape")
            page.set_viewport_size({"width": 1440, "height": 900})
            SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENSHOT), caret="initial")  # "hide" injects a style the CSP blocks
        page.keyboard.press("Enter")
        if number < len(keys) - 1:
            page.wait_for_selector(f"#workspace[data-assignment]:not([data-assignment='{before}'])")
        else:
            page.wait_for_selector("text=The queue is empty")

    assert page.evaluate("window.__sameDocument") is True  # htmx swaps, no full reload
    assert page.evaluate("window.pwned") is None
    assert dialogs == []
    assert page.console_errors == []

    judgements = list(Judgement.objects.filter(annotator=alice).select_related("item").order_by("submitted_at"))
    assert len(judgements) == 5
    shown = ["A", "B", "tie", "both_bad", "A"]
    for judgement, choice in zip(judgements, shown, strict=True):
        assert sorted(judgement.display_order) == [0, 1]
        expected = "AB"[judgement.display_order["AB".index(choice)]] if choice in "AB" else choice
        assert judgement.choice == expected
        assert judgement.active_seconds is not None
    assert judgements[0].strength == 3
    assert judgements[0].rationale == "Only one of them keeps memory flat."
    assert judgements[1].flag_harmful
    assert judgements[3].flag_cannot_judge
    assert judgements[0].first_interaction_at is not None


def test_hostile_output_executes_nothing(page: Page, live_server: Any) -> None:
    stream: Any = StreamFactory()
    ItemFactory(stream=stream, context=[{"role": "user", "content": HOSTILE}], responses=[{"text": HOSTILE}] * 2)
    make_annotator(stream, "bob")
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: _record(dialogs, dialog))
    login(page, live_server, "bob", PASSWORD)
    page.goto(f"{live_server.url}/annotate/streams/{stream.pk}/work/")
    page.wait_for_selector("#judge-form")
    page.keyboard.press("d")  # the diff view renders the same text another way
    for link in page.query_selector_all(".resp a, .turn a"):
        link.click(modifiers=["Alt"], no_wait_after=True)
    page.wait_for_timeout(300)
    assert page.evaluate("window.pwned") is None
    assert dialogs == []
    assert page.query_selector_all(".resp iframe, .resp svg, .resp script, .resp style, .resp form") == []
    assert page.is_visible("#judge-form")  # the injected <style> did not hide the page
    assert Stream.objects.count() == 1
