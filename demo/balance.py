"""Picking demo questions that test something: the AlpacaEval judge preferred the longer response
on about 70% of its verdicts (Koala: 72%, helpful-base: 89%), and the first response (A) on 77%,
so ten questions taken in file order were passed by "always the longer response" (70% on the
Koala test, pass mark 60%).

``balanced`` takes items with a clear verdict (A or B; ties and equal lengths left out) from four
groups — right answer A or B, crossed with the right answer being the longer or the shorter
response — in equal shares, so that every trivial strategy of ``annotation.strategies`` scores
about 50% (exactly 50% for "longer", "shorter", "A" and "B" when ``n`` is even)."""

from __future__ import annotations

from collections.abc import Iterable

from annotation.models import Item
from annotation.strategies import response_length

# The groups, in the order the extra items of an ``n`` not divisible by 4 are given out: first one
# to (A, longer) and one to (B, shorter), which keeps both "longer" and "A" at exactly half.
GROUPS = (("A", True), ("B", False), ("A", False), ("B", True))


def group_of(item: Item) -> tuple[str, bool] | None:
    """(right answer, whether it is the longer response), or None for a tie, an unclear verdict,
    equal lengths or more than two responses."""
    choice = (item.prior_label or {}).get("choice") if isinstance(item.prior_label, dict) else None
    if choice not in ("A", "B") or len(item.responses) != 2:
        return None
    len_a, len_b = (response_length(r) for r in item.responses)
    if len_a == len_b:
        return None
    return choice, (len_a > len_b) == (choice == "A")


def balanced(items: Iterable[Item], n: int) -> list[Item]:
    """Up to ``n`` of ``items`` (taken in the order given within each group), as evenly spread over
    the four groups as the groups allow; a short group is made up from the others in ``GROUPS``
    order."""
    given = list(items)
    pools: dict[tuple[str, bool], list[Item]] = {group: [] for group in GROUPS}
    for item in given:
        group = group_of(item)
        if group is not None:
            pools[group].append(item)
    quota = {group: n // 4 + (1 if index < n % 4 else 0) for index, group in enumerate(GROUPS)}
    picked = {group: pools[group][: quota[group]] for group in GROUPS}
    missing = n - sum(len(p) for p in picked.values())
    for group in GROUPS:
        if missing <= 0:
            break
        extra = pools[group][len(picked[group]) : len(picked[group]) + missing]
        picked[group] += extra
        missing -= len(extra)
    chosen = {item.pk for group in GROUPS for item in picked[group]}
    # In the caller's order, so a fixed question order reads as before.
    return [item for item in given if item.pk in chosen]
