"""The "Highlight differences" view: responses compared on the text a reader sees, not on their
markdown, and shown as the rendered responses with the differing words marked."""

from __future__ import annotations

import re

import pytest

from annotation.models import Assignment, Item
from annotation.selectors import DIFF_MAX_WORDS, rendered_diff, shown_responses
from projects.rendering import render_markdown


def diff(a: str, b: str) -> tuple[str, str]:
    left, right = rendered_diff(render_markdown(a), render_markdown(b))
    assert left is not None
    assert right is not None
    return str(left), str(right)


def marked(html: str) -> list[str]:
    return re.findall(r'<(?:del|ins) class="diff-(?:del|ins)">(.*?)</(?:del|ins)>', html)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("The **capital** is *Canberra*.", "The capital is Canberra."),
        ("- one\n- two", "* one\n* two"),
        ("# Title\n\nText", "Title\n=====\n\nText"),
        ("Use `pip` now", "Use pip now"),
        ("See [the docs](https://example.org/a)", "See the docs"),
        ("**bold**text", "boldtext"),  # markup inside a word does not split it
        ("line one  \nline two", "line one\\\nline two"),
    ],
)
def test_markdown_markup_alone_is_no_difference(a: str, b: str) -> None:
    left, right = diff(a, b)
    assert marked(left) == []
    assert marked(right) == []
    assert left == str(render_markdown(a))  # the rendered response, unchanged
    assert right == str(render_markdown(b))


def test_a_changed_word_is_marked_inside_the_rendered_markup() -> None:
    left, right = diff("The **capital** of Australia is *Canberra*.", "The capital of Australia is Sydney.")
    # "Canberra." is one word to the reader, though "." is outside the <em>: both pieces marked.
    assert left == (
        '<p>The <strong>capital</strong> of Australia is <em><del class="diff-del">Canberra</del></em>'
        '<del class="diff-del">.</del></p>\n'
    )
    assert right == '<p>The capital of Australia is <ins class="diff-ins">Sydney.</ins></p>\n'


def test_a_change_across_markup_is_split_at_the_tags() -> None:
    left, right = diff("Keep **all of** this text.", "Keep none text.")
    assert marked(left) == ["all of", " this"]  # one changed run, cut at </strong>
    assert left.count("<del") == left.count("</del>") == 2
    assert "<strong>" in left
    assert marked(right) == ["none"]


def test_text_stays_escaped_and_raw_html_stays_text() -> None:
    left, right = diff("a <script>alert(1)</script> & b", "a <b>x</b> & b")
    assert "<script>" not in left
    assert "&lt;script&gt;" in left
    assert "&amp; b" in left
    assert "<b>" not in right


def test_very_long_responses_are_not_diffed() -> None:
    long = " ".join(["word"] * (DIFF_MAX_WORDS + 1))
    assert rendered_diff(render_markdown(long), render_markdown("short")) == (None, None)


def test_the_item_page_responses_carry_the_rendered_diff() -> None:
    item = Item(responses=[{"text": "It is **Canberra**."}, {"text": "It is Sydney."}])
    first, second = shown_responses(Assignment(item=item, display_order=[1, 0]))
    assert str(first.diff_html) == '<p>It is <del class="diff-del">Sydney.</del></p>\n'
    assert (
        str(second.diff_html)
        == '<p>It is <strong><ins class="diff-ins">Canberra</ins></strong><ins class="diff-ins">.</ins></p>\n'
    )
