"""Extension points of the annotation room, filled by the rooms above it (``quorum.hooks``).

The hooks about a stream's entry test and withheld items come in pairs — an ORM expression and its
SQL twin — because the annotator's hot path reads with hand-written SQL (``quorum.rows``). The SQL
fragments are read once, after the apps are ready, and cached with the statements they join.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db.models import Exists, Q, Value

from quorum.hooks import Hook


@dataclass(frozen=True)
class Overruled:
    """Why a room above overrules an item's early stop (``first_agreement_overruled``): who
    ("judge"), the answer that disagreed with the first n, and a sentence for the PM."""

    by: str
    other_answer: str
    reason: str


@dataclass(frozen=True)
class SubmitOutcome:
    """What the rooms above did after a judgement was stored: the annotator was paused (the page
    shows why instead of the next item), and in training mode the explanation of a golden item
    answered wrongly."""

    paused: bool = False
    explanation: str = ""


# --- Who may receive items ----------------------------------------------------------------------
# The stream has an entry test that invited members must pass before they receive items.
# ``entry_test_exists(stream_ref)`` is an ORM ``Exists`` on the stream (e.g. ``OuterRef("pk")``);
# ``entry_test_sql()`` the same as an SQL boolean on a stream aliased ``s``.
# qualification: an active test with at least one question.
entry_test_exists: Hook[Callable[[Any], Exists]] = Hook("entry_test_exists")
entry_test_sql: Hook[Callable[[], str]] = Hook("entry_test_sql")

# --- Golden injection ---------------------------------------------------------------------------
# Items never served as golden items: ``golden_withheld_q()`` excludes them from an ``Item``
# queryset, ``golden_withheld_sql()`` is an SQL condition that holds for a withheld item aliased ``i``.
# qualification: the stream's test questions (the annotator may have seen them, with the answer).
golden_withheld_q: Hook[Callable[[], Q]] = Hook("golden_withheld_q")
golden_withheld_sql: Hook[Callable[[], str]] = Hook("golden_withheld_sql")

# --- After a submit -----------------------------------------------------------------------------
# Inside the submit's transaction, for a judgement on an ordinary item: (judgement, stream).
# qc: flagged and sampled judgements into the review queue.
judgement_stored: Hook[Callable[..., object]] = Hook("judgement_stored")

# After COMMIT, for a judgement on a golden item: (judgement=, stream=, now=) -> SubmitOutcome | None.
# qc: the gold figures, the auto-pause rule, the training-mode explanation.
golden_judged: Hook[Callable[..., SubmitOutcome | None]] = Hook("golden_judged")

# --- Adaptive overlap ---------------------------------------------------------------------------
# Items whose first n judgements agreed but that a room above sends on to the full overlap:
# (stream=, agreed={item_id: answer key of the agreed answer}) -> {item_id: Overruled}. Called
# inside the transaction that decides the items (``services._redecide``), only for items whose
# first n agreed. judging: the stream's judge disagrees (its escalate use).
first_agreement_overruled: Hook[Callable[..., dict[int, Overruled]]] = Hook("first_agreement_overruled")

# --- Model suggestions ---------------------------------------------------------------------------
# The pick of a model shown to the annotator on this assignment (assignment=, stream=): "A",
# "B" or "tie" (canonical) when shown, "" when a pick existed but the item is in the hold-out,
# None when there is none. The item page shows it and the submit stores it
# (``Judgement.suggestion``), so both must give the same answer for one assignment whenever
# they are asked. judging: the stream's judge (its suggest use).
item_suggestion: Hook[Callable[..., str | None]] = Hook("item_suggestion")

# --- The annotator's pages ----------------------------------------------------------------------
# A warning to show above the item (stream=, annotator=) -> str ("" for none). qc: rushing.
annotator_warning: Hook[Callable[..., str]] = Hook("annotator_warning")

# Template context of the page a paused annotator sees (stream=, annotator=) -> dict. qc: ``pause``.
paused_page_context: Hook[Callable[..., dict[str, Any]]] = Hook("paused_page_context")

# Template context of the stream's home page (stream=, user=, now=) -> dict. qualification: ``test``;
# qc: ``peer_review`` (the link to a peer reviewer's review queue).
stream_home_context: Hook[Callable[..., dict[str, Any]]] = Hook("stream_home_context")


def entry_test_expression(stream_ref: Any) -> Any:
    """``entry_test_exists`` as one expression: True when any room requires a test (False if none)."""
    expressions = [function(stream_ref) for function in entry_test_exists.functions]
    if not expressions:
        return Value(False)
    combined: Any = expressions[0]
    for expression in expressions[1:]:
        combined = combined | expression
    return combined


def entry_test_condition() -> str:
    """``entry_test_sql`` as one SQL boolean ("FALSE" when no room requires a test)."""
    parts = [f"({function()})" for function in entry_test_sql.functions]
    return " OR ".join(parts) if parts else "FALSE"


def golden_withheld_condition() -> str:
    """``golden_withheld_sql`` as one SQL condition ("FALSE" when nothing is withheld)."""
    parts = [f"({function()})" for function in golden_withheld_sql.functions]
    return " OR ".join(parts) if parts else "FALSE"


def golden_withheld_filter() -> Q:
    """``golden_withheld_q`` as one ``Q`` of the items to exclude (matches nothing when none)."""
    combined = Q(pk__in=[])
    for function in golden_withheld_q.functions:
        combined |= function()
    return combined
