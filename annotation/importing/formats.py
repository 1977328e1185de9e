"""Source formats: each converter turns one parsed record (a dict) into a ``Draft``, or raises
``RecordError`` naming the field. See docs/import.md for the formats with examples."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

import orjson

from annotation.importing.records import (
    MAX_RESPONSES,
    Candidate,
    Draft,
    RecordError,
    choice,
    external_id,
    integer,
    messages,
    obj,
    optional_str,
    text,
    type_name,
)

FORMATS = ("native", "trl", "hh", "mapped")
Converter = Callable[[dict[str, Any]], Draft]


class ImportOptionsError(ValueError):
    """The import as asked for cannot run (unknown format, bad mapping): nothing was read."""


def user(content: str) -> dict[str, str]:
    return {"role": "user", "content": content}


# --- (a) native -------------------------------------------------------------------------------

NATIVE_FIELDS = ("id", "prompt", "context", "responses", "golden", "prior", "metadata", "priority", "pool")


def convert_native(record: dict[str, Any]) -> Draft:
    for key in record:
        if key not in NATIVE_FIELDS:
            raise RecordError(key, f"unknown field (expected {', '.join(NATIVE_FIELDS)}; put extras in metadata)")
    if "context" in record and "prompt" in record:
        raise RecordError("prompt", 'give "prompt" or "context", not both')
    if "context" in record:
        context = messages(record["context"], "context")
    elif "prompt" in record:
        context = [user(text(record["prompt"], "prompt"))]
    else:
        raise RecordError("prompt", 'missing: give "prompt" (a string) or "context" (a list of messages)')

    raw = record.get("responses")
    if not isinstance(raw, list):
        raise RecordError("responses", f"must be a list of 2 or more responses, not {type_name(raw)}")
    candidates = [_native_response(r, f"responses[{i}]") for i, r in enumerate(raw)]
    k = len(candidates)

    draft = Draft(
        context=context,
        candidates=candidates,
        external_id=external_id(record.get("id")),
        metadata=obj(record.get("metadata"), "metadata"),
        priority=integer(record["priority"], "priority") if record.get("priority") is not None else 0,
    )
    pool = record.get("pool", "work")
    if pool not in ("work", "qualification"):
        raise RecordError("pool", f'must be "work" or "qualification", not {pool!r}')
    draft.pool = pool
    if record.get("golden") is not None:
        golden = obj(record["golden"], "golden")
        for key in golden:
            if key not in ("answers", "explanation", "harmful"):
                raise RecordError(f"golden.{key}", "unknown field (expected answers, explanation, harmful)")
        answers = golden.get("answers")
        if isinstance(answers, str):
            answers = [answers]
        if not isinstance(answers, list) or not answers:
            raise RecordError("golden.answers", 'must be a non-empty list of answers, e.g. ["A"] or ["A", "tie"]')
        draft.golden_answers = [choice(a, f"golden.answers[{i}]", k) for i, a in enumerate(answers)]
        draft.golden_explanation = optional_str(golden.get("explanation"), "golden.explanation")
        harmful = golden.get("harmful", False)
        if not isinstance(harmful, bool):
            raise RecordError("golden.harmful", f"must be true or false, not {type_name(harmful)}")
        draft.golden_harmful = harmful
    if record.get("prior") is not None:
        prior = obj(record["prior"], "prior")
        draft.prior = {
            **prior,
            "choice": choice(prior.get("choice"), "prior.choice", k),
            "source": optional_str(prior.get("source"), "prior.source") or "native",
        }
    return draft


def _native_response(value: object, name: str) -> Candidate:
    if isinstance(value, str):
        return Candidate(text(value, name))
    if not isinstance(value, dict):
        raise RecordError(name, f"must be a string or an object with text, model and metadata, not {type_name(value)}")
    for key in value:
        if key not in ("text", "model", "metadata"):
            raise RecordError(f"{name}.{key}", "unknown field (expected text, model, metadata)")
    return Candidate(
        text(value.get("text"), f"{name}.text"),
        optional_str(value.get("model"), f"{name}.model"),
        obj(value.get("metadata"), f"{name}.metadata"),
    )


# --- (b) TRL preference -----------------------------------------------------------------------

TRL_FIELDS = ("id", "prompt", "chosen", "rejected")


def convert_trl(record: dict[str, Any]) -> Draft:
    """``{"prompt", "chosen", "rejected"}`` as strings or as message lists, or the implicit-prompt
    ``{"chosen", "rejected"}`` whose shared beginning is the prompt (as TRL's ``extract_prompt``)."""
    for key in ("chosen", "rejected"):
        if key not in record:
            raise RecordError(key, "missing")
    chosen, rejected, prompt = record["chosen"], record["rejected"], record.get("prompt")
    metadata = {k: v for k, v in record.items() if k not in TRL_FIELDS}
    prior = {"choice": 0, "source": "trl:chosen"}
    ext = external_id(record.get("id"))

    if prompt is not None:
        if isinstance(prompt, str):
            context = [user(text(prompt, "prompt"))]
            answers = [text(chosen, "chosen"), text(rejected, "rejected")]
        elif isinstance(prompt, list):
            context = messages(prompt, "prompt")
            answers = [_assistant_turn(chosen, "chosen"), _assistant_turn(rejected, "rejected")]
        else:
            raise RecordError("prompt", f"must be a string or a list of messages, not {type_name(prompt)}")
        return Draft(context, [Candidate(a) for a in answers], ext, metadata, prior)

    if isinstance(chosen, str) and isinstance(rejected, str):
        text(chosen, "chosen")
        text(rejected, "rejected")
        split = _string_prefix(chosen, rejected)
        prefix, rest_c, rest_r = chosen[:split], chosen[split:], rejected[split:]
        if not rest_c.strip() or not rest_r.strip():
            return _full(chosen, rejected, ext, metadata, prior, "one answer is the beginning of the other")
        context = [user(prefix)] if prefix.strip() else []
        draft = Draft(context, [Candidate(rest_c), Candidate(rest_r)], ext, metadata, prior)
        if not context:
            draft.warnings.append(RecordError("chosen", "chosen and rejected share no prompt: the context is empty"))
        return draft
    if isinstance(chosen, list) and isinstance(rejected, list):
        c, r = messages(chosen, "chosen"), messages(rejected, "rejected")
        n = 0
        while n < min(len(c), len(r)) and c[n] == r[n]:
            n += 1
        tail_c, tail_r = c[n:], r[n:]
        if len(tail_c) == len(tail_r) == 1 and tail_c[0]["role"] == tail_r[0]["role"] == "assistant" and n:
            return Draft(
                c[:n], [Candidate(tail_c[0]["content"]), Candidate(tail_r[0]["content"])], ext, metadata, prior
            )
        return _full(_render(c), _render(r), ext, metadata, prior, "the conversations differ before their last turn")
    raise RecordError("rejected", "chosen and rejected must both be strings or both be lists of messages")


def _assistant_turn(value: object, name: str) -> str:
    turns = messages(value, name)
    if len(turns) != 1 or turns[0]["role"] != "assistant":
        raise RecordError(name, "must be a list with one assistant message")
    return turns[0]["content"]


def _string_prefix(a: str, b: str) -> int:
    """Where the shared beginning of two strings ends. Like TRL's ``extract_prompt``, a space just
    before the first difference goes with the answers, not the prompt."""
    n = 0
    limit = min(len(a), len(b))
    while n < limit and a[n] == b[n]:
        n += 1
    if 0 < n < limit and a[n - 1] == " ":
        n -= 1
    return n


def _render(turns: list[dict[str, str]]) -> str:
    return "\n\n".join(f"{m['role'].capitalize()}: {m['content']}" for m in turns)


def _full(
    chosen: str, rejected: str, ext: str | None, metadata: dict[str, Any], prior: dict[str, Any], reason: str
) -> Draft:
    """The item for a pair that does not split into a shared context and two answers: both whole
    transcripts are the candidates and the context is empty."""
    return Draft(
        [],
        [Candidate(chosen), Candidate(rejected)],
        ext,
        {**metadata, "transcript_mismatch": True},
        prior,
        mismatch=reason,
    )


# --- (c) HH-RLHF ------------------------------------------------------------------------------

_HH_TURN = re.compile(r"\n\n(Human|Assistant):")
_HH_ROLE = {"Human": "user", "Assistant": "assistant"}


def convert_hh(record: dict[str, Any]) -> Draft:
    """Anthropic HH-RLHF: ``chosen`` and ``rejected`` are whole transcripts
    (``"\\n\\nHuman: ...\\n\\nAssistant: ..."``) that share every turn but the last assistant one.
    The shared turns become the context and the two last turns the candidates; a pair whose earlier
    turns differ is a mismatch (both transcripts become the candidates)."""
    for key in ("chosen", "rejected"):
        if key not in record:
            raise RecordError(key, "missing")
    chosen, rejected = text(record["chosen"], "chosen"), text(record["rejected"], "rejected")
    metadata = {k: v for k, v in record.items() if k not in ("id", "chosen", "rejected")}
    prior = {"choice": 0, "source": "hh:chosen"}
    ext = external_id(record.get("id"))
    c, r = _hh_turns(chosen, "chosen"), _hh_turns(rejected, "rejected")
    if len(c) >= 2 and c[:-1] == r[:-1] and c[-1]["role"] == r[-1]["role"] == "assistant":
        draft = Draft(c[:-1], [Candidate(c[-1]["content"]), Candidate(r[-1]["content"])], ext, metadata, prior)
        # HH has chosen answers that are empty on purpose (saying nothing was the harmless
        # reply): kept as an empty response, and reported.
        for name, turns in (("chosen", c), ("rejected", r)):
            if not turns[-1]["content"]:
                draft.warnings.append(RecordError(name, "the last assistant turn is empty"))
        return draft
    return _full(
        chosen.strip(), rejected.strip(), ext, metadata, prior, "the transcripts do not share their earlier turns"
    )


def _hh_turns(transcript: str, name: str) -> list[dict[str, str]]:
    if transcript.startswith(("Human:", "Assistant:")):
        transcript = "\n\n" + transcript
    parts = _HH_TURN.split(transcript)
    if parts[0].strip() or len(parts) < 3:
        raise RecordError(name, 'must be a transcript of "\\n\\nHuman: ..." and "\\n\\nAssistant: ..." turns')
    return [{"role": _HH_ROLE[parts[i]], "content": parts[i + 1].strip()} for i in range(1, len(parts), 2)]


# --- (d) mapped -------------------------------------------------------------------------------

_RESPONSE_TARGET = re.compile(r"(response|model)_([1-9][0-9]?)")
_SIMPLE_TARGETS = ("id", "prompt", "context", "prior", "golden", "explanation", "priority")

# AlpacaEval's annotation files: used when --format mapped is given no mapping and the file has
# AlpacaEval's columns. `preference` is the judge's verdict: 1 = output_1, 2 = output_2, 1.5 = tie.
ALPACA_EVAL = {
    "prompt": "instruction",
    "response_1": "output_1",
    "response_2": "output_2",
    "model_1": "generator_1",
    "model_2": "generator_2",
    "prior": "preference",
}
PRESETS = {"alpacaeval": ALPACA_EVAL}


def parse_mapping(pairs: Mapping[str, str] | list[str] | str | None) -> dict[str, str]:
    """``["prompt=instruction", ...]`` (or one string of such pairs separated by commas or new
    lines, or a dict) → ``{"prompt": "instruction", ...}``, checked. Raises ImportOptionsError."""
    if not pairs:
        return {}
    if isinstance(pairs, str):
        pairs = [p for p in re.split(r"[,\n]", pairs) if p.strip()]
    if isinstance(pairs, list):
        mapping: dict[str, str] = {}
        for pair in pairs:
            target, sep, source = pair.partition("=")
            if not sep or not target.strip() or not source.strip():
                raise ImportOptionsError(f"A mapping is target=source, e.g. prompt=instruction; got {pair!r}.")
            if target.strip() in mapping:
                raise ImportOptionsError(f"The target {target.strip()!r} is mapped twice.")
            mapping[target.strip()] = source.strip()
    else:
        mapping = {str(k).strip(): str(v).strip() for k, v in pairs.items()}
    check_mapping(mapping)
    return mapping


def check_mapping(mapping: Mapping[str, str]) -> None:
    numbers = set()
    for target in mapping:
        m = _RESPONSE_TARGET.fullmatch(target)
        if m:
            if m.group(1) == "response":
                numbers.add(int(m.group(2)))
        elif target not in _SIMPLE_TARGETS:
            allowed = ", ".join([*_SIMPLE_TARGETS, "response_N", "model_N"])
            raise ImportOptionsError(f"Unknown mapping target {target!r} (targets: {allowed}).")
    if ("prompt" in mapping) == ("context" in mapping):
        raise ImportOptionsError("Map exactly one of prompt (a string) or context (a list of messages).")
    if len(numbers) < 2 or numbers != set(range(1, len(numbers) + 1)):
        raise ImportOptionsError("Map at least response_1 and response_2, numbered from 1 without gaps.")
    for target in mapping:
        m = _RESPONSE_TARGET.fullmatch(target)
        if m and m.group(1) == "model" and int(m.group(2)) not in numbers:
            raise ImportOptionsError(f"{target} is mapped but response_{m.group(2)} is not.")


def detect_preset(record: Mapping[str, Any]) -> tuple[str, dict[str, str]] | None:
    for name, preset in PRESETS.items():
        required = (preset["prompt"], preset["response_1"], preset["response_2"])
        if all(key in record for key in required):
            return name, preset
    return None


class MappedConverter:
    """Any JSONL or CSV with a field mapping ``target=source``. Unmapped source fields go to the
    item's metadata. Without a mapping, a known preset (AlpacaEval) is detected from the first
    record's fields."""

    def __init__(self, mapping: Mapping[str, str] | None) -> None:
        self.mapping: dict[str, str] = dict(mapping or {})
        self.preset = ""
        self._ready = bool(self.mapping)
        self._prepare()

    def _prepare(self) -> None:
        self.k = sum(1 for t in self.mapping if t.startswith("response_"))
        self.used = set(self.mapping.values())
        self.prior_source = f"{self.preset or 'mapped'}:{self.mapping.get('prior', '')}"

    def __call__(self, record: dict[str, Any]) -> Draft:
        if not self._ready:
            found = detect_preset(record)
            if found is None:
                raise ImportOptionsError(
                    "The mapped format needs a mapping (--map target=source, e.g. prompt=instruction "
                    "response_1=output_1 response_2=output_2); the file's fields match no preset."
                )
            self.preset, self.mapping = found
            self._ready = True
            self._prepare()
        return self._convert(record)

    def _get(self, record: dict[str, Any], target: str, *, required: bool) -> Any:
        source = self.mapping.get(target)
        if source is None:
            return None
        value = record.get(source)
        if value is None or value == "":
            if required:
                raise RecordError(source, "missing" if source not in record else "must not be empty")
            return None
        return value

    def _convert(self, record: dict[str, Any]) -> Draft:
        if None in record:  # csv.DictReader's key for cells beyond the header
            raise RecordError("", "this row has more values than the header has columns")
        m = self.mapping
        if "prompt" in m:
            context = [user(text(self._get(record, "prompt", required=True), m["prompt"]))]
        else:
            raw = self._get(record, "context", required=True)
            if isinstance(raw, str):  # CSV cells hold JSON text
                try:
                    raw = orjson.loads(raw)
                except orjson.JSONDecodeError:
                    raise RecordError(m["context"], "must be a JSON list of {role, content} messages") from None
            context = messages(raw, m["context"])
        candidates = []
        for n in range(1, self.k + 1):
            answer = text(self._get(record, f"response_{n}", required=True), m[f"response_{n}"])
            model = self._get(record, f"model_{n}", required=False)
            candidates.append(Candidate(answer, "" if model is None else str(model)))
        draft = Draft(
            context,
            candidates,
            external_id(self._get(record, "id", required=False), m.get("id", "id")),
            {k: v for k, v in record.items() if k not in self.used},
        )
        prior = self._get(record, "prior", required=False)
        if prior is not None:
            draft.prior = {"choice": _label(prior, m["prior"], self.k), "source": self.prior_source, "value": prior}
        golden = self._get(record, "golden", required=False)
        if golden is not None:
            draft.golden_answers = [_label(golden, m["golden"], self.k)]
            draft.golden_explanation = optional_str(self._get(record, "explanation", required=False), "explanation")
        priority = self._get(record, "priority", required=False)
        if priority is not None:
            draft.priority = integer(priority, m["priority"])
        return draft


def _label(value: object, name: str, k: int) -> int | str:
    """A label as datasets write it: a letter, "tie", "both_bad", or a 1-based number; for a pair,
    AlpacaEval's soft preference between 1 and 2 (1.5 = tie, below = the first, above = the second)."""
    number: float | None = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return choice(value, name, k)
    if number is not None:
        if number.is_integer() and 1 <= number <= k:
            return int(number) - 1
        if k == 2 and 1 < number < 2:
            return "tie" if number == 1.5 else (0 if number < 1.5 else 1)
    raise RecordError(name, f"must be a response number 1..{k}, a letter, tie or both_bad; not {value!r}")


def converter_for(fmt: str, mapping: Mapping[str, str] | None) -> Converter:
    if fmt == "native":
        return convert_native
    if fmt == "trl":
        return convert_trl
    if fmt == "hh":
        return convert_hh
    if fmt == "mapped":
        return MappedConverter(mapping)
    raise ImportOptionsError(f"Unknown format {fmt!r} (formats: {', '.join(FORMATS)}).")


def check_candidate_count(draft: Draft, *, pairwise: bool) -> None:
    k = len(draft.candidates)
    if k < 2:
        raise RecordError("responses", f"must have at least 2 responses, not {k}")
    if pairwise and k != 2:
        raise RecordError("responses", f"this stream is pairwise: exactly 2 responses, not {k}")
    if k > MAX_RESPONSES:
        raise RecordError("responses", f"at most {MAX_RESPONSES} responses")
