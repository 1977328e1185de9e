"""The importer's common ground: one record's problems (``RecordError``), the checks every format
shares, and ``finalise`` — canonical candidate order, external id and content hash.

A format converter turns one source record into a ``Draft`` (candidates in *source* order, labels
as source indices); ``finalise`` turns the draft into an ``ItemRow`` ready for the database.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson

ROLES = ("system", "user", "assistant")
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
NON_POSITIONAL = ("tie", "both_bad")
MAX_RESPONSES = len(LETTERS)
MAX_EXTERNAL_ID = 255  # Item.external_id's max_length


class RecordError(Exception):
    """One problem with one source record: the field it is in and what is wrong."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(slots=True)
class Candidate:
    text: str
    model: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Draft:
    """One record as the source gave it. Labels name candidates by source index, or are one of
    ``NON_POSITIONAL``."""

    context: list[dict[str, str]]
    candidates: list[Candidate]
    external_id: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    prior: dict[str, Any] | None = None  # {"choice": int | "tie" | "both_bad", "source": ..., ...}
    golden_answers: list[int | str] | None = None
    golden_explanation: str = ""
    golden_harmful: bool = False
    priority: int = 0
    pool: str = "work"
    # Set when the source's structure did not split as expected (HH transcripts or implicit TRL
    # prompts that do not share their earlier turns): the reason, for the report.
    mismatch: str = ""
    warnings: list[RecordError] = field(default_factory=list)


@dataclass(slots=True)
class ItemRow:
    """One item ready to be written, with its JSON columns already serialised (the PostgreSQL
    writer sends those bytes as they are; the portable writer uses the objects)."""

    line: int
    external_id: str
    pool: str
    context: list[dict[str, str]]
    responses: list[dict[str, Any]]
    metadata: dict[str, Any]
    prior_label: dict[str, Any] | None
    is_golden: bool
    golden_answers: list[str]
    golden_explanation: str
    golden_harmful: bool
    priority: int
    content_hash: str
    json: dict[str, bytes]

    @property
    def num_responses(self) -> int:
        return len(self.responses)


# --- Shared checks ----------------------------------------------------------------------------


def type_name(value: object) -> str:
    return {
        type(None): "null",
        bool: "a boolean",
        int: "a number",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "an object",
    }.get(type(value), type(value).__name__)


def text(value: object, name: str) -> str:
    """A non-empty string (whitespace alone counts as empty)."""
    if not isinstance(value, str):
        raise RecordError(name, f"must be a non-empty string, not {type_name(value)}")
    if not value.strip():
        raise RecordError(name, "must be a non-empty string")
    return value


def optional_str(value: object, name: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise RecordError(name, f"must be a string, not {type_name(value)}")
    return value


def obj(value: object, name: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise RecordError(name, f"must be an object, not {type_name(value)}")
    return value


def integer(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str | float):
        raise RecordError(name, f"must be an integer, not {type_name(value)}")
    try:
        number = int(value) if not isinstance(value, float) or value.is_integer() else None
    except ValueError:
        number = None
    if number is None:
        raise RecordError(name, f"must be an integer, not {value!r}")
    if not -(2**31) <= number < 2**31:
        raise RecordError(name, "is out of range")
    return number


def external_id(value: object, name: str = "id") -> str | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise RecordError(name, f"must be a string or an integer, not {type_name(value)}")
    result = str(value).strip()
    if not result:
        raise RecordError(name, "must not be empty")
    if len(result) > MAX_EXTERNAL_ID:
        raise RecordError(name, f"must be at most {MAX_EXTERNAL_ID} characters")
    return result


def message(value: object, name: str) -> dict[str, str]:
    """A ``{role, content}`` message; other keys are dropped."""
    if not isinstance(value, dict):
        raise RecordError(name, f"must be an object with role and content, not {type_name(value)}")
    role = value.get("role")
    if role not in ROLES:
        raise RecordError(f"{name}.role", f"must be one of {', '.join(ROLES)}, not {role!r}")
    return {"role": role, "content": text(value.get("content"), f"{name}.content")}


def messages(value: object, name: str, *, allow_empty: bool = False) -> list[dict[str, str]]:
    if not isinstance(value, list):
        raise RecordError(name, f"must be a list of {{role, content}} messages, not {type_name(value)}")
    if not value and not allow_empty:
        raise RecordError(name, "must not be empty")
    return [message(m, f"{name}[{i}]") for i, m in enumerate(value)]


def choice(value: object, name: str, k: int) -> int | str:
    """A label naming one of ``k`` candidates: a letter ("A", "b"), "tie" or "both_bad".
    Returns a source index or the non-positional answer."""
    if isinstance(value, str):
        v = value.strip()
        if v.lower() in NON_POSITIONAL:
            return v.lower()
        if len(v) == 1 and v.upper() in LETTERS[:k]:
            return LETTERS.index(v.upper())
    allowed = ", ".join([*LETTERS[:k], *NON_POSITIONAL])
    raise RecordError(name, f"must be one of {allowed}, not {value!r}")


# --- NUL characters and lone surrogates -------------------------------------------------------


def walk_strings(value: object, path: str = "") -> Iterator[tuple[str, str]]:
    """Every string in a parsed JSON value (keys too) with its field path, e.g.
    ``responses[1].text``."""
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            sub = f"{path}.{key}" if path else str(key)
            yield sub, str(key)
            yield from walk_strings(item, sub)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from walk_strings(item, f"{path}[{i}]")


def has_surrogate(s: str) -> bool:
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def check_characters(value: object, path: str = "") -> None:
    """Raises for a NUL character (PostgreSQL refuses it in text and jsonb) or a lone surrogate
    (``json.loads`` accepts ``"\\ud800"``, but it is not text and cannot be stored)."""
    for where, s in walk_strings(value, path):
        if "\x00" in s:
            raise RecordError(where, "contains a NUL character (\\u0000)")
        if has_surrogate(s):
            raise RecordError(where, "contains a lone surrogate or bytes that are not valid UTF-8")


# --- Canonical form -------------------------------------------------------------------------


def _dumps(value: object) -> bytes:
    if not value:
        return _EMPTY_JSON.get(type(value), b"null") if value is not False else b"false"
    # orjson's result keeps its whole write buffer (~4 KiB even for a short value); a copy is its
    # size. Thousands of rows per chunk make that the difference between 60 and 180 MB.
    return bytes(memoryview(orjson.dumps(value, option=orjson.OPT_SORT_KEYS)))


_EMPTY_JSON: dict[type, bytes] = {list: b"[]", dict: b"{}", str: b'""', int: b"0", float: b"0.0"}


def _order_key(candidate: Candidate) -> tuple[bytes, str]:
    return hashlib.sha256(candidate.text.encode()).digest(), candidate.model


def finalise(draft: Draft, *, line: int) -> ItemRow:
    """Puts the candidates in canonical order — sorted by the sha256 of their text, so the order
    says nothing about which one the source preferred — remaps the labels to that order, and
    derives the external id (when the source has none) and the content hash."""
    keys = [(_order_key(c), i) for i, c in enumerate(draft.candidates)]
    keys.sort()
    order = [i for _, i in keys]
    position = {source: canonical for canonical, source in enumerate(order)}
    candidates = [draft.candidates[i] for i in order]
    responses = [{"text": c.text, "model": c.model, "metadata": c.metadata} for c in candidates]
    prior = None
    if draft.prior is not None:
        label = draft.prior["choice"]
        prior = {**draft.prior, "choice": LETTERS[position[label]] if isinstance(label, int) else label}
    golden = draft.golden_answers is not None
    answers: list[str] = []
    if draft.golden_answers:
        letters = {LETTERS[position[a]] if isinstance(a, int) else a for a in draft.golden_answers}
        answers = sorted(letters, key=_answer_order)

    json = {
        "context": _dumps(draft.context),
        "responses": _dumps(responses),
        "metadata": _dumps(draft.metadata),
        "prior_label": _dumps(prior),
        "golden_answers": _dumps(answers),
    }
    ext = draft.external_id
    if ext is None:
        # Same context and candidates (in any source order) → same id, so a re-import of a file
        # without ids is idempotent too.
        identity = _dumps([draft.context, [[c.text, c.model] for c in candidates]])
        ext = "h-" + hashlib.sha256(identity).hexdigest()[:32]
    digest = hashlib.sha256(json["context"])
    for part in (json["responses"], json["metadata"], json["prior_label"], json["golden_answers"]):
        digest.update(b"\x1e")
        digest.update(part)
    extra = (golden, draft.golden_explanation, draft.golden_harmful, draft.priority, draft.pool)
    if extra != (False, "", False, 0, "work"):
        digest.update(b"\x1e")
        digest.update(_dumps(list(extra)))
    return ItemRow(
        line=line,
        external_id=ext,
        pool=draft.pool,
        context=draft.context,
        responses=responses,
        metadata=draft.metadata,
        prior_label=prior,
        is_golden=golden,
        golden_answers=answers,
        golden_explanation=draft.golden_explanation,
        golden_harmful=draft.golden_harmful,
        priority=draft.priority,
        content_hash=digest.hexdigest(),
        json=json,
    )


def _answer_order(answer: str) -> tuple[int, str]:
    return (0, answer) if len(answer) == 1 else (1, answer)
