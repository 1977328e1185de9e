"""Trivial strategies: what a person who does not read would score on a qualification test or a
golden set.

Pure functions (no Django, no other project module), shared by the qualification room (tests),
qc (golden sets, re-exported by ``qc.evidence``) and the demo. A test or golden set that one of
these strategies passes does not test anything: "always the longer response" passes a test whose
right answers are mostly the longer response, whatever the annotator understood.

Definitions (each an *expected* score, the share of questions answered acceptably, 0–1):

- **always the longer / the shorter response**: by the responses' character lengths; equal
  lengths are a coin flip between A and B (0.5·[A acceptable] + 0.5·[B acceptable]);
- **always the response shown first / second**: when the display order is random (golden
  injection always; a test with ``shuffle_responses``), each response is shown first with
  probability ½, so the expected score is the same coin flip; with a fixed order A is shown first;
- **always response A (the source's first)**, **always response B**, **always tie**, **always
  both bad**: the share of questions that accept that answer.

Only pairwise questions (two responses) are scored; a ranking question has no "longer of two".
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import NamedTuple


class QuestionFacts(NamedTuple):
    """One pairwise question of a qualification test or golden set: its acceptable answers
    (canonical "A", "B", "tie", "both_bad"), the characters of responses A and B, and whether
    the display order is random (False: A is always shown first)."""

    acceptable: Collection[str]
    lengths: Sequence[int]
    random_order: bool = True


STRATEGY_LABELS = {
    "longer": "always the longer response",
    "shorter": "always the shorter response",
    "first_shown": "always the response shown first",
    "second_shown": "always the response shown second",
    "always_A": "always response A (the source's first)",
    "always_B": "always response B",
    "always_tie": "always tie",
    "always_both_bad": "always both bad",
}


def _pct(value: float) -> str:
    """70% / 2% / 0.5%: a rate with at most one decimal, no trailing .0."""
    text = f"{value * 100:.1f}".rstrip("0").rstrip(".")
    return f"{text}%"


def trivial_strategy_scores(
    questions: Iterable[
        QuestionFacts | tuple[Collection[str], Sequence[int]] | tuple[Collection[str], Sequence[int], bool]
    ],
) -> dict[str, float]:
    """Expected score (share of questions answered acceptably, 0–1) of each trivial strategy in
    ``STRATEGY_LABELS``. Where a strategy cannot choose — equal lengths for longer / shorter, a
    random display order for first / second shown — it is a coin flip between A and B:
    0.5·[A acceptable] + 0.5·[B acceptable]. Empty input: an empty dict."""
    rows = [q if isinstance(q, QuestionFacts) else QuestionFacts(*q) for q in questions]
    if not rows:
        return {}
    totals = dict.fromkeys(STRATEGY_LABELS, 0.0)
    for question in rows:
        ok = set(question.acceptable)
        a, b = float("A" in ok), float("B" in ok)
        len_a, len_b = int(question.lengths[0]), int(question.lengths[1])
        coin = (a + b) / 2.0
        totals["longer"] += coin if len_a == len_b else (a if len_a > len_b else b)
        totals["shorter"] += coin if len_a == len_b else (a if len_a < len_b else b)
        totals["first_shown"] += coin if question.random_order else a
        totals["second_shown"] += coin if question.random_order else b
        totals["always_A"] += a
        totals["always_B"] += b
        totals["always_tie"] += float("tie" in ok)
        totals["always_both_bad"] += float("both_bad" in ok)
    return {name: total / len(rows) for name, total in totals.items()}


def trivial_strategy_warnings(scores: Mapping[str, float], pass_mark: float, *, mark: str = "pass mark") -> list[str]:
    """One message per trivial strategy scoring at least ``pass_mark`` (0–1), best first, e.g.
    "always the longer response scores 90% ≥ pass mark 80%". ``mark`` names the bar: a golden
    set is held against the stream's pause threshold ("pause threshold 70%")."""
    hits = sorted(((score, name) for name, score in scores.items() if score >= pass_mark - 1e-12), reverse=True)
    return [
        f"{STRATEGY_LABELS.get(name, name)} scores {_pct(score)} ≥ {mark} {_pct(pass_mark)}" for score, name in hits
    ]


def format_scores(scores: Mapping[str, float]) -> str:
    """The scores on one line, in ``STRATEGY_LABELS`` order: "longer 50%, shorter 50%, ..."."""
    return ", ".join(f"{name} {_pct(scores[name])}" for name in STRATEGY_LABELS if name in scores)


__all__ = [
    "STRATEGY_LABELS",
    "QuestionFacts",
    "format_scores",
    "trivial_strategy_scores",
    "trivial_strategy_warnings",
]
