"""Turning several annotators' answers about one comparison into one label.

A *task* is one comparison: a pairwise item, or one pair (i, j) of responses of a ranking item.
Labels are canonical: ``"A"`` = the first response of the pair is better, ``"B"`` = the second,
``"tie"``, ``"both_bad"``.

- **majority**: the most frequent label; a tie between the top labels has no majority (dropped).
- **unanimous**: the label every annotator gave; any disagreement drops the task.
- **dawid-skene**: crowd-kit's ``DawidSkene`` (EM over per-annotator confusion matrices, Dawid &
  Skene 1979) fitted on every (task, annotator, label) triple of the export at once; the label is
  the posterior argmax. It needs the whole matrix, so it is held in memory as compact arrays
  (about 40 bytes per judgement; 1M judgements ≈ 40 MB) — the only part of an export that grows
  with its size.

*Agreement* of a task is the share of its judgements that gave the aggregated label (for majority
that is the plurality share). It is the per-item figure ``--min-agreement`` filters on.

*Confidence* of a task is how sure the aggregation is of its label: the vote share for majority
and unanimity (the same number as agreement), the posterior probability of the label for
Dawid–Skene. Pairs below the minimum confidence (the stream's ``min_confidence`` or the export's
``--min-confidence``) are dropped and counted as ``low_confidence``. A comparison whose top labels
have equal votes is never decided, by any method: majority calls it ``no_majority``, and so does
Dawid–Skene, whose posterior on a 2–2 split rests on its estimates of the annotators and is right
about as often as a coin. So the default minimum (0) keeps exactly what "no majority" keeps.

**auto** picks, per stream, the method that is right most often on the stream's golden items:
each method labels the golden items from their judgements alone (the golden answers take no part
in the fit), and its score is the share of golden comparisons whose label is one of the item's
acceptable answers. Dawid–Skene is chosen only when it scores strictly better than majority.
"""

from __future__ import annotations

import warnings
from array import array
from collections import Counter
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

METHODS = ("majority", "dawid-skene", "unanimous", "auto")


class Outcome(NamedTuple):  # a NamedTuple: one is made per comparison, cheaper than a dataclass
    label: str | None  # None: no label could be agreed (no majority, not unanimous)
    agreement: float
    reason: str = ""  # why label is None: "no_majority", "not_unanimous"
    confidence: float = 0.0  # vote share (majority, unanimous) or posterior (Dawid–Skene)


def majority(labels: Sequence[str]) -> Outcome:
    n = len(labels)
    first = labels[0]
    top = labels.count(first)
    if top * 2 > n:  # more than half: the plurality, and a unique one (the common case, no dict)
        return Outcome(first, top / n, "", top / n)
    counts: dict[str, int] = {}
    for label in labels:
        counts[label] = counts.get(label, 0) + 1
    top = max(counts.values())
    winners = [label for label, c in counts.items() if c == top]
    if len(winners) > 1:
        return Outcome(None, top / n, "no_majority")
    return Outcome(winners[0], top / n, "", top / n)


def unanimous(labels: Sequence[str]) -> Outcome:
    if len(set(labels)) == 1:
        return Outcome(labels[0], 1.0, "", 1.0)
    return Outcome(None, Counter(labels).most_common(1)[0][1] / len(labels), "not_unanimous")


def with_label(labels: Sequence[str], label: str | None, posterior: float = 1.0) -> Outcome:
    """The outcome of an externally decided label (Dawid–Skene) with its agreement share and its
    posterior. A comparison whose top labels have equal votes stays undecided (``no_majority``)."""
    if label is None:
        return Outcome(None, 0.0, "no_majority")
    counts = Counter(labels)
    top = counts.most_common(2)
    if len(top) > 1 and top[0][1] == top[1][1]:
        return Outcome(None, top[0][1] / len(labels), "no_majority", posterior)
    return Outcome(label, counts[label] / len(labels), "", posterior)


@dataclass
class DawidSkeneInput:
    """(task, annotator, label) triples collected in one pass; tasks and annotators are interned
    to small integers so a million judgements stay a few tens of MB."""

    task_index: dict[Hashable, int] = field(default_factory=dict)
    tasks: array[int] = field(default_factory=lambda: array("q"))
    workers: array[int] = field(default_factory=lambda: array("q"))
    labels: list[str] = field(default_factory=list)  # interned short strings: one pointer each

    def add(self, task: Hashable, worker: int, label: str) -> None:
        index = self.task_index.setdefault(task, len(self.task_index))
        self.tasks.append(index)
        self.workers.append(worker)
        self.labels.append(label)

    def __len__(self) -> int:
        return len(self.tasks)

    def fit(self, *, n_iter: int = 100) -> dict[Hashable, tuple[str, float]]:
        """Posterior-argmax label per task, with its posterior probability."""
        if not self.tasks:
            return {}
        import pandas as pd  # heavy; only exports that ask for Dawid–Skene pay for it
        from crowdkit.aggregation import DawidSkene

        frame = pd.DataFrame({"task": self.tasks, "worker": self.workers, "label": self.labels})
        with warnings.catch_warnings():
            # crowd-kit 1.4.2 uses pandas keywords (inplace=, copy=) that pandas 3 deprecates.
            warnings.simplefilter("ignore", category=FutureWarning)
            warnings.simplefilter("ignore", category=DeprecationWarning)
            probabilities = DawidSkene(n_iter=n_iter).fit_predict_proba(frame)
        by_index: dict[int, tuple[str, float]] = {}
        for task, row in probabilities.iterrows():
            label = str(row.idxmax())
            by_index[int(task)] = (label, float(row[label]))
        return {task: by_index[index] for task, index in self.task_index.items() if index in by_index}


def gold_score(predicted: Mapping[Any, str | None], answers: Mapping[Any, Sequence[str]]) -> tuple[float, int]:
    """The share of golden comparisons whose predicted label is an acceptable answer (undecided
    counts as wrong), and how many comparisons that is over."""
    tasks = [task for task in answers if answers[task]]
    if not tasks:
        return 0.0, 0
    right = sum(1 for task in tasks if predicted.get(task) in answers[task])
    return right / len(tasks), len(tasks)
