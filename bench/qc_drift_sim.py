"""QC drift simulation: does the evidence-based quality loop leave careful annotators alone and
catch the ones who drift, and how much drifted work would still reach the export?

    .venv/bin/python bench/qc_drift_sim.py [--teams 200] [--seed 7] [--judgements 2000] [--golden-rate 0.1]

A team-shift: 10 annotators each give about ``--judgements`` judgements, in time order, on
pairwise items with a hidden truth (A or B); ``--golden-rate`` of their work is golden items.
Non-golden items are judged by 3 annotators (overlap 3). Seven annotators are careful (accuracy
drawn from 0.80–0.90, steady labeling time); three qualify the same way, then at a random point
(20–70% into their shift) drift:

- ``drift-accuracy``: accuracy falls to 0.55, labeling time unchanged;
- ``drift-both``: accuracy falls to 0.55 and labeling time collapses to a third;
- ``drift-time``: labeling time collapses to a third, accuracy falls to 0.60.

QC runs ``qc.evidence`` on each annotator's stream as it would online (every detector is causal):
the sequential gold test (``gold_decision``, threshold 0.7), a Bernoulli CUSUM on golden
correctness (0.8 → 0.55), a Bernoulli CUSUM on agreement with the other two annotators of an
item when they agree with each other (0.75 → 0.55), and a time CUSUM against the annotator's
own first 50 judgements. The first alarm pauses the annotator; the work since the change point
the alarming CUSUM estimates is removed (when the gold test fires first, the earliest change
estimate of the CUSUMs that alarm by then, else the whole shift).

Printed: one team-shift in detail, then over ``--teams`` team-shifts: careful annotators paused
(goal: none), detection rate, delay and change-point error for the drifters, the share of
post-drift judgements that would still count (goal ≤ 10%), and majority-vote export accuracy
without QC, with QC and with the true change points (oracle). No database; needs only numpy
and ``qc.evidence``. Runs in well under a minute on 2 cores.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from qc import drift, evidence  # noqa: E402  (after the path set-up)

N_ANNOTATORS = 10
KINDS = ("careful",) * 7 + ("drift-accuracy", "drift-both", "drift-time")
OVERLAP = 3
THRESHOLD = 0.7  # the stream's minimum gold accuracy
# The production detectors' settings (qc.drift), so the bench measures what the rules run.
GOLD_GOOD, GOLD_BAD = drift.gold_rates(THRESHOLD)  # 0.80 -> 0.55
AGREE_GOOD, AGREE_BAD = 0.75, 0.55
BASELINE = drift.TIME_BASELINE
LOG_SD = 0.5
# Four detectors watch each careful annotator, and any of them pauses: each CUSUM gets 0.5% of
# false alarms over the shift, the gold SPRT its ≤ 2% bound (≤ 1% at 0.80 over 200 answers).
CUSUM_FALSE_ALARM = drift.FALSE_ALARM


@dataclass
class Annotator:
    kind: str
    accuracy: float
    change: int | None  # true change position (judgement index), None for careful annotators
    length: int  # judgements in the shift (golden included)
    gold_positions: np.ndarray
    gold_correct: np.ndarray
    agree_positions: np.ndarray
    agree: np.ndarray
    seconds: np.ndarray


@dataclass
class Outcome:
    kind: str
    change: int | None
    alarm: int | None  # judgement index of the pause
    detector: str | None
    estimate: int | None  # estimated change (judgement index)
    alarms: dict[str, int] = field(default_factory=dict)  # every detector's own first alarm


def simulate(
    rng: np.random.Generator, judgements: int, golden_rate: float
) -> tuple[list[Annotator], dict[str, np.ndarray]]:
    """One team-shift: the annotators' streams and the non-golden judgements (for the export)."""
    n_items = int(N_ANNOTATORS * judgements * (1 - golden_rate) / OVERLAP)
    who = np.argsort(rng.random((n_items, N_ANNOTATORS)), axis=1)[:, :OVERLAP]  # 3 distinct annotators
    truth = rng.integers(0, 2, n_items)
    accuracy0 = rng.uniform(0.80, 0.90, N_ANNOTATORS)
    log_mean = np.log(rng.uniform(15, 40, N_ANNOTATORS))

    labels = np.zeros((n_items, OVERLAP), dtype=np.int64)
    positions = np.zeros((n_items, OVERLAP), dtype=np.int64)
    annotators: list[Annotator] = []
    streams = []
    for a, kind in enumerate(KINDS):
        rows, cols = np.nonzero(who == a)  # the items this annotator judges, in item order
        order = np.argsort(rows)
        rows, cols = rows[order], cols[order]
        n_plain = len(rows)
        golden = rng.random(2 * n_plain + 100) < golden_rate
        end = int(np.searchsorted(np.cumsum(~golden), n_plain)) + 1  # the slot of the last plain judgement
        golden = golden[:end]
        length = len(golden)
        change = None if kind == "careful" else int(rng.uniform(0.2, 0.7) * length)
        after = np.zeros(length, dtype=bool) if change is None else np.arange(length) >= change
        drop = {"drift-accuracy": 0.55, "drift-both": 0.55, "drift-time": 0.60}.get(kind)
        accuracy = np.where(after, drop if drop is not None else accuracy0[a], accuracy0[a])
        correct = rng.random(length) < accuracy
        faster = np.log(3.0) if kind in ("drift-both", "drift-time") else 0.0
        seconds = np.exp(log_mean[a] + LOG_SD * rng.standard_normal(length) - faster * after)
        plain_positions = np.flatnonzero(~golden)
        labels[rows, cols] = np.where(correct[plain_positions], truth[rows], 1 - truth[rows])
        positions[rows, cols] = plain_positions
        streams.append((a, kind, float(accuracy0[a]), change, length, golden, correct, seconds))

    # Agreement: with the other two annotators of the item, where those two agree.
    agree_rows = []
    for j in range(OVERLAP):
        others = [k for k in range(OVERLAP) if k != j]
        defined = labels[:, others[0]] == labels[:, others[1]]
        agree_rows.append((defined, labels[:, j] == labels[:, others[0]]))
    for a, kind, acc, change, length, golden, correct, seconds in streams:
        mine = who == a
        pos_list, agree_list = [], []
        for j in range(OVERLAP):
            defined, agrees = agree_rows[j]
            sel = mine[:, j] & defined
            pos_list.append(positions[sel, j])
            agree_list.append(agrees[sel])
        pos = np.concatenate(pos_list)
        order = np.argsort(pos)
        annotators.append(
            Annotator(
                kind=kind,
                accuracy=acc,
                change=change,
                length=length,
                gold_positions=np.flatnonzero(golden),
                gold_correct=correct[golden],
                agree_positions=pos[order],
                agree=np.concatenate(agree_list)[order],
                seconds=seconds,
            )
        )
    export = {"who": who, "labels": labels, "positions": positions, "truth": truth}
    return annotators, export


def run_qc(annotator: Annotator, horizons: dict[str, int]) -> Outcome:
    """The detectors on one annotator's stream; the first alarm pauses them."""
    alarms: dict[str, int] = {}
    changes: dict[str, int] = {}
    gold = evidence.gold_decision(annotator.gold_correct, THRESHOLD)
    if gold.pause:
        alarms["gold SPRT"] = int(annotator.gold_positions[gold.n - 1])
    cusums = {
        "gold CUSUM": (
            evidence.cusum_bernoulli(
                annotator.gold_correct, GOLD_GOOD, GOLD_BAD, horizon=horizons["gold"], false_alarm=CUSUM_FALSE_ALARM
            ),
            annotator.gold_positions,
        ),
        "agreement CUSUM": (
            evidence.cusum_bernoulli(
                annotator.agree, AGREE_GOOD, AGREE_BAD, horizon=horizons["agreement"], false_alarm=CUSUM_FALSE_ALARM
            ),
            annotator.agree_positions,
        ),
        "time CUSUM": (
            evidence.cusum_time(
                annotator.seconds, baseline_n=BASELINE, horizon=horizons["time"], false_alarm=CUSUM_FALSE_ALARM
            ),
            np.arange(annotator.length),
        ),
    }
    for name, (result, where) in cusums.items():
        if result.detected and result.alarm_index is not None and result.change_index is not None:
            alarms[name] = int(where[result.alarm_index])
            changes[name] = int(where[result.change_index])
    if not alarms:
        return Outcome(annotator.kind, annotator.change, None, None, None, alarms)
    detector = min(alarms, key=lambda name: alarms[name])
    alarm = alarms[detector]
    if detector in changes:
        estimate = changes[detector]
    else:  # the gold test fired first: the earliest change any CUSUM estimates by then, else everything
        known = [changes[name] for name in changes if alarms[name] <= alarm]
        estimate = min(known) if known else 0
    return Outcome(annotator.kind, annotator.change, alarm, detector, estimate, alarms)


def export_accuracy(export: dict[str, np.ndarray], keep: np.ndarray) -> tuple[float, float]:
    """Majority vote over the kept judgements of each item (no label on a tie or without votes):
    (accuracy on the labelled items, share of items labelled)."""
    labels, truth = export["labels"], export["truth"]
    votes_b = (keep & (labels == 1)).sum(axis=1)
    votes_a = (keep & (labels == 0)).sum(axis=1)
    decided = votes_a != votes_b
    label = (votes_b > votes_a).astype(np.int64)
    if not decided.any():
        return float("nan"), 0.0
    return float((label[decided] == truth[decided]).mean()), float(decided.mean())


def keep_masks(export: dict[str, np.ndarray], outcomes: list[Outcome]) -> dict[str, np.ndarray]:
    """Which judgements count: all (no QC), with QC (paused at the alarm, work since the estimated
    change removed) and with the true change points (oracle)."""
    who, positions = export["who"], export["positions"]
    qc = np.ones(who.shape, dtype=bool)
    oracle = np.ones(who.shape, dtype=bool)
    for a, outcome in enumerate(outcomes):
        mine = who == a
        if outcome.estimate is not None:
            qc &= ~(mine & (positions >= outcome.estimate))
        if outcome.change is not None:
            oracle &= ~(mine & (positions >= outcome.change))
    return {"no QC": np.ones(who.shape, dtype=bool), "QC": qc, "oracle": oracle}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--teams", type=int, default=200, help="simulated team-shifts (default 200)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--judgements", type=int, default=2000, help="judgements per annotator per shift")
    parser.add_argument("--golden-rate", type=float, default=0.1)
    args = parser.parse_args()

    started = time.perf_counter()
    n_gold = int(args.judgements * args.golden_rate)
    horizons = {
        "gold": n_gold,
        "agreement": int(args.judgements * (1 - args.golden_rate) * 0.75),
        "time": args.judgements,
    }
    print("qc_drift_sim: 7 careful annotators (accuracy 0.80–0.90) + 3 who drift, overlap 3")
    print(
        f"  {args.teams} team-shifts of ~{args.judgements} judgements per annotator, golden rate "
        f"{args.golden_rate:.0%} (~{n_gold} golden answers), seed {args.seed}"
    )
    rate = CUSUM_FALSE_ALARM
    h_gold = evidence.bernoulli_cusum_h(GOLD_GOOD, GOLD_BAD, horizon=horizons["gold"], false_alarm=rate)
    h_agree = evidence.bernoulli_cusum_h(AGREE_GOOD, AGREE_BAD, horizon=horizons["agreement"], false_alarm=rate)
    h_time = evidence.time_cusum_h(baseline_n=BASELINE, horizon=horizons["time"], false_alarm=rate)
    print(f"  gold SPRT: threshold {THRESHOLD:.0%}, careful {THRESHOLD + 0.1:.0%}, alpha 2%, 95% confidence floor")
    print(
        f"  gold CUSUM {GOLD_GOOD:.0%} → {GOLD_BAD:.0%}: h = {h_gold:g} "
        f"({rate:.1%} false alarms over {horizons['gold']})"
    )
    print(
        f"  agreement CUSUM {AGREE_GOOD:.0%} → {AGREE_BAD:.0%}: h = {h_agree:g} "
        f"({rate:.1%} over {horizons['agreement']})"
    )
    print(
        f"  time CUSUM, 1 sd drop of log-time, baseline {BASELINE}: h = {h_time:.3g} "
        f"({rate:.1%} over {horizons['time']})"
    )

    rng = np.random.default_rng(args.seed)
    careful_paused: dict[str, int] = {}
    careful_flagged: dict[str, int] = {}  # each detector on its own
    careful_total = 0
    careful_removed = 0
    careful_judgements = 0
    drift: dict[str, list[Outcome]] = {kind: [] for kind in KINDS if kind != "careful"}
    counted = post = collateral = early = 0
    counted_by: dict[str, list[int]] = {kind: [0, 0] for kind in drift}  # still counted, post-drift
    accuracy: dict[str, list[tuple[float, float]]] = {"no QC": [], "QC": [], "oracle": []}
    for team in range(args.teams):
        annotators, export = simulate(rng, args.judgements, args.golden_rate)
        outcomes = [run_qc(a, horizons) for a in annotators]
        for annotator, outcome in zip(annotators, outcomes, strict=True):
            if outcome.kind == "careful":
                careful_total += 1
                careful_judgements += annotator.length
                for name in outcome.alarms:
                    careful_flagged[name] = careful_flagged.get(name, 0) + 1
                if outcome.alarm is not None and outcome.detector is not None:
                    careful_paused[outcome.detector] = careful_paused.get(outcome.detector, 0) + 1
                    careful_removed += annotator.length - (outcome.estimate or 0)
                continue
            assert outcome.change is not None
            drift[outcome.kind].append(outcome)
            stop = outcome.alarm + 1 if outcome.alarm is not None else annotator.length
            post_drift = max(stop - outcome.change, 0)
            post += post_drift
            counted_by[outcome.kind][1] += post_drift
            before = counted
            if outcome.alarm is None or outcome.estimate is None:
                counted += post_drift
            elif outcome.alarm < outcome.change:
                early += 1  # a false alarm before the drift: nothing drifted was done yet
            else:
                counted += min(max(outcome.estimate - outcome.change, 0), post_drift)
                collateral += max(outcome.change - outcome.estimate, 0)
            counted_by[outcome.kind][0] += counted - before
        masks = keep_masks(export, outcomes)
        for name, keep in masks.items():
            accuracy[name].append(export_accuracy(export, keep))
        if team == 0:
            print_team(annotators, outcomes, masks, export)

    print(f"\nOver {args.teams} team-shifts")
    paused = sum(careful_paused.values())
    by = ", ".join(f"{name} {count}" for name, count in sorted(careful_paused.items())) or "none"
    print(
        f"  careful annotators paused: {paused} of {careful_total} annotator-shifts ({paused / careful_total:.2%}); "
        f"by {by}"
    )
    alone = ", ".join(f"{name} {count / careful_total:.2%}" for name, count in sorted(careful_flagged.items()))
    print(f"  careful annotators flagged by each detector on its own: {alone or 'none'}")
    print(f"  careful work removed by those pauses: {careful_removed / careful_judgements:.2%} of their judgements")
    print("  (delays and errors in judgements; detected = paused at or after the true change)")
    print(
        "  drifters              detected  median delay  p90 delay  median |change error|  within 40 judgements"
        "  post-drift still counted"
    )
    for kind, rows in drift.items():
        found = [o for o in rows if o.alarm is not None and o.change is not None and o.alarm >= o.change]
        delays = np.array([o.alarm - o.change for o in found if o.alarm is not None and o.change is not None])
        errors = np.array(
            [abs(o.estimate - o.change) for o in found if o.estimate is not None and o.change is not None]
        )
        print(
            f"  {kind:<20}  {len(found) / len(rows):>7.1%}  {np.median(delays) if len(delays) else float('nan'):>12.0f}"
            f"  {np.percentile(delays, 90) if len(delays) else float('nan'):>9.0f}"
            f"  {np.median(errors) if len(errors) else float('nan'):>21.0f}"
            f"  {(errors <= 40).sum() / len(rows):>20.1%}"
            f"  {counted_by[kind][0] / max(counted_by[kind][1], 1):>24.1%}"
        )
    print(
        f"  post-drift judgements still counted after removing work since the estimated change: "
        f"{counted} of {post} ({counted / max(post, 1):.1%}; goal ≤ 10%)"
    )
    print(
        f"  pre-drift judgements removed with them (change estimated too early): {collateral} "
        f"({collateral / max(post, 1):.1%} of the post-drift count)"
    )
    print(f"  drifters paused by a false alarm before they drifted: {early} of {sum(map(len, drift.values()))}")
    print("  majority-vote export (3 votes an item; a tie after removals = no label)")
    for name, values in accuracy.items():
        acc = np.array([v[0] for v in values])
        coverage = np.array([v[1] for v in values])
        print(f"    {name:<7} accuracy {np.nanmean(acc):.2%}   items labelled {coverage.mean():.2%}")
    print(f"\nelapsed {time.perf_counter() - started:.1f} s")


def print_team(
    annotators: list[Annotator], outcomes: list[Outcome], masks: dict[str, np.ndarray], export: dict[str, np.ndarray]
) -> None:
    print("\nTeam-shift 1")
    print(
        "  annotator  kind            accuracy  judgements  true change  paused at  by                estimated change"
    )
    for index, (annotator, outcome) in enumerate(zip(annotators, outcomes, strict=True)):
        print(
            f"  #{index:<8}  {annotator.kind:<14}  {annotator.accuracy:>8.2f}  {annotator.length:>10}"
            f"  {'—' if outcome.change is None else outcome.change:>11}"
            f"  {'—' if outcome.alarm is None else outcome.alarm:>9}"
            f"  {outcome.detector or '—':<16}  {'—' if outcome.estimate is None else outcome.estimate:>16}"
        )
    for name, keep in masks.items():
        acc, coverage = export_accuracy(export, keep)
        print(f"  export {name:<7} accuracy {acc:.2%}, items labelled {coverage:.2%}")


if __name__ == "__main__":
    main()
