"""Adaptive overlap benchmark: judgements saved against a fixed overlap, at the export accuracy each
policy reaches, on simulated annotators.

    .venv/bin/python bench/adaptive_overlap.py [--items 20000] [--seeds 3] [--engine-items 150]

Simulated stream: pairwise items with a hidden truth (A or B). A pool of 20 annotators, each with
an accuracy drawn from 0.70-0.90; a quarter of the items are *hard* (every annotator's accuracy
minus 0.25 on them). A wrong answer is the other response, or now and then (3%) a tie. Each item is
judged by distinct annotators drawn at random, in order.

Policies (the engine's own agreement rule: ``annotation.services.answer_key`` / ``first_agree``):

- fixed overlap k: every item gets k judgements;
- adaptive (n, k): an item stops after its first n judgements when they agree, else gets k.

The export is majority vote as ``exports`` decides it: no majority, or a tie winning, drops the
pair. Printed per policy: judgements per item, judgements saved against fixed overlap k, pairs
exported (coverage) and their accuracy against the truth, with a 95% interval.

Then the **engine check**: the same kind of stream goes through the real assignment engine (
``claim_next`` and ``submit_judgement``, simulated annotators taking turns) on a throwaway SQLite
database, adaptive overlap (2, 5); every item must hold exactly the judgements the policy says
(n when its first n agree, else k), and the export manifest's "stopped early" must match.
No PostgreSQL needed; runs in about a minute on 2 cores.
"""

from __future__ import annotations

import argparse
import math
import os
import random
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

N_ANNOTATORS = 20
HARD_SHARE = 0.25
HARD_PENALTY = 0.25
TIE_SHARE = 0.03
POLICIES: list[tuple[str, int, int]] = [  # (name, n, k): n == k is a fixed overlap
    ("fixed 3", 3, 3),
    ("fixed 5", 5, 5),
    ("adaptive n=2, up to 3", 2, 3),
    ("adaptive n=2, up to 5", 2, 5),
    ("adaptive n=3, up to 5", 3, 5),
]


def make_world(rng: random.Random, items: int) -> tuple[list[float], list[tuple[str, bool]]]:
    accuracies = [rng.uniform(0.70, 0.90) for _ in range(N_ANNOTATORS)]
    world = [(rng.choice("AB"), rng.random() < HARD_SHARE) for _ in range(items)]
    return accuracies, world


def answer(rng: random.Random, accuracy: float, truth: str, hard: bool) -> str:
    if rng.random() < accuracy - (HARD_PENALTY if hard else 0.0):
        return truth
    return "tie" if rng.random() < TIE_SHARE else ("B" if truth == "A" else "A")


def majority(answers: list[str]) -> str | None:
    """The export's majority: the most frequent answer, None when two share the top."""
    tally = Counter(answers).most_common()
    if len(tally) > 1 and tally[0][1] == tally[1][1]:
        return None
    return tally[0][0]


def policy_count(answers: list[str], n: int, k: int, agree: Any) -> int:
    """How many of an item's answers (in arrival order) the policy collects."""
    return n if n < k and agree(answers[:n]) else k


def simulate(items: int, seeds: int) -> None:
    from annotation.services import answer_key, first_agree

    def agree(answers: list[str]) -> bool:
        return first_agree([answer_key(a, None, False) for a in answers])

    totals = {name: Counter[str]() for name, _n, _k in POLICIES}
    for seed in range(seeds):
        rng = random.Random(seed)
        accuracies, world = make_world(rng, items)
        for truth, hard in world:
            people = rng.sample(range(N_ANNOTATORS), 5)
            answers = [answer(rng, accuracies[p], truth, hard) for p in people]
            for name, n, k in POLICIES:
                used = answers[: policy_count(answers, n, k, agree)]
                label = majority(used)
                row = totals[name]
                row["items"] += 1
                row["judgements"] += len(used)
                row["stopped"] += int(len(used) < k)
                if label in ("A", "B"):
                    row["pairs"] += 1
                    row["correct"] += int(label == truth)
    print(
        f"policy simulation: {items:,} items × {seeds} seeds, {N_ANNOTATORS} annotators (accuracy 0.70-0.90), "
        f"{HARD_SHARE:.0%} hard items (−{HARD_PENALTY})"
    )
    print(f"{'policy':<24}{'judg./item':>11}{'saved vs k':>12}{'stopped':>9}{'coverage':>10}{'accuracy (95% CI)':>24}")
    for name, _n, k in POLICIES:
        row = totals[name]
        per_item = row["judgements"] / row["items"]
        saved = 1 - per_item / k
        acc = row["correct"] / row["pairs"]
        half = 1.96 * math.sqrt(acc * (1 - acc) / row["pairs"])
        print(
            f"{name:<24}{per_item:>11.3f}{saved:>11.1%}{row['stopped'] / row['items']:>9.1%}"
            f"{row['pairs'] / row['items']:>10.1%}{acc:>13.2%} ± {half:.2%}"
        )
    for adaptive_name, fixed_name in (("adaptive n=2, up to 5", "fixed 5"), ("adaptive n=2, up to 3", "fixed 3")):
        a, f = totals[adaptive_name], totals[fixed_name]
        print(
            f"  {adaptive_name} vs {fixed_name}: {1 - a['judgements'] / f['judgements']:.1%} fewer judgements, "
            f"export accuracy {a['correct'] / a['pairs']:.2%} vs {f['correct'] / f['pairs']:.2%}, "
            f"pairs {a['pairs'] / f['pairs']:.1%} of fixed"
        )


def engine_check(items: int) -> None:
    """The real engine on SQLite: every item holds exactly what the policy says."""
    from django.core.management import call_command

    started = time.perf_counter()
    call_command("migrate", verbosity=0)
    from django.contrib.auth.models import User

    from annotation import services
    from annotation.models import Item, Judgement
    from exports import services as exporting
    from projects.models import Membership, Project, Role, Stream, StreamMembership

    n, k = 2, 5
    project = Project.objects.create(name="Bench", slug="bench")
    stream = Stream.objects.create(
        project=project,
        slug="adaptive",
        name="Adaptive",
        status=Stream.Status.ACTIVE,
        overlap=k,
        adaptive_overlap=True,
        adaptive_min_agree=n,
        golden_rate=0.0,
        review_rate=0.0,
    )
    rng = random.Random(11)
    accuracies, world = make_world(rng, items)
    for i, (_truth, _hard) in enumerate(world):
        Item.objects.create(
            stream=stream,
            external_id=f"item-{i}",
            context=[{"role": "user", "content": f"Question {i}"}],
            responses=[{"text": f"first answer {i}"}, {"text": f"second answer {i}"}],
            content_hash=str(i),
        )
    ids = dict(zip(Item.objects.filter(stream=stream).order_by("pk").values_list("pk", flat=True), world, strict=True))
    people = []
    for p in range(N_ANNOTATORS):
        user = User.objects.create(username=f"sim-{p}")
        Membership.objects.create(project=project, user=user, role=Role.ANNOTATOR)
        StreamMembership.objects.create(stream=stream, user=user, status=StreamMembership.Status.QUALIFIED)
        people.append(user)
    active = list(range(N_ANNOTATORS))
    submits = 0
    while active:
        for p in list(active):
            assignment = services.claim_next(stream=stream, annotator=people[p])
            if assignment is None:
                active.remove(p)
                continue
            truth, hard = ids[assignment.item_id]
            key = services.idempotency_key(assignment_id=assignment.pk, token="bench")  # noqa: S106 - a page token
            choice = answer(rng, accuracies[p], truth, hard)
            services.submit_judgement(assignment=assignment, idempotency_key=key, choice=choice)
            submits += 1
    by_item: dict[int, list[Any]] = {}
    for item_id, stored in (
        Judgement.objects.filter(stream=stream, counted=True).order_by("id").values_list("item_id", "choice")
    ):
        by_item.setdefault(item_id, []).append(stored)

    def agree(answers: list[str]) -> bool:
        return services.first_agree([services.answer_key(a, None, False) for a in answers])

    matches = sum(len(got) == policy_count(got, n, k, agree) for got in by_item.values())
    stopped = Item.objects.filter(stream=stream, first_agreed=True).count()
    surplus = Judgement.objects.filter(stream=stream, counted=False).count()
    with tempfile.TemporaryDirectory() as out:
        manifest = exporting.write_export(exporting.ExportSpec(stream_ids=(stream.pk,)), Path(out))
    print(
        f"\nengine check (claim_next + submit_judgement on SQLite, adaptive n={n} up to {k}, {items} items): "
        f"{submits} judgements ({submits / items:.2f}/item), {matches}/{len(by_item)} items hold exactly the "
        f"policy's count, surplus {surplus}, stopped early {stopped}, manifest says "
        f"{manifest['counts']['items']['stopped_early']}; {time.perf_counter() - started:.1f} s"
    )
    if matches != items or len(by_item) != items or surplus or manifest["counts"]["items"]["stopped_early"] != stopped:
        raise SystemExit("FAIL: the engine and the policy disagree")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=20000)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--engine-items", type=int, default=150)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="quorum-bench-adaptive-") as tmp:
        os.environ["DATABASE_URL"] = f"sqlite:///{tmp}/bench.sqlite3"
        os.environ.pop("REDIS_URL", None)
        os.environ["CELERY_TASK_ALWAYS_EAGER"] = "1"
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "quorum.settings")
        import django

        django.setup()
        started = time.perf_counter()
        simulate(args.items, args.seeds)
        print(f"  ({time.perf_counter() - started:.1f} s)")
        if args.engine_items:
            engine_check(args.engine_items)


if __name__ == "__main__":
    main()
