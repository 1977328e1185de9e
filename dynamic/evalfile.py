"""Evaluation files: a JSONL of prompts with per-category scores, read to open one dynamic stream
per weak category (docs/import.md, "Streams from an evaluation file").

One JSON object a line, either form:

    {"prompt": "Wie viel ist 17 mal 23, minus 41?", "category": "math-de", "score": 0.42}
    {"prompt": "...", "scores": {"math": 0.4, "german": 0.7}, "id": "eval-0193"}

``prompt`` (required): the text a conversation starts from. ``category`` + ``score``, or
``scores`` (category → score), never both. Scores are numbers where **higher is better** (accuracy,
pass rate, a judge's grade); a category's weakness is its mean score. ``id`` (optional) names the
prompt in error messages and on the starter. Other keys are ignored. Blank lines are skipped.

Reading is all or nothing: every line is checked, errors name the line and the field, and a file
with any error opens nothing. Pure Python: no database, so the web page and ``streams_from_eval``
share it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from annotation.forms import MAX_MESSAGE_CHARS

MAX_CATEGORY_CHARS = 100
MAX_ERRORS = 50  # reported; the reading goes on counting them


@dataclass(frozen=True)
class EvalError:
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        where = f"line {self.line}" + (f", field “{self.field}”" if self.field else "")
        return f"{where}: {self.message}"


@dataclass(frozen=True)
class EvalPrompt:
    line: int
    prompt: str
    scores: dict[str, float]
    external_id: str = ""


@dataclass(frozen=True)
class CategoryScore:
    """One category of the file: its prompts' mean score and how many prompts it has."""

    category: str
    n: int
    mean: float
    low: float
    high: float


@dataclass
class EvalFile:
    prompts: list[EvalPrompt] = field(default_factory=list)
    errors: list[EvalError] = field(default_factory=list)
    error_count: int = 0
    lines: int = 0

    @property
    def ok(self) -> bool:
        return self.error_count == 0 and bool(self.prompts)

    def ranking(self) -> list[CategoryScore]:
        """Categories weakest first: by mean score, then by name."""
        by_category: dict[str, list[float]] = {}
        for prompt in self.prompts:
            for category, score in prompt.scores.items():
                by_category.setdefault(category, []).append(score)
        rows = [
            CategoryScore(category, len(scores), sum(scores) / len(scores), min(scores), max(scores))
            for category, scores in by_category.items()
        ]
        return sorted(rows, key=lambda row: (row.mean, row.category))

    def prompts_of(self, category: str) -> list[EvalPrompt]:
        return [prompt for prompt in self.prompts if category in prompt.scores]


def _score(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _category(value: Any) -> str | None:
    if not isinstance(value, str) or not value.strip() or len(value.strip()) > MAX_CATEGORY_CHARS:
        return None
    return value.strip()


def _read_line(number: int, obj: Any) -> tuple[EvalPrompt | None, list[EvalError]]:
    if not isinstance(obj, dict):
        return None, [EvalError(number, "", "Each line must be a JSON object.")]
    errors: list[EvalError] = []
    prompt = obj.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        errors.append(EvalError(number, "prompt", "Required: the prompt's text (a non-empty string)."))
    elif len(prompt.strip()) > MAX_MESSAGE_CHARS:
        errors.append(EvalError(number, "prompt", f"Longer than a message may be ({MAX_MESSAGE_CHARS:,} characters)."))
    external_id = obj.get("id", "")
    if not isinstance(external_id, str | int) or isinstance(external_id, bool) or len(str(external_id)) > 255:
        errors.append(EvalError(number, "id", "An id is a string or an integer of at most 255 characters."))
        external_id = ""
    scores: dict[str, float] = {}
    has_pair = "category" in obj or "score" in obj
    if has_pair and "scores" in obj:
        errors.append(EvalError(number, "scores", "Give either “category” and “score” or “scores”, not both."))
    elif "scores" in obj:
        raw = obj["scores"]
        if not isinstance(raw, dict) or not raw:
            errors.append(EvalError(number, "scores", "An object of category → score, with at least one category."))
        else:
            for key, value in raw.items():
                category, score = _category(key), _score(value)
                if category is None:
                    errors.append(
                        EvalError(number, "scores", f"A category is a name of 1–{MAX_CATEGORY_CHARS} characters.")
                    )
                elif score is None:
                    errors.append(EvalError(number, f"scores.{category}", "A score is a finite number."))
                else:
                    scores[category] = score
    elif has_pair:
        category, score = _category(obj.get("category")), _score(obj.get("score"))
        if category is None:
            errors.append(
                EvalError(number, "category", f"Required with “score”: a name of 1–{MAX_CATEGORY_CHARS} characters.")
            )
        if score is None:
            errors.append(EvalError(number, "score", "Required with “category”: a finite number."))
        if category is not None and score is not None:
            scores[category] = score
    else:
        errors.append(EvalError(number, "category", "Each prompt needs “category” and “score”, or “scores”."))
    if errors:
        return None, errors
    return EvalPrompt(number, str(prompt).strip(), scores, str(external_id)), []


def read_eval_lines(lines: Iterable[str | bytes]) -> EvalFile:
    """Reads every line (numbered from 1), keeping the prompts and at most ``MAX_ERRORS`` errors
    (``error_count`` counts them all). A file without a single prompt is an error too."""
    result = EvalFile()
    for number, raw in enumerate(lines, start=1):
        result.lines = number
        try:
            text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        except UnicodeDecodeError:
            found = [EvalError(number, "", "Not UTF-8 text.")]
        else:
            if not text.strip():
                continue
            try:
                obj = json.loads(text)
            except json.JSONDecodeError as exc:
                found = [EvalError(number, "", f"Not valid JSON ({exc.msg}, column {exc.colno}).")]
            else:
                prompt, found = _read_line(number, obj)
                if prompt is not None:
                    result.prompts.append(prompt)
        if found:
            result.error_count += len(found)
            result.errors.extend(found[: max(0, MAX_ERRORS - len(result.errors))])
    if not result.prompts and not result.error_count:
        result.errors.append(EvalError(0, "", "The file has no prompts."))
        result.error_count = 1
    return result
