"""The judge's prompt and its answer: filling the template, reading the verdict back.

The template is the PM's text with four placeholders, ``{{ guidelines }}``, ``{{ context }}``,
``{{ response_a }}`` and ``{{ response_b }}`` (spaces inside the braces optional). Nothing else in
it is interpreted, so a template may show the model a JSON example with braces. The two responses
are filled in the order *shown*: the run asks once with the item's responses as they are and once
swapped (``SHOWN_ORDERS``), and maps each answer back to canonical terms (``canonical``).

The answer is read leniently (``parse_answer``), because models rarely follow a format exactly:
a JSON object with a ``verdict`` (or ``choice``/``winner``/``answer``) and a ``reason``; a
``Verdict: A`` line; MT-Bench's ``[[A]]`` / ``[[B]]`` / ``[[C]]`` (C = tie); or an answer whose
first word is A, B or tie. Anything else is an unreadable answer, an error of that item.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

PLACEHOLDERS = ("guidelines", "context", "response_a", "response_b")
REQUIRED = ("response_a", "response_b")
_PLACEHOLDER = re.compile(r"\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}")
# Canonical response indices in the order shown: (0, 1) as the item has them, (1, 0) swapped.
SHOWN_ORDERS: tuple[tuple[int, int], tuple[int, int]] = ((0, 1), (1, 0))
ANSWERS = ("A", "B", "tie")
REASON_LIMIT = 2000

DEFAULT_TEMPLATE = """You are an impartial judge comparing two AI assistant responses to the same conversation, \
for a team that collects human preference labels. Judge as the human annotators do, following their guidelines.

[Guidelines]
{{ guidelines }}

[Conversation]
{{ context }}

[Response A]
{{ response_a }}

[End of Response A]

[Response B]
{{ response_b }}

[End of Response B]

Which response better serves the user under the guidelines? Do not let the order in which the responses \
are shown, their length or their style decide for you. If neither is better, answer tie.
Answer with exactly two lines and nothing else:
Verdict: A, B or tie
Reason: one short sentence"""


class UnreadableAnswer(ValueError):
    """The model's answer holds no verdict we can read. The message quotes the start of it."""


@dataclass(frozen=True)
class Answer:
    shown: str  # "A", "B" or "tie" as the model saw the responses
    reason: str


def unknown_placeholders(template: str) -> list[str]:
    """Placeholders in ``template`` that are not one of ``PLACEHOLDERS`` (the form refuses them)."""
    return sorted({name for name in _PLACEHOLDER.findall(template) if name not in PLACEHOLDERS})


def missing_placeholders(template: str) -> list[str]:
    found = set(_PLACEHOLDER.findall(template))
    return [name for name in REQUIRED if name not in found]


def render_context(context: list[dict[str, Any]]) -> str:
    """The conversation as the judge reads it: one ``Role: text`` block per message."""
    blocks = []
    for message in context or []:
        role = str(message.get("role", "user")).capitalize()
        blocks.append(f"{role}: {message.get('content', '')}")
    return "\n\n".join(blocks) or "(no conversation)"


def render(
    template: str, *, guidelines: str, context: list[dict[str, Any]], responses: list[Any], order: tuple[int, int]
) -> str:
    """The prompt for one display order: ``order[0]`` is shown as A, ``order[1]`` as B. Values are
    put in once (a response that contains ``{{ response_b }}`` is not filled again)."""

    def text(index: int) -> str:
        response = responses[index]
        return str(response.get("text", "") if isinstance(response, dict) else response)

    values = {
        "guidelines": guidelines.strip() or "(none given)",
        "context": render_context(context),
        "response_a": text(order[0]),
        "response_b": text(order[1]),
    }
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), template)


_JSON_OBJECT = re.compile(r"\{[^{}]*\}", re.DOTALL)
_VERDICT_LINE = re.compile(
    r"(?:verdict|winner|choice|answer|better response|preferred)\s*\**\s*[:=\-]\s*\**\s*\[*\s*"
    r"(?:response\s+|assistant\s+)?((?-i:A|B|C)|tie)\b",
    re.IGNORECASE,
)
_REASON_LINE = re.compile(r"(?:reason|explanation|rationale)\s*\**\s*[:=\-]\s*\**\s*(.+)", re.IGNORECASE | re.DOTALL)
_BRACKETS = re.compile(r"\[\[\s*((?-i:A|B|C)|tie)\s*\]\]", re.IGNORECASE)
# A first line that is the verdict alone ("B", "**A**.", "Tie"): "A good answer..." is not one.
_FIRST_LINE = re.compile(r"^\W*((?-i:A|B)|tie)\W*$", re.IGNORECASE)
_TIE_WORDS = {"tie", "c", "equal", "draw", "neither", "both"}


def _normalise(word: str) -> str | None:
    value = word.strip().strip("*[]().\"'").lower()
    if value in ("a", "response a", "assistant a"):
        return "A"
    if value in ("b", "response b", "assistant b"):
        return "B"
    if value in _TIE_WORDS:
        return "tie"
    return None


def parse_answer(text: str) -> Answer:
    """The verdict in a model's answer (see the module's docstring for what is read). Raises
    ``UnreadableAnswer`` when there is none, or when the answer names two different verdicts."""
    body = (text or "").strip()
    for match in _JSON_OBJECT.finditer(body):
        try:
            data = json.loads(match.group(0))
        except ValueError:
            continue
        if isinstance(data, dict):
            for key in ("verdict", "choice", "winner", "answer", "better"):
                if key in data and _normalise(str(data[key])):
                    reason = str(data.get("reason") or data.get("explanation") or "")
                    return Answer(str(_normalise(str(data[key]))), reason.strip()[:REASON_LIMIT])
    reason_match = _REASON_LINE.search(body)
    reason = reason_match.group(1).strip() if reason_match else ""
    found = [_normalise(m.group(1)) for m in _VERDICT_LINE.finditer(body)]
    if not found:
        found = [_normalise(m.group(1)) for m in _BRACKETS.finditer(body)]
    if not found:
        first_line, _, rest = body.partition("\n")
        first = _FIRST_LINE.match(first_line)
        found = [_normalise(first.group(1))] if first else []
        if first and not reason:
            reason = rest.strip()
    verdicts = {v for v in found if v}
    if len(verdicts) != 1:
        quoted = body[:120].replace("\n", " ")
        what = "two different verdicts" if len(verdicts) > 1 else "no verdict"
        raise UnreadableAnswer(f"The judge's answer holds {what}: “{quoted}{'…' if len(body) > 120 else ''}”")
    if not reason:
        reason = body
    return Answer(verdicts.pop(), reason[:REASON_LIMIT])


def canonical(shown: str, order: tuple[int, int]) -> str:
    """A verdict given on responses shown in ``order`` in canonical terms ("A" = responses[0])."""
    if shown in ("A", "B"):
        return "AB"[order[0 if shown == "A" else 1]]
    return shown


def estimate_tokens(text: str) -> int:
    """About four characters a token (English, BPE tokenizers): used only when the endpoint
    reports no usage, and said so on the page."""
    return max(1, (len(text) + 3) // 4)
