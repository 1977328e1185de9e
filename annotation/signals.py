"""Integrity signals: how an item was worked on, as the labeling page saw it (issue 14).

Stored with the judgement in ``Judgement.signals`` (beside its other timings, ``active_seconds``
and ``first_interaction_at``). Counts and durations only — **never any text**: not what was
copied, not what was pasted, no keystrokes. The keys (each optional; a key that is absent was
not measured, and ``{}`` means nothing was recorded: no JavaScript, or an API client that sends
none):

=============================  ====================================================================
``shown_seconds``              seconds the page showed the item, until the submit
``hidden_seconds``             of those, seconds the page was hidden (another tab, minimised;
                               ``visibilitychange``)
``unfocused_seconds``          seconds the page was visible but the window had lost the focus
                               (another window in front; ``blur``/``focus``)
``leaves``                     how many times the page went hidden or lost the focus
``copy_prompt``                copy events on the conversation (prompt) text
``copy_prompt_chars``          characters of the conversation those copies selected
``copy_response``              copy events on the responses' text
``copy_response_chars``        characters of the responses those copies selected
``paste_rationale``            paste events into the rationale box
``paste_rationale_chars``      characters pasted into it
``first_interaction_seconds``  seconds from showing the item to the first action on it (a click or
                               tap in the item, a key other than scrolling or moving the focus,
                               typing)
=============================  ====================================================================

Two steps, kept apart on purpose:

``parse`` (the form and the API serializer): the *shape* — known keys, integers or finite numbers,
not negative, under generous caps, characters only with events. A value that breaks it is an error
(the API answers 400 with the reason; the web page, whose own script sends them, drops the signals
and keeps the answer: an answer is never refused for its telemetry, see ``JudgementForm``).

``clamp`` (the submit service): *plausibility* against what the server knows — no duration longer
than the time the item was leased (served to submitted), hidden + unfocused no more than shown,
the first action no later than the submit. A client may lie; it cannot claim more time than it had.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

COUNTS = ("leaves", "copy_prompt", "copy_response", "paste_rationale")
CHARS = {
    "copy_prompt_chars": "copy_prompt",
    "copy_response_chars": "copy_response",
    "paste_rationale_chars": "paste_rationale",
}
SECONDS = ("shown_seconds", "hidden_seconds", "unfocused_seconds", "first_interaction_seconds")
KEYS = (*SECONDS, *COUNTS, *CHARS)

MAX_EVENTS = 10_000  # per item: far more than anyone copies or leaves while judging one item
MAX_CHARS = 10_000_000
MAX_SECONDS = 10_000_000.0  # as the API's active_seconds


class InvalidSignals(ValueError):
    """The signals do not have the documented shape; ``errors`` maps each key to what is wrong."""

    def __init__(self, errors: Mapping[str, str]) -> None:
        super().__init__("; ".join(f"{key}: {message}" for key, message in errors.items()))
        self.errors = dict(errors)


def parse(raw: Any) -> dict[str, int | float]:
    """The signals as stored (documented keys only, numbers), or ``InvalidSignals``."""
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise InvalidSignals({"signals": "Give an object of counts and seconds."})
    errors: dict[str, str] = {}
    out: dict[str, int | float] = {}
    for key, value in raw.items():
        if key not in KEYS:
            errors[str(key)[:50]] = "Unknown signal (see the documented keys)."
        elif key in SECONDS:
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                errors[key] = "Give a number of seconds."
            elif not 0 <= value <= MAX_SECONDS:
                errors[key] = f"Give seconds from 0 to {MAX_SECONDS:g}."
            else:
                out[key] = round(float(value), 3)
        else:
            cap = MAX_CHARS if key in CHARS else MAX_EVENTS
            if isinstance(value, bool) or not isinstance(value, int):
                errors[key] = "Give a whole number."
            elif not 0 <= value <= cap:
                errors[key] = f"Give a whole number from 0 to {cap}."
            else:
                out[key] = value
    for chars, events in CHARS.items():
        if out.get(chars) and not out.get(events):
            errors[chars] = f"Characters without any {events} event."
    if errors:
        raise InvalidSignals(errors)
    return out


def clamp(signals: Mapping[str, int | float], *, window: float) -> dict[str, int | float]:
    """``signals`` (parsed) made consistent with the server's ``window`` (seconds from serving the
    item to the submit): ``shown_seconds`` at most the window (the window when absent, for the
    bounds below), ``hidden_seconds`` at most that, ``unfocused_seconds`` at most what is left,
    ``first_interaction_seconds`` at most the window."""
    out = dict(signals)
    window = _down(window)  # rounding never takes a duration past the window
    shown = min(float(out.get("shown_seconds", window)), window)
    if "shown_seconds" in out:
        out["shown_seconds"] = round(shown, 3)
    hidden = min(float(out.get("hidden_seconds", 0.0)), shown)
    if "hidden_seconds" in out:
        out["hidden_seconds"] = round(hidden, 3)
    if "unfocused_seconds" in out:
        out["unfocused_seconds"] = round(min(float(out["unfocused_seconds"]), max(0.0, shown - hidden)), 3)
    if "first_interaction_seconds" in out:
        out["first_interaction_seconds"] = round(min(float(out["first_interaction_seconds"]), window), 3)
    return out


def _down(seconds: float) -> float:
    return math.floor(seconds * 1000) / 1000


def first_interaction_at(
    signals: Mapping[str, int | float], *, served_at: datetime, submitted_at: datetime
) -> datetime | None:
    """When the annotator first acted on the item, from the page's own measure (clamped signals):
    the page counts ``first_interaction_seconds`` and ``shown_seconds`` on one monotonic clock from
    when it showed the item, so the first action was ``shown − first`` seconds before the submit
    (right after a reload, too). Without ``shown_seconds``: ``first_interaction_seconds`` after the
    item was served. Always within [served, submitted]; None when the page did not say."""
    if "first_interaction_seconds" not in signals:
        return None
    first = float(signals["first_interaction_seconds"])
    if "shown_seconds" in signals:
        at = submitted_at - timedelta(seconds=max(0.0, float(signals["shown_seconds"]) - first))
    else:
        at = served_at + timedelta(seconds=first)
    return min(max(at, served_at), submitted_at)
