"""Simulated annotators with fixed seeds, written straight to the database (bulk_create) so a
stream of a few thousand judgements builds in a second.

Each item has a hidden truth (A or B, independent of length and of display order) and two
responses whose lengths differ clearly on about half of the items. Habits:

- ``left``: always picks the response shown first;
- ``longer``: always picks the longer response;
- ``random``: A, B or tie uniformly at random;
- ``careful``: the truth 90% of the time, the other response otherwise.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.contrib.auth.models import User
from django.utils import timezone

from annotation.models import Assignment, Item, Judgement, gold_answer_correct
from projects.models import Stream
from tests.factories import UserFactory

Habit = Callable[[random.Random, "SimItem", list[int]], str]


@dataclass
class SimItem:
    item: Item
    truth: str
    len_a: int
    len_b: int

    @property
    def longer(self) -> str:
        return "A" if self.len_a > self.len_b else "B"


def left(rng: random.Random, item: SimItem, order: list[int]) -> str:
    return "AB"[order[0]]


def longer(rng: random.Random, item: SimItem, order: list[int]) -> str:
    return item.longer


def clicks_at_random(rng: random.Random, item: SimItem, order: list[int]) -> str:
    return rng.choice(["A", "B", "tie"])


def careful(rng: random.Random, item: SimItem, order: list[int]) -> str:
    if rng.random() < 0.9:
        return item.truth
    return "B" if item.truth == "A" else "A"


HABITS: dict[str, Habit] = {"left": left, "longer": longer, "random": clicks_at_random, "careful": careful}


def make_items(stream: Stream, n: int, *, seed: int = 1, golden: int = 0) -> list[SimItem]:
    rng = random.Random(seed)
    rows = []
    truths = []
    for index in range(n + golden):
        base = rng.randint(200, 600)
        other = int(base * (rng.uniform(2.0, 3.0) if rng.random() < 0.5 else rng.uniform(1.0, 1.2)))
        len_a, len_b = (base, other) if rng.random() < 0.5 else (other, base)
        truth = rng.choice("AB")
        truths.append((truth, len_a, len_b))
        is_golden = index >= n
        rows.append(
            Item(
                stream=stream,
                external_id=f"sim-{seed}-{index}",
                context=[{"role": "user", "content": f"Question {index}?"}],
                responses=[
                    {"text": "a" * len_a, "model": "m1", "metadata": {}},
                    {"text": "b" * len_b, "model": "m2", "metadata": {}},
                ],
                content_hash=f"{seed}-{index}",
                is_golden=is_golden,
                golden_answers=[truth] if is_golden else [],
            )
        )
    items = Item.objects.bulk_create(rows)
    return [SimItem(item, truth, len_a, len_b) for item, (truth, len_a, len_b) in zip(items, truths, strict=True)]


def judge_all(
    stream: Stream,
    items: list[SimItem],
    habits: Mapping[str, Habit],
    *,
    seed: int = 2,
    seconds: float = 40.0,
    extra: dict[str, dict[str, Any]] | None = None,
) -> dict[str, User]:
    """Every annotator (named by the keys of ``habits``) judges every item once, each with a
    random display order. ``extra`` adds Judgement fields per annotator name."""
    rng = random.Random(seed)
    users = {name: UserFactory.create(username=name) for name in habits}
    now = timezone.now()
    assignments = []
    answers = []
    for name, habit in habits.items():
        for sim in items:
            order = [0, 1] if rng.random() < 0.5 else [1, 0]
            served = now - timedelta(hours=1)
            assignments.append(
                Assignment(
                    item=sim.item,
                    stream=stream,
                    annotator=users[name],
                    status=Assignment.Status.SUBMITTED,
                    display_order=order,
                    served_at=served,
                    lease_expires_at=served + timedelta(minutes=10),
                    finished_at=now,
                )
            )
            answers.append((name, habit(rng, sim, order), rng.lognormvariate(0, 0.3) * seconds))
    assignments = Assignment.objects.bulk_create(assignments)
    judgements = []
    for assignment, (name, choice, active) in zip(assignments, answers, strict=True):
        judgements.append(
            Judgement(
                assignment=assignment,
                item=assignment.item,
                stream=stream,
                annotator=assignment.annotator,
                choice=choice,
                display_order=assignment.display_order,
                served_at=assignment.served_at,
                submitted_at=now - timedelta(minutes=rng.randint(1, 50)),
                active_seconds=active,
                idempotency_key=f"sim-{assignment.pk}",
                # As the submit service stores it: scored only on items golden when judged.
                gold_correct=(
                    gold_answer_correct(
                        choice=choice,
                        flag_harmful=(extra or {}).get(name, {}).get("flag_harmful", False),
                        golden_answers=assignment.item.golden_answers,
                        golden_harmful=assignment.item.golden_harmful,
                    )
                    if assignment.item.is_golden
                    else None
                ),
                **(extra or {}).get(name, {}),
            )
        )
    Judgement.objects.bulk_create(judgements)
    return users
