"""A stream's model judge measured like a person, apart from the people.

The judge (``judging.models.Judge``) answers each item twice, once in each display order
(``Verdict.answer_shown_ab`` / ``answer_shown_ba``, canonical); a *consistent* verdict (the same
answer both times) is its answer, an *inconsistent* one is no answer. Its judgements
(``source="model"``) never enter the people's figures (``qc.services._load`` leaves them out);
these figures compare it with them. They are stored by the recompute as stream figures named
``judge_*`` (``MetricSnapshot`` with no annotator), so the Quality page shows them in their own
section and the charts draw them over time. Definitions (docs/qc.md repeats them):

``judge_agreement``
    Over non-golden items with a consistent verdict and at least two counted, current, not
    excluded human choices with a unique most frequent answer (the *human majority*): the share
    where the judge's answer is that majority. Details: Cohen's kappa of judge × majority (4 × 4,
    ``metrics.kappa_from_confusion``) and Krippendorff's nominal alpha of the two as coders of
    the same items over A / B / tie (``metrics.krippendorff_alpha``). Flagged as a person is
    (``metrics._agreement``): ``evidence.agreement_decision`` against the rate that kappa =
    stream.min_agreement means given the chance agreement (sequential test on counts, ≤ 2% for a
    judge 0.1 above it, ≥ 95% confidence), after min_sample items.
``judge_gold_accuracy``
    Consistent verdicts on golden items that are an acceptable answer (``metrics.gold_figure``:
    the people's gold test and threshold). Inconsistent verdicts on golden items are counted in
    the details, not as wrong: the judge gave no answer there, and no use takes one.
``judge_position_bias``
    Every ask with an A/B answer (two per verdict, consistent or not): the share that picked the
    response shown first; ``evidence.position_bias_decision`` (exact binomial against 0.5, alpha
    5%, minimum effect 10 points). Details: among inconsistent verdicts, how many changed towards
    the first shown (A then B: the first each time) and towards the second.
``judge_length_bias``
    Consistent A/B verdicts on items whose responses differ clearly in length (``metrics.
    CLEARLY_LONGER``): the share for the longer one, against the people's A/B choices on the same
    (judged, non-golden) items (``evidence.length_bias_decision``: Fisher's exact, two-sided, alpha 5%, minimum
    effect 10 points).
``judge_swap_consistency``
    Consistent / (consistent + inconsistent) verdicts, with its exact 95% Clopper–Pearson
    interval. Described, not flagged: an inconsistent verdict is already never used.
``judge_anchoring``
    The suggest use (``Judgement.suggestion``): people's agreement with the judge's pick on items
    where it was shown versus held out (the pick existed and was hidden), ``evidence.
    anchoring_decision`` (Fisher's exact, two-sided, alpha 5%, minimum effect 10 points). A higher
    agreement when shown is the anchoring effect.
``judge_escalations``
    Items the escalate use sent on to the full overlap (``annotation.models.ItemEscalation``).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from qc import evidence
from qc.charts import clopper_pearson
from qc.metrics import (
    CHOICE_CODE,
    CLEARLY_LONGER,
    Figure,
    Thresholds,
    gold_figure,
    kappa_from_confusion,
    krippendorff_alpha,
)

PICKS = ("A", "B", "tie")
PREFIX = "judge_"


@dataclass(frozen=True)
class VerdictRow:
    item_id: int
    consistent: bool
    shown_ab: str  # canonical answer when shown A first
    shown_ba: str  # canonical answer when shown B first


@dataclass(frozen=True)
class ItemFacts:
    golden: bool
    golden_answers: Sequence[str]
    len_a: int
    len_b: int


@dataclass
class JudgeData:
    """What the judge's figures are computed from: its verdicts (errors left out), the people's
    counted, current, not excluded choices as (item id, choice, suggestion shown), and the items'
    facts."""

    verdicts: Sequence[VerdictRow]
    human: Sequence[tuple[int, str, str | None]]
    items: Mapping[int, ItemFacts]
    escalations: int = 0
    details: dict[str, Any] = field(default_factory=dict)


def _round(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(float(value), digits)


def _rate(k: int, n: int) -> float | None:
    return k / n if n else None


def human_majorities(human: Iterable[tuple[int, str, str | None]], items: Mapping[int, ItemFacts]) -> dict[int, str]:
    """Item → the unique most frequent human choice, on non-golden items with at least two."""
    votes: dict[int, Counter[str]] = defaultdict(Counter)
    for item_id, choice, _suggestion in human:
        facts = items.get(item_id)
        if facts is not None and not facts.golden:
            votes[item_id][choice] += 1
    majorities = {}
    for item_id, counts in votes.items():
        if sum(counts.values()) < 2:
            continue
        top = counts.most_common(2)
        if len(top) == 1 or top[0][1] > top[1][1]:
            majorities[item_id] = top[0][0]
    return majorities


def agreement_figure(answers: Mapping[int, str], majorities: Mapping[int, str], thresholds: Thresholds) -> Figure:
    """``judge_agreement`` (module docstring)."""
    shared = [item for item in answers if item in majorities]
    confusion = np.zeros((4, 4))
    for item in shared:
        confusion[CHOICE_CODE[answers[item]], CHOICE_CODE[majorities[item]]] += 1
    n = len(shared)
    k = int(np.trace(confusion))
    kappa = kappa_from_confusion(confusion)
    # Krippendorff's alpha, the judge and the majority as two coders of each item (A / B / tie).
    counts = np.zeros((n, 3), dtype=np.int64)
    for row, item in enumerate(shared):
        for value in (answers[item], majorities[item]):
            if value in PICKS:
                counts[row, PICKS.index(value)] += 1
    alpha, pairable = krippendorff_alpha(counts, level="nominal", value_domain=[0, 1, 2])
    details: dict[str, Any] = {
        "kappa": _round(kappa),
        "alpha": _round(alpha),
        "alpha_pairable": pairable,
        "agreeing": k,
        "threshold": thresholds.min_agreement,
    }
    flagged = False
    if n:
        chance = float(confusion.sum(axis=1) @ confusion.sum(axis=0)) / n**2
        rate = min(max(chance + thresholds.min_agreement * (1.0 - chance), 0.05), 0.95)
        decision = evidence.rate_below_decision(
            k,
            n,
            rate,
            subject=f"The judge agrees with the people's majority on {k} of {n} items",
            rate_name="agreement",
            empty="No items with both a consistent verdict and a human majority yet.",
            min_count=max(thresholds.min_sample, 1),
        )
        flagged = decision.pause
        details.update(
            {"chance_agreement": _round(chance), "threshold_rate": _round(rate), "evidence": decision.to_dict()}
        )
    return Figure(PREFIX + "agreement", _round(_rate(k, n)), n, flagged, details)


def position_figure(verdicts: Sequence[VerdictRow]) -> Figure:
    """``judge_position_bias`` (module docstring)."""
    first = n = 0
    for v in verdicts:
        if v.shown_ab in ("A", "B"):
            n += 1
            first += v.shown_ab == "A"
        if v.shown_ba in ("A", "B"):
            n += 1
            first += v.shown_ba == "B"
    changed = [v for v in verdicts if not v.consistent]
    towards_first = sum(1 for v in changed if (v.shown_ab, v.shown_ba) == ("A", "B"))
    towards_second = sum(1 for v in changed if (v.shown_ab, v.shown_ba) == ("B", "A"))
    decision = evidence.position_bias_decision(first, n)
    return Figure(
        PREFIX + "position_bias",
        _round(_rate(first, n)),
        n,
        decision.pause,
        {
            "count": first,
            "changed_with_order": len(changed),
            "changed_towards_first": towards_first,
            "changed_towards_second": towards_second,
            "evidence": decision.to_dict(),
        },
    )


def _longer(facts: ItemFacts) -> str | None:
    """ "A" or "B" when one response is clearly longer (``CLEARLY_LONGER``), else None."""
    long_, short = max(facts.len_a, facts.len_b), min(facts.len_a, facts.len_b)
    if long_ <= 0 or long_ < CLEARLY_LONGER * short:
        return None
    return "B" if facts.len_b > facts.len_a else "A"


def length_figure(
    answers: Mapping[int, str], human: Iterable[tuple[int, str, str | None]], items: Mapping[int, ItemFacts]
) -> Figure:
    """``judge_length_bias`` (module docstring)."""
    k = n = 0
    for item_id, answer in answers.items():
        longer = _longer(items[item_id]) if item_id in items else None
        if longer and answer in ("A", "B"):
            n += 1
            k += answer == longer
    team_k = team_n = 0
    for item_id, choice, _suggestion in human:
        longer = _longer(items[item_id]) if item_id in items and not items[item_id].golden else None
        if longer and choice in ("A", "B"):
            team_n += 1
            team_k += choice == longer
    decision = evidence.length_bias_decision(k, n, team_k, team_n)
    return Figure(
        PREFIX + "length_bias",
        _round(_rate(k, n)),
        n,
        decision.pause,
        {"count": k, "people_rate": _round(_rate(team_k, team_n)), "people_n": team_n, "evidence": decision.to_dict()},
    )


def swap_figure(verdicts: Sequence[VerdictRow]) -> Figure:
    """``judge_swap_consistency`` (module docstring)."""
    n = len(verdicts)
    k = sum(1 for v in verdicts if v.consistent)
    bounds = clopper_pearson(k, n)
    return Figure(
        PREFIX + "swap_consistency",
        _round(_rate(k, n)),
        n,
        False,
        {
            "consistent": k,
            "inconsistent": n - k,
            "interval_95": [_round(bounds[0]), _round(bounds[1])] if bounds else None,
            "interval": "exact 95% Clopper–Pearson",
        },
    )


def anchoring_figure(human: Iterable[tuple[int, str, str | None]], answers: Mapping[int, str]) -> Figure:
    """``judge_anchoring`` (module docstring). Value: shown minus hidden agreement."""
    shown_k = shown_n = hidden_k = hidden_n = 0
    for item_id, choice, suggestion in human:
        if suggestion in PICKS:
            shown_n += 1
            shown_k += choice == suggestion
        elif suggestion == "" and item_id in answers:
            hidden_n += 1
            hidden_k += choice == answers[item_id]
    decision = evidence.anchoring_decision(shown_k, shown_n, hidden_k, hidden_n)
    shown, hidden = _rate(shown_k, shown_n), _rate(hidden_k, hidden_n)
    return Figure(
        PREFIX + "anchoring",
        _round(shown - hidden) if shown is not None and hidden is not None else None,
        shown_n + hidden_n,
        decision.pause,
        {
            "shown_agree": shown_k,
            "shown_n": shown_n,
            "shown_rate": _round(shown),
            "hidden_agree": hidden_k,
            "hidden_n": hidden_n,
            "hidden_rate": _round(hidden),
            "evidence": decision.to_dict(),
        },
    )


def judge_figures(data: JudgeData, thresholds: Thresholds) -> list[Figure]:
    """Every ``judge_*`` figure of the stream's judge (module docstring)."""
    answers = {v.item_id: v.shown_ab for v in data.verdicts if v.consistent and v.shown_ab in CHOICE_CODE}
    plain = {item: a for item, a in answers.items() if item in data.items and not data.items[item].golden}
    majorities = human_majorities(data.human, data.items)
    golden = [v for v in data.verdicts if v.item_id in data.items and data.items[v.item_id].golden]
    right = sum(1 for v in golden if v.consistent and v.shown_ab in data.items[v.item_id].golden_answers)
    answered = sum(1 for v in golden if v.consistent)
    gold = gold_figure(PREFIX + "gold_accuracy", right, answered, thresholds)
    gold.details["inconsistent_on_golden"] = len(golden) - answered
    return [
        Figure(
            PREFIX + "verdicts",
            float(len(data.verdicts)),
            len(data.verdicts),
            details={"consistent": len(answers), **data.details},
        ),
        agreement_figure(plain, majorities, thresholds),
        gold,
        position_figure(data.verdicts),
        length_figure(plain, data.human, data.items),
        swap_figure(data.verdicts),
        anchoring_figure(data.human, answers),
        Figure(PREFIX + "escalations", float(data.escalations), data.escalations),
    ]
