"""``--format auto``: which format a file is in, from its first records.

Each of the first ``SAMPLE`` records is classified by its keys (and, for ``chosen``/``rejected``
strings, by whether they are ``Human:``/``Assistant:`` transcripts). The file's format is the one
every classified record agrees on; the detection is *sure* only when at least one record was
classified, no two records disagree, and at least half of the sampled records were classified.
Unsure, the import does not guess: it stops and names the format the file looks like.

The same reading gives the hint shown when an explicit format fails on most lines ("this file
looks like TRL preference data (prompt/chosen/rejected); choose format 'trl'").
"""

from __future__ import annotations

import contextlib
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from annotation.importing.formats import ALPACA_EVAL, NATIVE_FIELDS, ImportOptionsError
from annotation.importing.records import RecordError
from annotation.importing.sources import Source

AUTO = "auto"
SAMPLE = 20  # records read to decide; the first lines of every real dataset we import agree

# What each shape is called in messages, and the format that reads it ("" when none does).
SHAPES: dict[str, tuple[str, str]] = {
    "native": ("Quorum's native format (prompt or context, responses)", "native"),
    "trl": ("TRL preference data (prompt/chosen/rejected)", "trl"),
    "trl_conversational": ("conversational TRL preference data (chosen/rejected message lists)", "trl"),
    "trl_implicit": ("TRL preference data with an implicit prompt (chosen/rejected strings)", "trl"),
    "hh": ("HH-RLHF transcripts (chosen/rejected as Human:/Assistant: turns)", "hh"),
    "alpacaeval": ("AlpacaEval pairs (instruction/output_1/output_2)", "mapped"),
    "openai_chat": ("OpenAI chat messages (one conversation per line, no pair of responses)", ""),
}


class FormatNotDetected(ImportOptionsError):
    """``auto`` could not tell the format surely: the message names what the file looks like."""


@dataclass
class Detection:
    """What the first records of a file look like."""

    shape: str = ""  # a key of SHAPES, or "" when no record was recognised
    sure: bool = False
    sampled: int = 0
    counts: dict[str, int] = field(default_factory=dict)  # shape -> records of that shape
    columns: list[str] = field(default_factory=list)  # the first record's keys (CSV: the header)
    kind: str = "jsonl"
    first_error: str = ""  # the first unreadable record, "line 3: invalid JSON: ..."

    @property
    def format(self) -> str:
        """The format that reads this shape ("" when none does, or nothing was recognised)."""
        return SHAPES[self.shape][1] if self.shape else ""

    @property
    def label(self) -> str:
        return SHAPES[self.shape][0] if self.shape else ""

    def hint(self) -> str:
        """One sentence naming what the file looks like and what to choose."""
        if self.shape == "openai_chat":
            return (
                f"this file looks like {self.label}; Quorum imports pairs of responses to compare: "
                "write each pair as a native line with context and responses (docs/import.md)"
            )
        if self.shape == "alpacaeval":
            return f"this file looks like {self.label}; choose format 'mapped' (AlpacaEval needs no mapping)"
        if self.shape:
            return f"this file looks like {self.label}; choose format '{self.format}'"
        if self.columns:
            shown = ", ".join(self.columns[:12]) + (", ..." if len(self.columns) > 12 else "")
            what = "columns" if self.kind in ("csv", "tsv") else "fields"
            return (
                f"this file's {what} ({shown}) match no known format; choose format 'mapped' and map them "
                "(e.g. prompt=question, response_1=answer_a, response_2=answer_b)"
            )
        what = "JSON object" if self.kind == "jsonl" else "CSV row"
        return f"no line of this file could be read as a {what}" + (
            f" ({self.first_error})" if self.first_error else ""
        )

    def unsure_reason(self) -> str:
        """Why auto-detection did not choose, with the hint."""
        if len(self.counts) > 1:
            parts = ", ".join(f"{n} like {SHAPES[s][0]}" for s, n in Counter(self.counts).most_common())
            return (
                f"The format could not be detected: of the first {self.sampled} records, {parts}. "
                f"Mostly, {self.hint()}."
            )
        return f"The format could not be detected: {self.hint()}."


def classify(record: dict[str, Any]) -> str:
    """The shape of one record, or "" when it has none we know."""
    keys = set(record)
    if {"chosen", "rejected"} <= keys:
        if "prompt" in keys:
            return "trl"
        chosen = record["chosen"]
        if isinstance(chosen, list):
            return "trl_conversational"
        if isinstance(chosen, str) and chosen.lstrip("\n").startswith(("Human:", "Assistant:")):
            return "hh"
        return "trl_implicit"
    if {ALPACA_EVAL["prompt"], ALPACA_EVAL["response_1"], ALPACA_EVAL["response_2"]} <= keys:
        return "alpacaeval"
    if "responses" in keys and ("prompt" in keys or "context" in keys):
        return "native"
    if "messages" in keys and isinstance(record["messages"], list) and "responses" not in keys:
        return "openai_chat"
    if "responses" in keys and keys <= set(NATIVE_FIELDS):
        return "native"
    return ""


def detect(source: Source, *, sample: int = SAMPLE) -> Detection:
    """Reads up to ``sample`` records of ``source`` (which is used up: open a new one to import)."""
    found = Detection(kind=source.kind)
    counts: Counter[str] = Counter()
    with contextlib.closing(source.records()) as records:
        for line, record in records:
            if isinstance(record, RecordError):
                if not found.first_error:
                    where = f'line {line}, field "{record.field}"' if record.field else f"line {line}"
                    found.first_error = f"{where}: {record.message}"
                if found.sampled == 0 and line >= sample:
                    break
                continue
            found.sampled += 1
            if not found.columns:
                found.columns = [str(k) for k in record if k is not None]
            shape = classify(record)
            if shape:
                counts[shape] += 1
            if found.sampled >= sample:
                break
    # The TRL shapes are one format: a file may mix explicit and implicit prompts.
    found.counts = dict(counts)
    by_format = Counter[str]()
    for shape, n in counts.items():
        by_format[SHAPES[shape][1] or shape] += n
    if not counts:
        return found
    found.shape = counts.most_common(1)[0][0]
    classified = sum(counts.values())
    found.sure = len(by_format) == 1 and bool(found.format) and 2 * classified >= found.sampled
    if len(by_format) == 1:
        found.counts = {found.shape: classified}
    return found


def choose_format(source: Source, fmt: str) -> tuple[Source, str, Detection]:
    """Reads the first records of ``source``; returns the same file as a new source from its
    beginning, the format to read it with (``fmt``, or the detected one when ``fmt`` is auto) and
    the detection. Raises ``FormatNotDetected`` when auto is not sure."""
    detection = detect(source)
    fresh = source.reopen()
    if fmt != AUTO:
        return fresh, fmt, detection
    if not detection.sure:
        raise FormatNotDetected(detection.unsure_reason())
    return fresh, detection.format, detection
