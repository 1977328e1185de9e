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
"""

from __future__ import annotations

import warnings
from array import array
from collections import Counter
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

METHODS = ("majority", "dawid-skene", "unanimous")


class Outcome(NamedTuple):  # a NamedTuple: one is made per comparison, cheaper than a dataclass
    label: str | None  # None: no label could be agreed (no majority, not unanimous)
    agreement: float
    reason: str = ""  # why label is None: "no_majority", "not_unanimous"


def majority(labels: Sequence[str]) -> Outcome:
    n = len(labels)
    first = labels[0]
    top = labels.count(first)
    if top * 2 > n:  # more than half: the plurality, and a unique one (the common case, no dict)
        return Outcome(first, top / n)
    counts: dict[str, int] = {}
    for label in labels:
        counts[label] = counts.get(label, 0) + 1
    top = max(counts.values())
    winners = [label for label, c in counts.items() if c == top]
    if len(winners) > 1:
        return Outcome(None, top / n, "no_majority")
    return Outcome(winners[0], top / n)


def unanimous(labels: Sequence[str]) -> Outcome:
    if len(set(labels)) == 1:
        return Outcome(labels[0], 1.0)
    return Outcome(None, Counter(labels).most_common(1)[0][1] / len(labels), "not_unanimous")


def with_label(labels: Sequence[str], label: str | None) -> Outcome:
    """The outcome of an externally decided label (Dawid–Skene) with its agreement share."""
    if label is None:
        return Outcome(None, 0.0, "no_majority")
    return Outcome(label, sum(1 for x in labels if x == label) / len(labels))


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

    def fit(self, *, n_iter: int = 100) -> dict[Hashable, str]:
        """Posterior-argmax label per task."""
        if not self.tasks:
            return {}
        import pandas as pd  # heavy; only exports that ask for Dawid–Skene pay for it
        from crowdkit.aggregation import DawidSkene

        frame = pd.DataFrame({"task": self.tasks, "worker": self.workers, "label": self.labels})
        with warnings.catch_warnings():
            # crowd-kit 1.4.2 uses pandas keywords (inplace=, copy=) that pandas 3 deprecates.
            warnings.simplefilter("ignore", category=FutureWarning)
            warnings.simplefilter("ignore", category=DeprecationWarning)
            result = DawidSkene(n_iter=n_iter).fit_predict(frame)
        by_index = {int(task): str(label) for task, label in result.items()}
        return {task: by_index[index] for task, index in self.task_index.items() if index in by_index}
