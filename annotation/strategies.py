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
from dataclasses import dataclass, field
from typing import Any, NamedTuple


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
    """One message per trivial strategy scoring at least ``pass_mark`` (0–1), best first (equal
    scores in ``STRATEGY_LABELS`` order), e.g.
    "always the longer response scores 90% ≥ pass mark 80%". ``mark`` names the bar: a golden
    set is held against the stream's pause threshold ("pause threshold 70%")."""
    order = {name: index for index, name in enumerate(STRATEGY_LABELS)}
    hits = sorted(
        ((score, name) for name, score in scores.items() if score >= pass_mark - 1e-12),
        key=lambda hit: (-hit[0], order.get(hit[1], len(order)), hit[1]),
    )
    return [
        f"{STRATEGY_LABELS.get(name, name)} scores {_pct(score)} ≥ {mark} {_pct(pass_mark)}" for score, name in hits
    ]


def format_scores(scores: Mapping[str, float]) -> str:
    """The scores on one line, in ``STRATEGY_LABELS`` order: "longer 50%, shorter 50%, ..."."""
    return ", ".join(f"{name} {_pct(scores[name])}" for name in STRATEGY_LABELS if name in scores)


def response_length(response: Any) -> int:
    """Characters of one stored response (``{"text": ...}`` or a plain string)."""
    return len(str(response.get("text", "")) if isinstance(response, Mapping) else str(response))


@dataclass(frozen=True)
class StrategyCheck:
    """Trivial strategies held against a bar: a test's pass mark, or the gold accuracy below which
    the stream pauses an annotator. ``questions`` counts the pairwise questions scored."""

    questions: int
    bar: float
    mark: str
    scores: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @property
    def passable(self) -> bool:
        return bool(self.warnings)

    @property
    def rows(self) -> list[tuple[str, str]]:
        """(strategy, score as a percentage) in ``STRATEGY_LABELS`` order, for pages."""
        return [(label, _pct(self.scores[name])) for name, label in STRATEGY_LABELS.items() if name in self.scores]

    def summary(self) -> str:
        """One line for command output: the scores, then the verdict."""
        if not self.questions:
            return "Trivial strategies: no pairwise questions to score."
        verdict = "; ".join(self.warnings) if self.warnings else f"none reaches the {self.mark} {_pct(self.bar)}"
        scores = format_scores(self.scores)
        return f"Trivial strategies on {self.questions} questions: {scores}. {verdict[0].upper()}{verdict[1:]}."


def check_strategies(questions: Iterable[QuestionFacts], *, bar: float, mark: str = "pass mark") -> StrategyCheck:
    """Scores every trivial strategy on ``questions`` and warns for each one at or above ``bar``."""
    rows = list(questions)
    scores = trivial_strategy_scores(rows)
    return StrategyCheck(len(rows), bar, mark, scores, trivial_strategy_warnings(scores, bar, mark=mark))


__all__ = [
    "STRATEGY_LABELS",
    "QuestionFacts",
    "StrategyCheck",
    "check_strategies",
    "format_scores",
    "response_length",
    "trivial_strategy_scores",
    "trivial_strategy_warnings",
]
