"""Simulated QC data for the demo (``load_demo``): golden sets from the AlpacaEval judge's
verdicts (the items' prior labels) and judgements from a few scripted annotators with different
habits, so the QC page, alerts and review queue show something real on first start.

Everything simulated is marked: the accounts are named ``sim-*`` and every judgement has
``source = "simulated"``. Idempotent: a stream that already has simulated judgements is left alone.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from annotation.models import Assignment, Item, Judgement, gold_answer_correct
from demo import balance
from projects import services as project_services
from projects.models import Role, Stream, StreamMembership
from qc import calibration, golden, rules
from qc.metrics import reading_seconds
from qc.models import CalibrationRound
from qualification.models import QualificationQuestion

User = get_user_model()

# name -> (habit, pace): what each scripted annotator does. A pace > 0 is the median time as a
# multiple of the item's reading floor (qc.metrics.reading_seconds: both responses skimmed at 400
# words a minute); a pace < 0 is a fixed median in seconds whatever the length (a rusher).
Habit = Callable[[random.Random, str, list[int], tuple[int, int]], str]


def _careful(rng: random.Random, truth: str, order: list[int], lengths: tuple[int, int]) -> str:
    return truth if rng.random() < 0.92 else rng.choice(["A", "B", "tie"])


def _lefty(rng: random.Random, truth: str, order: list[int], lengths: tuple[int, int]) -> str:
    return "AB"[order[0]] if rng.random() < 0.95 else truth


def _longer(rng: random.Random, truth: str, order: list[int], lengths: tuple[int, int]) -> str:
    return ("A" if lengths[0] >= lengths[1] else "B") if rng.random() < 0.9 else truth


def _random(rng: random.Random, truth: str, order: list[int], lengths: tuple[int, int]) -> str:
    return rng.choice(["A", "B", "A", "B", "tie"])


SIMULATED: dict[str, tuple[Habit, float]] = {
    "sim-careful": (_careful, 1.8),
    "sim-careful2": (_careful, 1.5),
    "sim-lefty": (_lefty, 1.2),
    "sim-longer": (_longer, 1.3),
    "sim-random": (_random, 1.1),
    "sim-rusher": (_careful, -2.5),
}


# Integrity signals (issue 14; annotation.signals): the share of items on which each simulated
# annotator copies item text (and pastes into the rationale, away from the page meanwhile).
# sim-longer leans on a chatbot; the others copy now and then (quoting a response).
COPYING = {"sim-longer": 0.45}
COPYING_DEFAULT = 0.03


def _signals(rng: random.Random, name: str, shown: float) -> dict[str, int | float]:
    """Plausible page signals for an item shown for ``shown`` seconds (its own generator, so the
    demo's other figures do not change with it)."""
    copied = rng.random() < COPYING.get(name, COPYING_DEFAULT)
    leaning = copied and name in COPYING
    away = min(shown * 0.8, rng.uniform(15, 45)) if leaning else (rng.uniform(1, 5) if rng.random() < 0.1 else 0.0)
    chars = rng.randint(200, 900) if copied else 0
    return {
        "shown_seconds": round(shown, 3),
        "hidden_seconds": round(away, 3),
        "unfocused_seconds": 0.0,
        "leaves": 1 if away else 0,
        "copy_prompt": 1 if leaning else 0,
        "copy_prompt_chars": rng.randint(40, 200) if leaning else 0,
        "copy_response": 1 if copied else 0,
        "copy_response_chars": chars,
        "paste_rationale": 1 if leaning else 0,
        "paste_rationale_chars": rng.randint(100, 400) if leaning else 0,
        "first_interaction_seconds": round(min(shown, rng.uniform(1.5, 6.0)), 3),
    }


def _truth(item: Item) -> str:
    return golden.prior_answer(item.prior_label) or "A"


def record_judgement(
    *,
    stream: Stream,
    item: Item,
    annotator: Any,
    order: list[int],
    served: Any,
    submitted: Any,
    key: str,
    **fields: Any,
) -> Judgement:
    """A scripted answer stored as a submit stores it: a submitted assignment and its judgement,
    made under the stream's current guideline version. The demo's simulated annotators and the
    export examples' scripted ones both use it; the callers keep the items' counters."""
    assignment = Assignment.objects.create(
        item=item,
        stream=stream,
        annotator=annotator,
        status=Assignment.Status.SUBMITTED,
        display_order=order,
        served_at=served,
        lease_expires_at=served + timedelta(minutes=stream.lease_minutes),
        finished_at=submitted,
    )
    return Judgement.objects.create(
        assignment=assignment,
        item=item,
        stream=stream,
        annotator=annotator,
        display_order=order,
        served_at=served,
        submitted_at=submitted,
        idempotency_key=f"{key}-{assignment.pk}",
        guideline_version=stream.guideline_version,
        **fields,
    )


@transaction.atomic
def simulate_stream(*, stream: Stream, items: int = 80, golden_items: int = 20, seed: int = 7) -> int:
    """Golden set from prior labels and simulated judgements in ``stream``; returns how many
    judgements were made (0 when the stream already has simulated ones)."""
    if Judgement.objects.filter(stream=stream, source=Judgement.Source.SIMULATED).exists():
        return 0
    rng = random.Random(seed + sum(map(ord, stream.slug)))  # the same demo on every machine
    signal_rng = random.Random(f"signals-{seed}-{stream.slug}")  # apart: the other figures stay as they were
    if not Item.objects.filter(stream=stream, is_golden=True).exists():
        # As the "from prior labels" button does, but reproducibly: the same items every time.
        labelled = list(
            Item.objects.filter(stream=stream, pool=Item.Pool.WORK, prior_label__isnull=False, claim_count=0)
            .exclude(Exists(QualificationQuestion.objects.filter(item=OuterRef("pk"))))
            .order_by("id")
            .only("pk", "prior_label", "responses")
        )
        rng.shuffle(labelled)
        # Balanced (demo.balance): the longer response right in half, A in half, so no trivial
        # strategy keeps gold accuracy above the pause threshold.
        for item in balance.balanced(labelled, golden_items):
            answer = golden.prior_answer(item.prior_label)
            if answer is not None:
                golden.set_golden(
                    item=item,
                    answers=[answer],
                    explanation=f"The AlpacaEval judge (GPT-4 Turbo) preferred {answer}.",
                    harmful=False,
                )
    gold = list(Item.objects.filter(stream=stream, is_golden=True, pool=Item.Pool.WORK).order_by("id")[:golden_items])
    plain = list(
        Item.objects.filter(stream=stream, is_golden=False, pool=Item.Pool.WORK, claim_count=0)
        .exclude(Exists(QualificationQuestion.objects.filter(item=OuterRef("pk"))))
        .order_by("id")[:items]
    )
    now = timezone.now()
    made = 0
    judged: dict[int, int] = {}
    for name, (habit, seconds) in SIMULATED.items():
        user = User.objects.filter(username=name).first() or User.objects.create_user(
            username=name, password=None, first_name="Simulated"
        )
        project_services.add_member(project=stream.project, username=name, role=Role.ANNOTATOR, streams=[stream])
        sm = StreamMembership.objects.get(stream=stream, user=user)
        if sm.status == StreamMembership.Status.INVITED and sm.can_move_to(StreamMembership.Status.QUALIFIED):
            project_services.transition_stream_membership(
                stream_membership=sm, to_status=StreamMembership.Status.QUALIFIED, reason="simulated demo annotator"
            )
        work = plain + rng.sample(gold, k=min(len(gold), 12))
        rng.shuffle(work)
        for index, item in enumerate(work):
            order = [0, 1] if rng.random() < 0.5 else [1, 0]
            lengths = tuple(len(str(r.get("text", ""))) for r in item.responses[:2])
            choice = habit(rng, _truth(item), order, (lengths[0], lengths[1]))
            median = -seconds if seconds < 0 else max(8.0, float(reading_seconds(sum(lengths))) * seconds)
            active = max(0.5, rng.lognormvariate(0, 0.3) * median)
            submitted = now - timedelta(hours=30) + timedelta(minutes=index * 10 + rng.random() * 5)
            served = submitted - timedelta(seconds=active * 1.5)
            signals = _signals(signal_rng, name, (submitted - served).total_seconds())
            count = judged.get(item.pk, 0)
            counted = item.is_golden or count < stream.overlap
            record_judgement(
                stream=stream,
                item=item,
                annotator=user,
                order=order,
                served=served,
                submitted=submitted,
                key="sim",
                choice=choice,
                strength=2 if choice in ("A", "B") else None,
                first_interaction_at=served + timedelta(seconds=float(signals["first_interaction_seconds"])),
                active_seconds=active,
                signals=signals,
                counted=counted,
                gold_correct=gold_answer_correct(
                    choice=choice,
                    flag_harmful=False,
                    golden_answers=item.golden_answers,
                    golden_harmful=item.golden_harmful,
                )
                if item.is_golden
                else None,
                source=Judgement.Source.SIMULATED,
            )
            if counted:
                judged[item.pk] = count + 1
            made += 1
    for item_id, n in judged.items():
        Item.objects.filter(pk=item_id).update(judgement_count=n, claim_count=n, is_open=n < stream.overlap)
    # The gold rule runs on each submit in real use; here once over the whole simulated history.
    for user_id in User.objects.filter(username__in=list(SIMULATED)).values_list("pk", flat=True):
        rules.check_gold_rule(stream=stream, annotator_id=user_id)
    rules.recompute_and_act(stream=stream)
    return made


# Multi-axis streams (helpful_safe, attribute_pairwise): who answers, with which habit on every axis.
SIMULATED_AXES: dict[str, Habit] = {"sim-careful": _careful, "sim-careful2": _careful, "sim-lefty": _lefty}


@transaction.atomic
def simulate_axes_stream(*, stream: Stream, items: int = 40, seed: int = 11) -> int:
    """Simulated judgements of a multi-axis stream, so its Quality page shows the per-axis figures
    on first start: three scripted annotators (two careful, one who picks the response shown
    first) answer every axis of ``items`` items with their habit, against the item's prior label
    (the pair's chosen response) as the truth; on helpful_safe the chosen response is marked safe
    90% of the time, the other 40%, an unsafe one gets a harm category 60% of the time. No golden
    set and no QC rules (the pairwise demo streams show those). Marked simulated like the rest;
    returns how many judgements were made (0 when the stream already has simulated ones)."""
    from annotation import axes as multi_axis
    from qc import services as qc_services

    if Judgement.objects.filter(stream=stream, source=Judgement.Source.SIMULATED).exists():
        return 0
    rng = random.Random(seed + sum(map(ord, stream.slug)))
    plain = list(
        Item.objects.filter(
            stream=stream, is_golden=False, pool=Item.Pool.WORK, claim_count=0, num_responses=2
        ).order_by("id")[:items]
    )
    now = timezone.now()
    made = 0
    judged: dict[int, int] = {}
    categories = list(stream.harm_categories or [])
    for name, habit in SIMULATED_AXES.items():
        user = User.objects.filter(username=name).first() or User.objects.create_user(
            username=name, password=None, first_name="Simulated"
        )
        project_services.add_member(project=stream.project, username=name, role=Role.ANNOTATOR, streams=[stream])
        sm = StreamMembership.objects.get(stream=stream, user=user)
        if sm.status == StreamMembership.Status.INVITED and sm.can_move_to(StreamMembership.Status.QUALIFIED):
            project_services.transition_stream_membership(
                stream_membership=sm, to_status=StreamMembership.Status.QUALIFIED, reason="simulated demo annotator"
            )
        for index, item in enumerate(plain):
            order = [0, 1] if rng.random() < 0.5 else [1, 0]
            lengths = tuple(len(str(r.get("text", ""))) for r in item.responses[:2])
            truth = _truth(item)
            pair = (lengths[0], lengths[1])
            if stream.task_kind == Stream.TaskKind.HELPFUL_SAFE:
                safe = [rng.random() < (0.9 if "AB"[i] == truth else 0.4) for i in range(2)]
                harm = [None if ok or not categories or rng.random() >= 0.6 else rng.choice(categories) for ok in safe]
                helpful, safer = habit(rng, truth, order, pair), habit(rng, truth, order, pair)
                axes: dict[str, Any] = {"helpful": helpful, "safer": safer, "safe": safe, "harm": harm}
            else:
                axes = {"attributes": {attribute: habit(rng, truth, order, pair) for attribute in stream.axis_names()}}
            choice = multi_axis.choice_of(stream, axes)
            active = max(8.0, float(reading_seconds(sum(lengths))) * 2.0) * rng.lognormvariate(0, 0.3)
            submitted = now - timedelta(hours=20) + timedelta(minutes=index * 10 + rng.random() * 5)
            served = submitted - timedelta(seconds=active * 1.5)
            count = judged.get(item.pk, 0)
            record_judgement(
                stream=stream,
                item=item,
                annotator=user,
                order=order,
                served=served,
                submitted=submitted,
                key="sim",
                choice=choice,
                axes=axes,
                rationale="Simulated: the chosen response is more accurate and answers the question."
                if stream.task_kind == Stream.TaskKind.ATTRIBUTE_PAIRWISE
                else "",
                flag_harmful=multi_axis.any_unsafe(axes),
                active_seconds=active,
                counted=count < stream.overlap,
                source=Judgement.Source.SIMULATED,
            )
            if count < stream.overlap:
                judged[item.pk] = count + 1
            made += 1
    for item_id, n in judged.items():
        Item.objects.filter(pk=item_id).update(judgement_count=n, claim_count=n, is_open=n < stream.overlap)
    qc_services.compute_stream_metrics(stream=stream)
    return made


# What a simulated annotator writes in a calibration round, by their answer (at least three words).
CALIBRATION_WHY = {
    "A": "A does what the prompt asks; B wanders off it.",
    "B": "B is more complete and gets the details right.",
    "tie": "Both answer the question about equally well.",
    "both_bad": "Neither answers what was asked.",
}


@transaction.atomic
def simulate_calibration(*, stream: Stream, pm: Any, seed: int = 5) -> tuple[CalibrationRound, CalibrationRound] | None:
    """Two calibration rounds on the items the simulated annotators split on most: one that ran
    two days ago, answered by the simulated annotators, with the PM's expected answers (the
    AlpacaEval judge's), closed — its results page and their alignment; and one open for three
    days for the demo's people (their stream page shows it). None when the stream already has
    rounds or too few split items."""
    if CalibrationRound.objects.filter(stream=stream).exists():
        return None
    items = [d.item for d in golden.most_disagreed(stream=stream, limit=10)]
    if len(items) < 4:
        return None
    rng = random.Random(seed + sum(map(ord, stream.slug)))
    now = timezone.now()
    opened, answered, closed_at = now - timedelta(days=2), now - timedelta(days=1, hours=12), now - timedelta(days=1)
    half = len(items) // 2
    past = calibration.open_round(
        stream=stream,
        title="Calibration 1: the items we split on",
        deadline=closed_at,
        item_ids=[item.pk for item in items[:half]],
        created_by=pm,
        now=opened,
    )
    for round_item in past.items.select_related("item"):
        truth = _truth(round_item.item)
        calibration.set_expected(
            round_item=round_item,
            expected_answer=truth,
            explanation=f"The AlpacaEval judge (GPT-4 Turbo) preferred {truth}; read both to the end before choosing.",
        )
    for name, (habit, _pace) in SIMULATED.items():
        user = User.objects.filter(username=name).first()
        if user is None or not calibration.is_participant(stream, user):
            continue  # a simulated annotator QC paused takes no round
        while (row := calibration.next_for(round_=past, annotator=user, now=answered)) is not None:
            item = row.round_item.item
            lengths = tuple(len(str(r.get("text", ""))) for r in item.responses[:2])
            choice = habit(rng, _truth(item), list(row.display_order), (lengths[0], lengths[1]))
            calibration.submit_answer(
                answer=row,
                idempotency_key=row.idempotency_key,
                choice=choice,
                strength=2 if choice in ("A", "B") else None,
                rationale=CALIBRATION_WHY[choice],
                now=answered,
            )
    calibration.close_round(round_=past, closed_by=pm, now=closed_at)
    upcoming = calibration.open_round(
        stream=stream,
        title="Calibration 2: before the next batch",
        deadline=now + timedelta(days=3),
        item_ids=[item.pk for item in items[half:]],
        created_by=pm,
        now=now,
    )
    return past, upcoming
