"""Writes and reads of a stream's golden set: items with a set of acceptable answers and an
explanation, served by golden injection (``annotation.services.pick_golden``).

An item becomes golden on its page, in bulk from the labels its data set already carried
(``Item.prior_label``), from the list of items annotators disagreed on most, or in the import file
(``golden`` column, see docs/import.md). Judgements given before an item became golden are not
scored against its answer (they were not served as golden).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import Count, Exists, OuterRef, Q
from django.utils import timezone

from annotation import selectors as annotation_selectors
from annotation.models import CHOICES, Item, Judgement
from annotation.strategies import StrategyCheck
from projects.models import Stream
from qualification.models import QualificationQuestion

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def answer_choices(k: int = 2) -> list[tuple[str, str]]:
    """Acceptable answers a PM can pick: each response letter, and for pairs tie and both bad."""
    letters = [(LETTERS[i], f"{LETTERS[i]} is better" if k == 2 else f"{LETTERS[i]} ranked best") for i in range(k)]
    return [*letters, ("tie", "Tie"), ("both_bad", "Both bad")] if k == 2 else [*letters, ("tie", "Tie for best")]


@transaction.atomic
def set_golden(*, item: Item, answers: list[str], explanation: str, harmful: bool) -> Item:
    """Makes ``item`` golden (or updates its answer): it leaves the ordinary queue (the claim's
    indexes hold non-golden items only) and is served by golden injection."""
    Item.objects.filter(pk=item.pk).update(
        is_golden=True,
        golden_answers=list(dict.fromkeys(answers)),
        golden_explanation=explanation,
        golden_harmful=harmful,
        updated_at=timezone.now(),
    )
    item.refresh_from_db()
    return item


@transaction.atomic
def unset_golden(*, item: Item) -> Item:
    """Returns a golden item to the ordinary queue (open again if it has room under the overlap)."""
    item = Item.objects.select_for_update().select_related("stream").get(pk=item.pk)
    item.is_golden = False
    item.golden_answers = []
    item.golden_explanation = ""
    item.golden_harmful = False
    item.is_open = item.claim_count < item.stream.overlap
    item.updated_at = timezone.now()
    item.save(
        update_fields=["is_golden", "golden_answers", "golden_explanation", "golden_harmful", "is_open", "updated_at"]
    )
    return item


def prior_answer(prior: Any) -> str | None:
    """The acceptable answer a prior label gives: ``{"choice": 0}`` → "A", ``"tie"`` → "tie"."""
    if not isinstance(prior, dict):
        return None
    choice = prior.get("choice")
    if isinstance(choice, bool):
        return None
    if isinstance(choice, int) and 0 <= choice < len(LETTERS):
        return LETTERS[choice]
    if isinstance(choice, str) and (choice in CHOICES or (len(choice) == 1 and choice in LETTERS)):
        return choice
    return None


def golden_from_prior_labels(*, stream: Stream, limit: int, explanation: str = "") -> int:
    """Makes up to ``limit`` items with a prior label golden, the label as the acceptable answer.
    Items nobody was served yet are taken first (their golden answers will all be scored), in a
    random order. ``explanation`` (may use ``{source}``) is the explanation shown in training mode.
    Returns how many were made golden."""
    candidates = (
        Item.objects.filter(stream=stream, pool=Item.Pool.WORK, is_golden=False, prior_label__isnull=False)
        .exclude(Exists(QualificationQuestion.objects.filter(item=OuterRef("pk"))))  # seen in the test
        .order_by("claim_count", "?")
        .only("pk", "prior_label")[: limit * 2]
    )
    made = 0
    with transaction.atomic():
        for item in candidates:
            if made >= limit:
                break
            answer = prior_answer(item.prior_label)
            if answer is None:
                continue
            source = str((item.prior_label or {}).get("source", "the data set"))
            text = (explanation or "The reference label ({source}) prefers {answer}.").format(
                source=source, answer=answer
            )
            Item.objects.filter(pk=item.pk).update(
                is_golden=True, golden_answers=[answer], golden_explanation=text, updated_at=timezone.now()
            )
            made += 1
    return made


@dataclass(frozen=True)
class Disagreement:
    item: Item
    judgements: int
    majority_share: float
    counts: dict[str, int]


# How many of the most disagreed items a QC run keeps on its row (``qc.services._store``) for the
# golden page's list: more than it shows, as items made golden since the run drop out of it.
DISAGREED_KEPT = 60


def disagreement_rows(*, stream: Stream, limit: int) -> list[list[Any]]:
    """The ``limit`` ordinary items with at least two pairwise choices and the smallest majority
    share (the share of the most frequent choice; ties broken by more judgements first), as
    ``[item id, judgements, majority share, {choice: count}]``: JSON, for the QC run's row. One
    grouped scan of the stream's current judgements."""
    counts: dict[int, Counter[str]] = defaultdict(Counter)
    rows = (
        Judgement.objects.filter(stream=stream, is_current=True, choice__isnull=False, item__is_golden=False)
        .filter(item__pool=Item.Pool.WORK, item__judgement_count__gte=2)
        .exclude(source=Judgement.Source.MODEL)
        .values_list("item_id", "choice")
        .annotate(n=Count("id"))
    )
    for item_id, choice, n in rows:
        counts[item_id][choice] += n
    scored = []
    for item_id, counter in counts.items():
        total = sum(counter.values())
        if total >= 2:
            scored.append((max(counter.values()) / total, -total, item_id))
    scored.sort()
    top = scored[:limit]
    return [[item_id, -neg_total, round(share, 3), dict(counts[item_id])] for share, neg_total, item_id in top]


def most_disagreed(*, stream: Stream, limit: int = 30, stored: list[list[Any]] | None = None) -> list[Disagreement]:
    """The most disagreed items (``disagreement_rows``): from ``stored`` rows (the last QC run's,
    without the items made golden since) when given, else counted now."""
    rows = stored if stored is not None else disagreement_rows(stream=stream, limit=limit)
    items = Item.objects.filter(stream=stream, is_golden=False).in_bulk([row[0] for row in rows])
    found = [
        Disagreement(items[item_id], total, share, dict(counts))
        for item_id, total, share, counts in rows
        if item_id in items
    ]
    return found[:limit]


def golden_set(stream: Stream) -> list[dict[str, Any]]:
    """The stream's golden items with how often they were answered and answered right."""
    items = (
        Item.objects.filter(stream=stream, pool=Item.Pool.WORK, is_golden=True)
        .annotate(
            answered=Count("judgements", filter=Q(judgements__is_current=True, judgements__gold_correct__isnull=False)),
            right=Count("judgements", filter=Q(judgements__is_current=True, judgements__gold_correct=True)),
        )
        .order_by("external_id")
    )
    return [{"item": item, "answered": item.answered, "right": item.right} for item in items]


def strategy_check(stream: Stream) -> StrategyCheck:
    """The trivial strategies against the golden set (``annotation.selectors.golden_strategy_check``:
    held against the stream's pause threshold)."""
    return annotation_selectors.golden_strategy_check(stream)
