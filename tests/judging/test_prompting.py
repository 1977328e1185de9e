"""The judge's prompt template and the reading of its answers."""

from __future__ import annotations

import pytest

from judging import prompting
from judging.prompting import Answer, UnreadableAnswer, canonical, parse_answer, render

RESPONSES = [{"text": "first response"}, {"text": "second response"}]


def test_it_fills_both_orders() -> None:
    template = "G={{guidelines}} C={{ context }} A={{ response_a }} B={{ response_b }}"
    shown = render(
        template, guidelines="be kind", context=[{"role": "user", "content": "hi"}], responses=RESPONSES, order=(0, 1)
    )
    swapped = render(template, guidelines="", context=[], responses=RESPONSES, order=(1, 0))
    assert shown == "G=be kind C=User: hi A=first response B=second response"
    assert swapped == "G=(none given) C=(no conversation) A=second response B=first response"


def test_it_does_not_fill_placeholders_inside_responses() -> None:
    responses = [{"text": "I say {{ response_b }}"}, {"text": "other"}]
    assert render(
        "{{ response_a }}|{{ response_b }}", guidelines="", context=[], responses=responses, order=(0, 1)
    ) == ("I say {{ response_b }}|other")


def test_it_keeps_json_braces_and_reports_unknown_placeholders() -> None:
    template = 'Answer as {"verdict": "A"} about {{ response_a }} and {{ response_b }} and {{ rubric }}'
    assert prompting.unknown_placeholders(template) == ["rubric"]
    assert prompting.missing_placeholders("only {{ response_a }}") == ["response_b"]
    assert prompting.missing_placeholders(prompting.DEFAULT_TEMPLATE) == []
    assert prompting.unknown_placeholders(prompting.DEFAULT_TEMPLATE) == []


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("Verdict: A\nReason: more complete.", "A"),
        ("**Verdict:** B\n**Reason:** it answers the question.", "B"),
        ("verdict: tie\nreason: same", "tie"),
        ('{"verdict": "B", "reason": "shorter and right"}', "B"),
        ('Here you go: {"winner": "a", "reason": "x"}', "A"),
        ("After comparing... [[B]]", "B"),
        ("After comparing... [[C]]", "tie"),
        ("B\nIt is better.", "B"),
        ("Final verdict: Response A", "A"),
    ],
)
def test_it_reads_the_verdict(text: str, shown: str) -> None:
    assert parse_answer(text).shown == shown


def test_it_keeps_the_reason() -> None:
    assert parse_answer("Verdict: A\nReason: more complete.") == Answer("A", "more complete.")


@pytest.mark.parametrize(
    "text",
    ["", "I cannot decide.", "A good answer needs more detail.", "Verdict: A\nOn second thought, Verdict: B"],
)
def test_it_refuses_an_answer_without_one_verdict(text: str) -> None:
    with pytest.raises(UnreadableAnswer):
        parse_answer(text)


def test_it_maps_shown_answers_to_canonical() -> None:
    assert [canonical(a, (0, 1)) for a in ("A", "B", "tie")] == ["A", "B", "tie"]
    assert [canonical(a, (1, 0)) for a in ("A", "B", "tie")] == ["B", "A", "tie"]
