"""The assignment engine: leases items to annotators and stores their judgements and skips.

Invariant kept by every function here, for every item::

    Item.claim_count == live (active) leases + counted judgements <= item_target(stream, item)

where the target is ``stream.overlap``, or less with adaptive overlap (``item_target``), golden
items excepted (they measure annotators, so everyone may see them). Judgements taken out of the
count (``exclude_judgements``) no longer count: their slots are free again. ``claim_count`` is
changed only by single-row ``UPDATE``\\s inside the transaction that creates or ends the lease, so
the check and the change cannot be separated by another transaction.

On PostgreSQL a claim is one SQL statement in one short transaction: the first item in index order
that has room, that this annotator has not had, and that no concurrent claim holds
(``FOR UPDATE SKIP LOCKED``) is counted and leased. No retry loop: concurrent claimers skip each
other's rows instead of waiting or failing. On SQLite (the embedded mode) the same functions use
the ORM; SQLite's write lock (``transaction_mode=IMMEDIATE``) serialises them, which is correct for
one process.
"""

from __future__ import annotations

import functools
import hashlib
import json
import random
from collections import Counter
from collections.abc import Iterable
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.core.cache import cache
from django.db import IntegrityError, connection, transaction
from django.db.models import Case, Exists, F, OuterRef, Q, Value, When
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone

from annotation import hooks
from annotation import signals as integrity
from annotation.models import Assignment, Item, ItemEscalation, Judgement, gold_answer_correct
from projects.models import Stream
from quorum import rows

EXPIRY_BATCH = 500


class AssignmentClosed(Exception):
    """The assignment was skipped: it takes no judgement."""


class AlreadySubmitted(Exception):
    """The assignment already has a judgement stored under a different idempotency key."""

    def __init__(self, judgement: Judgement) -> None:
        super().__init__("This item was already submitted.")
        self.judgement = judgement


@dataclass(frozen=True)
class SubmitResult:
    judgement: Judgement
    created: bool  # False: a repeat of a submit already stored (double click, back, retry)
    late: bool  # the lease had expired before the submit arrived
    # What QC did after storing it (``hooks.golden_judged``): a pause, a training-mode
    # explanation after a wrong golden answer. None for a repeat.
    qc: hooks.SubmitOutcome | None = None

    @property
    def surplus(self) -> bool:
        """Stored but not counted: the lease had expired and the item was full by then."""
        return not self.judgement.counted


def lease_token(assignment: Assignment) -> str:
    """The per-lease token a page carries back with its submit. It changes only when the item is
    leased anew, so a double click, a back button or a refreshed page all submit the same key."""
    return format(int(assignment.served_at.timestamp() * 1_000_000), "x")


def idempotency_key(*, assignment_id: int, token: str) -> str:
    """One key per assignment and page token, derived on the server (the client cannot pick a key
    that collides with another assignment's)."""
    return hashlib.sha256(f"{assignment_id}:{token}".encode()).hexdigest()


def _lease_end(stream: Stream, now: datetime) -> datetime:
    return now + timedelta(minutes=stream.lease_minutes)


# --- Targets: how many judgements an item collects ------------------------------------------------
def adaptive(stream: Stream) -> bool:
    """Adaptive overlap is in force: on, and able to stop before the overlap (n < overlap)."""
    return bool(stream.adaptive_overlap) and stream.adaptive_min_agree < stream.overlap


def first_target(stream: Stream) -> int:
    """What an item collects before anything is known about it: n (``adaptive_min_agree``) on a
    stream with adaptive overlap, else the overlap."""
    return stream.adaptive_min_agree if adaptive(stream) else stream.overlap


def item_target(stream: Stream, item: Item) -> int:
    """The item's *target*: how many counted judgements it collects (and so how many slots,
    leases plus counted judgements, the claim hands out). The overlap; with adaptive overlap, n
    until its first n judgements are in and when they agreed (``Item.first_agreed``: it stopped
    early), the overlap when they did not. The engine never leases more than n before the first n
    are in, so no lease is outstanding when an item stops early. Golden items are not bound by it
    (every annotator may get each one once)."""
    return stream.overlap if item.first_agreed is False else first_target(stream)


def target_params(stream: Stream) -> dict[str, int]:
    """The parameters of ``TARGET_SQL``."""
    return {"overlap": stream.overlap, "first": first_target(stream)}


# ``item_target`` in SQL, for an item row aliased ``{alias}`` (e.g. "i."), with ``target_params``.
TARGET_SQL = "(CASE WHEN {alias}first_agreed IS FALSE THEN %(overlap)s ELSE %(first)s END)"


def room_q(stream: Stream, *, slack: int = 0) -> Q:
    """``claim_count < item_target - slack`` as an ORM condition."""
    if not adaptive(stream):
        return Q(claim_count__lt=stream.overlap - slack)
    undecided_or_agreed = Q(first_agreed__isnull=True) | Q(first_agreed=True)
    return (Q(first_agreed=False) & Q(claim_count__lt=stream.overlap - slack)) | (
        undecided_or_agreed & Q(claim_count__lt=stream.adaptive_min_agree - slack)
    )


def answer_key(choice: str | None, ranking: Any, cannot_judge: bool) -> Any:
    """What two judgements must share to *agree* (adaptive overlap): the same pairwise choice
    (A, B, tie and both_bad alike: n identical answers agree, whatever the answer); for a ranking,
    the same top-ranked group (a tie for best is a group). None for a judgement flagged "cannot
    judge" (exports drop it): it agrees with nothing, so the item keeps collecting."""
    if cannot_judge:
        return None
    if choice:
        return choice
    if ranking:
        return ("top", tuple(sorted(ranking[0])))
    return None


def first_agree(answers: list[Any]) -> bool:
    """n answer keys (``answer_key``) agree: all equal and none None."""
    return None not in answers and len(set(answers)) == 1


def _redecide(*, stream: Stream, item_ids: list[int]) -> None:
    """Recomputes ``first_agreed`` and ``is_open`` of these (non-golden) items of ``stream`` from
    their counted, current, not excluded judgements, first n by id. The caller holds the item
    rows (locked, or written in its transaction). 1 UPDATE per distinct decision (+1 read on an
    adaptive stream)."""
    if not item_ids:
        return
    n = first_target(stream)
    decisions: dict[int, bool | None] = dict.fromkeys(item_ids)
    if adaptive(stream):
        answers: dict[int, list[Any]] = {pk: [] for pk in item_ids}
        rows_ = (
            Judgement.objects.filter(item_id__in=item_ids, counted=True, is_current=True, excluded_reason__isnull=True)
            .order_by("item_id", "id")
            .values_list("item_id", "choice", "ranking", "flag_cannot_judge")
        )
        for item_id, choice, ranking, cannot in rows_:
            got = answers[item_id]
            if len(got) < n:
                got.append(answer_key(choice, ranking, cannot))
        decisions = {pk: (first_agree(got) if len(got) >= n else None) for pk, got in answers.items()}
        agreed = {pk: answers[pk][0] for pk, decision in decisions.items() if decision}
        for pk in _overrule(stream=stream, agreed=agreed):
            decisions[pk] = False
    by_decision: dict[bool | None, list[int]] = {}
    for pk, decision in decisions.items():
        by_decision.setdefault(decision, []).append(pk)
    for decision, ids in by_decision.items():
        target = stream.overlap if decision is False else n
        Item.objects.filter(pk__in=ids, is_golden=False).update(
            first_agreed=decision,
            is_open=Case(When(claim_count__lt=target, then=Value(True)), default=Value(False)),
        )


def _overrule(*, stream: Stream, agreed: dict[int, Any]) -> list[int]:
    """The items among ``agreed`` (first n agreed) that a room above sends on to the full overlap
    (``hooks.first_agreement_overruled``: the model judge's escalate use), each recorded once as
    an ``ItemEscalation``. No query when nothing agreed or no room listens (+1 read by the
    listener, +1 insert when it overrules)."""
    if not agreed or not hooks.first_agreement_overruled.functions:
        return []
    overruled: dict[int, hooks.Overruled] = {}
    for result in hooks.first_agreement_overruled.call(stream=stream, agreed=agreed):
        overruled.update(result or {})
    overruled = {pk: why for pk, why in overruled.items() if pk in agreed}
    if overruled:
        ItemEscalation.objects.bulk_create(
            [
                ItemEscalation(
                    item_id=pk,
                    stream=stream,
                    by=why.by,
                    agreed_answer=_key_text(agreed[pk]),
                    other_answer=why.other_answer,
                    reason=why.reason[:300],
                )
                for pk, why in overruled.items()
            ],
            ignore_conflicts=True,  # one record per item: the first escalation
        )
    return list(overruled)


def _key_text(key: Any) -> str:
    """An answer key (``answer_key``) as text: the choice, or "top: 0,2" for a ranking's best group."""
    if isinstance(key, tuple):
        return "top: " + ",".join(str(i) for i in key[1])
    return str(key)


def redecide_items(*, stream: Stream, item_ids: Iterable[int]) -> None:
    """Decides these items' adaptive early stop again (``first_agreed`` and ``is_open``), under
    their row locks: what a room above calls when something it adds to the decision changed (a
    model judge's verdict arrived after the first n judgements). Nothing on a stream without
    adaptive overlap."""
    ids = sorted({int(pk) for pk in item_ids})
    if not ids or not adaptive(stream):
        return
    with transaction.atomic():
        locked = list(
            Item.objects.select_for_update()
            .filter(pk__in=ids, stream=stream, is_golden=False)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        _redecide(stream=stream, item_ids=locked)


# --- Claiming ---------------------------------------------------------------------------------
def claim_next(*, stream: Stream, annotator: Any, now: datetime | None = None) -> Assignment | None:
    """The assignment the annotator should work on next in ``stream``, or None when nothing is left.

    1. The annotator's live lease in the stream, if any (a lease past its expiry that no sweep has
       ended yet still holds its slot, so it is extended and resumed).
    2. With probability ``stream.golden_rate``, a golden item never served to this annotator
       (``pick_golden``).
    3. The highest-priority item with room (claim_count < its target) that this annotator has never
       submitted, skipped or holds; among equal priorities the most-claimed first (depth-first:
       items finish) or, when ``stream.order`` is breadth-first, the least-claimed first.
       When none is found, expired leases of the stream are ended and the claim is tried once more.

    Callers check that the annotator may work in the stream (``selectors.can_annotate``).
    Queries: 2 (resume, claim) on the usual path. The assignment comes with its item, and with
    ``stream`` as its stream.
    """
    now = now or timezone.now()
    resumed = _resume(stream=stream, annotator=annotator, now=now)
    if resumed is not None:
        return resumed

    golden = pick_golden(stream=stream, annotator=annotator, now=now)
    if golden is not None:
        return golden

    assignment = _claim(stream=stream, annotator=annotator, now=now)
    if assignment is None and expire_leases(stream=stream, now=now):
        assignment = _claim(stream=stream, annotator=annotator, now=now)
    if assignment is None:
        # Lost a race with a concurrent claim of this same annotator (two tabs): take that one.
        return _resume(stream=stream, annotator=annotator, now=now)
    return assignment


def pick_golden(*, stream: Stream, annotator: Any, now: datetime | None = None) -> Assignment | None:
    """Golden injection (DESIGN flow 4): with probability ``stream.golden_rate`` — an independent
    draw for every new lease, so golden items land at random positions, never every n-th item —
    lease a golden item of the stream that this annotator was *never* served (any lease, even an
    expired one, counts as served) and that is not a qualification question (they may have seen it
    in the test), picked uniformly at random among those. None when the draw says
    "ordinary item" or every golden item has been served to this annotator.

    A golden item is leased like any other (same row shape, a random display order, the same
    lease length; on PostgreSQL one statement, as the ordinary claim), so nothing in the page,
    the HTML, the API or the timing tells it apart. Golden items are not bound by the overlap:
    they measure annotators, so every annotator may get each one once.
    """
    if stream.golden_rate <= 0 or golden_random.random() >= stream.golden_rate:
        return None
    # An annotator who has had every golden item (or a stream without any) costs no query for a
    # while: a cache read instead (new golden items reach them within GOLDEN_EXHAUSTED_SECONDS).
    exhausted_key = f"annotation:golden-exhausted:{stream.pk}:{annotator.pk}"
    if cache.get(exhausted_key):
        return None
    try:
        assignment = _lease_golden(stream=stream, annotator=annotator, now=now or timezone.now())
    except (IntegrityError, _LostRace):
        return None  # a concurrent lease of the same annotator (two tabs): the caller resumes it
    if assignment is None:
        cache.set(exhausted_key, True, GOLDEN_EXHAUSTED_SECONDS)
    return assignment


def _lease_golden(*, stream: Stream, annotator: Any, now: datetime) -> Assignment | None:
    """Leases a random golden item never served to the annotator; None when there is none."""
    if connection.vendor == "postgresql":
        params = {"stream": stream.pk, "annotator": annotator.pk, "now": now, "expires": _lease_end(stream, now)}
        with transaction.atomic() if connection.in_atomic_block else nullcontext():
            row = rows.fetch_one(_golden_sql(), params)
        # The lease and its item come back from the statement, as from the ordinary claim: the
        # golden path makes no extra round trip (no timing difference).
        return _assignment_from(row, stream) if row else None
    candidate = (
        Item.objects.filter(stream=stream, pool=Item.Pool.WORK, is_golden=True)
        .exclude(Exists(Assignment.objects.filter(item=OuterRef("pk"), annotator=annotator)))
        .exclude(hooks.golden_withheld_filter())
        .order_by("?")
        .first()
    )
    if candidate is None:
        return None
    return _lease_item(item=candidate, stream=stream, annotator=annotator, now=now, check_room=False)


# Unpredictable draws: an annotator cannot time their care to the golden items.
golden_random: random.Random = random.SystemRandom()
GOLDEN_EXHAUSTED_SECONDS = 300

# The golden twin of the claim: a random golden item of the stream that this annotator never had
# (``item_golden`` holds only the stream's golden items), leased and counted in one statement.
_GOLDEN_SQL = """
WITH candidate AS (
    SELECT i.id, i.num_responses FROM annotation_item i
    WHERE i.stream_id = %(stream)s AND i.is_golden AND i.pool = 'work'
      AND NOT EXISTS (
          SELECT 1 FROM annotation_assignment a WHERE a.item_id = i.id AND a.annotator_id = %(annotator)s
      )
      AND NOT ({withheld})
    ORDER BY random()
    LIMIT 1
), leased AS (
    INSERT INTO annotation_assignment (
        item_id, stream_id, annotator_id, status, display_order, served_at, lease_expires_at,
        first_interaction_at, finished_at, skip_reason, skip_note
    )
    SELECT candidate.id, %(stream)s, %(annotator)s, 'active',
           (SELECT jsonb_agg(g ORDER BY random()) FROM generate_series(0, candidate.num_responses - 1) g),
           %(now)s, %(expires)s, NULL, NULL, '', ''
    FROM candidate
    ON CONFLICT (item_id, annotator_id) DO NOTHING
    RETURNING *
), counted AS (
    UPDATE annotation_item it SET claim_count = it.claim_count + 1
    FROM leased WHERE it.id = leased.item_id
    RETURNING it.*
)
SELECT {assignment_columns}, {item_columns} FROM leased JOIN counted ON counted.id = leased.item_id
"""


@functools.cache
def _golden_sql() -> str:
    return _GOLDEN_SQL.format(
        withheld=hooks.golden_withheld_condition(),
        assignment_columns=rows.columns(Assignment, "leased"),
        item_columns=rows.columns(Item, "counted"),
    )


# The hot path's fixed reads are hand-written (``quorum.rows``): compiling them with the ORM cost
# more CPU than running them. The live lease is found by the ``assignment_one_live_lease`` index.
@functools.cache
def _resume_sql() -> str:
    return (
        f"SELECT {rows.columns(Assignment, 'a')}, {rows.columns(Item, 'i')} "  # noqa: S608 - column names from the models
        "FROM annotation_assignment a JOIN annotation_item i ON i.id = a.item_id "
        "WHERE a.annotator_id = %(annotator)s AND a.stream_id = %(stream)s AND a.status = 'active'"
    )


def _assignment_from(row: tuple[Any, ...], stream: Stream) -> Assignment:
    """An assignment and its item from a row of (assignment columns, item columns)."""
    assignment = rows.instance(Assignment, row)
    assignment.item = rows.instance(Item, row, rows.width(Assignment))
    assignment.stream = stream
    return assignment


def _resume(*, stream: Stream, annotator: Any, now: datetime) -> Assignment | None:
    row = rows.fetch_one(_resume_sql(), {"annotator": annotator.pk, "stream": stream.pk})
    if row is None:
        return None
    lease = _assignment_from(row, stream)
    if lease.lease_expires_at > now:
        return lease
    # Conditional: a sweep may have ended this lease since we read it.
    expires = _lease_end(stream, now)
    if Assignment.objects.filter(pk=lease.pk, status=Assignment.Status.ACTIVE).update(lease_expires_at=expires):
        lease.lease_expires_at = expires
        return lease
    return None


class _LostRace(Exception):
    pass


def _claim(*, stream: Stream, annotator: Any, now: datetime) -> Assignment | None:
    try:
        if connection.vendor == "postgresql":
            # One statement: atomic by itself, so no BEGIN/COMMIT round trips outside a
            # transaction; inside one (tests, ATOMIC_REQUESTS) a savepoint keeps a refused insert
            # from breaking the caller's transaction.
            with transaction.atomic() if connection.in_atomic_block else nullcontext():
                row = _claim_postgresql(stream=stream, annotator=annotator, now=now)
            return _assignment_from(row, stream) if row is not None else None
        with transaction.atomic():
            return _claim_sqlite(stream=stream, annotator=annotator, now=now)
    except (IntegrityError, _LostRace):
        # The unique "one live lease per annotator and stream" refused a second lease taken at
        # the same moment by the same annotator; nothing was changed (the statement rolled back).
        return None


# The SQLite twin of _CLAIM_SQL (keep the two in step), in three statements: SQLite's write lock
# (``BEGIN IMMEDIATE``) is held from the first, so no other claim can come in between.
_SQLITE_CANDIDATE_SQL = """
SELECT {item_columns} FROM annotation_item i
WHERE i.stream_id = %(stream)s AND i.is_open AND i.pool = 'work' AND NOT i.is_golden
  AND i.claim_count < {target}
  AND NOT EXISTS (
      SELECT 1 FROM annotation_assignment a
      WHERE a.item_id = i.id AND a.annotator_id = %(annotator)s AND a.status <> 'expired'
  )
ORDER BY i.priority DESC, {claim_order}, i.id
LIMIT 1
"""
_SQLITE_COUNT_SQL = """
UPDATE annotation_item SET claim_count = claim_count + 1, is_open = claim_count + 1 < {target}
WHERE id = %(item)s AND claim_count < {target}
"""
_SQLITE_LEASE_SQL = """
INSERT INTO annotation_assignment (
    item_id, stream_id, annotator_id, status, display_order, served_at, lease_expires_at,
    first_interaction_at, finished_at, skip_reason, skip_note
)
VALUES (%(item)s, %(stream)s, %(annotator)s, 'active', %(order)s, %(now)s, %(expires)s, NULL, NULL, '', '')
ON CONFLICT (item_id, annotator_id) DO UPDATE
    SET status = 'active', display_order = excluded.display_order, served_at = excluded.served_at,
        lease_expires_at = excluded.lease_expires_at, first_interaction_at = NULL, finished_at = NULL,
        skip_reason = '', skip_note = ''
    WHERE annotation_assignment.status = 'expired'
RETURNING {assignment_columns}
"""


def _claim_sqlite(*, stream: Stream, annotator: Any, now: datetime) -> Assignment | None:
    """The claim on SQLite, inside the caller's transaction. Raises ``_LostRace`` when this
    annotator already holds the candidate (the caller's transaction then undoes the count)."""
    claim_order = "i.claim_count DESC" if stream.order == Stream.Order.DEPTH_FIRST else "i.claim_count ASC"
    sql = _SQLITE_CANDIDATE_SQL.format(
        item_columns=rows.columns(Item, "i"), claim_order=claim_order, target=TARGET_SQL.format(alias="i.")
    )
    params = {**target_params(stream), "stream": stream.pk, "annotator": annotator.pk}
    row = rows.fetch_one(sql, params)
    if row is None:
        return None
    item = rows.instance(Item, row)
    count_sql = _SQLITE_COUNT_SQL.format(target=TARGET_SQL.format(alias=""))
    if not rows.execute(count_sql, {**target_params(stream), "item": item.pk}):
        return None
    item.claim_count += 1
    item.is_open = item.claim_count < item_target(stream, item)
    order = list(range(item.num_responses))
    random.shuffle(order)
    adapt = connection.ops.adapt_datetimefield_value
    lease = {
        **params,
        "item": item.pk,
        "order": json.dumps(order),
        "now": adapt(now),
        "expires": adapt(_lease_end(stream, now)),
    }
    leased = rows.fetch_one(_SQLITE_LEASE_SQL.format(assignment_columns=rows.columns(Assignment)), lease)
    if leased is None:
        raise _LostRace  # held by this annotator already (submitted, skipped or live)
    assignment = rows.instance(Assignment, leased)
    assignment.item = item
    assignment.stream = stream
    return assignment


_CLAIM_SQL = """
WITH candidate AS (
    SELECT i.id, i.num_responses FROM annotation_item i
    WHERE i.stream_id = %(stream)s AND i.is_open AND i.pool = 'work' AND NOT i.is_golden
      AND i.claim_count < {target_i}
      AND NOT EXISTS (
          SELECT 1 FROM annotation_assignment a
          WHERE a.item_id = i.id AND a.annotator_id = %(annotator)s AND a.status <> 'expired'
      )
    ORDER BY i.priority DESC, {claim_order}, i.id
    LIMIT 1
    FOR UPDATE OF i SKIP LOCKED
), leased AS (
    INSERT INTO annotation_assignment (
        item_id, stream_id, annotator_id, status, display_order, served_at, lease_expires_at,
        first_interaction_at, finished_at, skip_reason, skip_note
    )
    SELECT candidate.id, %(stream)s, %(annotator)s, 'active',
           (SELECT jsonb_agg(g ORDER BY random()) FROM generate_series(0, candidate.num_responses - 1) g),
           %(now)s, %(expires)s, NULL, NULL, '', ''
    FROM candidate
    ON CONFLICT (item_id, annotator_id) DO UPDATE
        SET status = 'active', display_order = EXCLUDED.display_order, served_at = EXCLUDED.served_at,
            lease_expires_at = EXCLUDED.lease_expires_at, first_interaction_at = NULL, finished_at = NULL,
            skip_reason = '', skip_note = ''
        WHERE annotation_assignment.status = 'expired'
    RETURNING *
), counted AS (
    UPDATE annotation_item it
    SET claim_count = it.claim_count + 1, is_open = it.claim_count + 1 < {target_it}
    FROM leased WHERE it.id = leased.item_id
    RETURNING it.*
)
SELECT {assignment_columns}, {item_columns} FROM leased JOIN counted ON counted.id = leased.item_id
"""


def claim_sql(stream: Stream) -> str:
    """The PostgreSQL claim statement for ``stream`` (the benchmark EXPLAINs it). Its ORDER BY
    matches ``item_claim_depth`` / ``item_claim_breadth`` column for column, so PostgreSQL walks
    the index and stops at the first row it can lock."""
    claim_order = "i.claim_count DESC" if stream.order == Stream.Order.DEPTH_FIRST else "i.claim_count ASC"
    # The new lease and its item as they are after the claim: no second query to fetch them.
    return _CLAIM_SQL.format(
        claim_order=claim_order,
        target_i=TARGET_SQL.format(alias="i."),
        target_it=TARGET_SQL.format(alias="it."),
        assignment_columns=rows.columns(Assignment, "leased"),
        item_columns=rows.columns(Item, "counted"),
    )


def _claim_postgresql(*, stream: Stream, annotator: Any, now: datetime) -> tuple[Any, ...] | None:
    params = {
        **target_params(stream),
        "stream": stream.pk,
        "annotator": annotator.pk,
        "now": now,
        "expires": _lease_end(stream, now),
    }
    # No row: nothing to claim, or the candidate was already held by this annotator (a claim of
    # theirs committed after this statement's snapshot): the insert did nothing, so nothing was
    # counted either.
    return rows.fetch_one(claim_sql(stream), params)


def _lease_item(*, item: Item, stream: Stream, annotator: Any, now: datetime, check_room: bool) -> Assignment | None:
    """Counts and leases one given item with the ORM (SQLite claims, and the golden hook)."""
    with transaction.atomic():
        room = Q(pk=item.pk) & (room_q(stream) if check_room else Q())
        counted = Item.objects.filter(room).update(
            claim_count=F("claim_count") + 1,
            is_open=Case(When(room_q(stream, slack=1), then=Value(True)), default=Value(False)),
        )
        if not counted:
            return None
        # As the UPDATE left the row: callers get the item without fetching it again.
        item.claim_count += 1
        item.is_open = item.claim_count < item_target(stream, item)
        order = list(range(item.num_responses))
        random.shuffle(order)
        fields = {
            "stream": stream,
            "status": Assignment.Status.ACTIVE,
            "display_order": order,
            "served_at": now,
            "lease_expires_at": _lease_end(stream, now),
            "first_interaction_at": None,
            "finished_at": None,
            "skip_reason": "",
            "skip_note": "",
        }
        assignment, created = Assignment.objects.get_or_create(item=item, annotator=annotator, defaults=fields)
        if not created:
            if assignment.status != Assignment.Status.EXPIRED:
                raise _LostRace
            for name, value in fields.items():
                setattr(assignment, name, value)
            assignment.save()
        assignment.item = item
        return assignment


# --- Leases ---------------------------------------------------------------------------------
def extend_lease(*, assignment: Assignment, interacted: bool = False, now: datetime | None = None) -> bool:
    """Heartbeat from an open page: the lease runs ``stream.lease_minutes`` from now again, and the
    first interaction time is recorded on the server when the page reports one. Returns False when
    the lease has already ended (swept, submitted or skipped)."""
    now = now or timezone.now()
    fields: dict[str, Any] = {"lease_expires_at": _lease_end(assignment.stream, now)}
    if interacted:
        fields["first_interaction_at"] = Coalesce(F("first_interaction_at"), Value(now))
    return bool(Assignment.objects.filter(pk=assignment.pk, status=Assignment.Status.ACTIVE).update(**fields))


def expire_leases(*, stream: Stream | None = None, now: datetime | None = None, limit: int = EXPIRY_BATCH) -> int:
    """Ends up to ``limit`` leases past their expiry (of ``stream``, or of all streams) and returns
    their slots to the pool. Rows another transaction is using are skipped, and item rows are
    locked in id order, so concurrent sweeps, claims and submits cannot deadlock. Returns how many
    leases were ended."""
    now = now or timezone.now()
    with transaction.atomic():
        due = Assignment.objects.filter(status=Assignment.Status.ACTIVE, lease_expires_at__lte=now)
        if stream is not None:
            due = due.filter(stream=stream)
        rows = list(
            due.select_for_update(skip_locked=True, of=("self",))
            .order_by("lease_expires_at")
            .values_list("id", "item_id")[:limit]
        )
        if not rows:
            return 0
        Assignment.objects.filter(pk__in=[pk for pk, _ in rows]).update(status=Assignment.Status.EXPIRED)
        per_item = Counter(item_id for _, item_id in rows)
        list(Item.objects.select_for_update().filter(pk__in=per_item).order_by("pk").values_list("pk", flat=True))
        by_count: dict[int, list[int]] = {}
        for item_id, n in per_item.items():
            by_count.setdefault(n, []).append(item_id)
        for n, item_ids in by_count.items():
            # is_open is only a hint (the claim re-checks the overlap), so True is always safe here.
            Item.objects.filter(pk__in=item_ids).update(claim_count=F("claim_count") - n, is_open=True)
        return len(rows)


SYNC_BATCH = 2000


def sync_open_items(*, stream: Stream) -> int:
    """After the overlap or the adaptive overlap settings changed: recomputes the stream's items'
    ``first_agreed`` (from their first n counted, not excluded judgements when adaptive overlap is
    on; NULL when it is off) and sets ``Item.is_open`` to ``claim_count < item_target`` where the
    flag disagrees. Only rows that change are written. Returns how many items changed.

    Safe beside concurrent claims: each UPDATE re-checks ``claim_count`` on the row it locks. A
    claim that read the old settings in the same instant may still close one item early; opening is
    what matters (a stale True never over-assigns: the claim re-checks the target)."""
    decided = 0
    items = Item.objects.filter(stream=stream, is_golden=False)
    if adaptive(stream):
        stale = Q(judgement_count__gte=stream.adaptive_min_agree) | Q(first_agreed__isnull=False)
        ids = list(items.filter(stale).order_by("pk").values_list("pk", flat=True))
        for start in range(0, len(ids), SYNC_BATCH):
            batch = ids[start : start + SYNC_BATCH]
            with transaction.atomic():
                list(Item.objects.select_for_update().filter(pk__in=batch).order_by("pk").values_list("pk", flat=True))
                _redecide(stream=stream, item_ids=batch)
            decided += len(batch)
    else:
        decided = items.filter(first_agreed__isnull=False).update(first_agreed=None)
    with transaction.atomic():
        items = Item.objects.filter(stream=stream)
        opened = items.filter(room_q(stream), is_open=False).update(is_open=True)
        closed = items.filter(~room_q(stream), is_open=True).update(is_open=False)
    return decided + opened + closed


# --- Taking judgements out of the count -------------------------------------------------------------
def exclude_judgements(*, judgement_ids: Iterable[int], reason: str, now: datetime | None = None) -> int:
    """Takes judgements out of the count (QC drift or pause, a review's rejection, a PM): each is
    marked ``excluded_reason`` / ``excluded_at`` and kept for the audit, and each that held a slot
    (counted and current) gives it back: its item's ``judgement_count`` and ``claim_count`` go
    down by one, its adaptive decision is recomputed from the judgements that still count, and it
    is open again (the claim serves it until it reaches its target again; golden items only get
    their counters back). Judgements already excluded are left as they are. Returns how many were
    newly excluded.

    Atomic and safe beside claims, submits and other exclusions: the judgement rows are locked in
    id order (a judgement is excluded once), then the item rows in id order (as the lease sweep
    does), so counters cannot drift and nothing deadlocks."""
    if reason not in Judgement.ExcludedReason.values:
        raise ValueError(f"Unknown exclusion reason {reason!r}; one of {', '.join(Judgement.ExcludedReason.values)}.")
    return _set_excluded(judgement_ids=judgement_ids, reason=reason, now=now or timezone.now())


def exclude_annotator_work(
    *,
    stream: Stream,
    annotator: Any,
    reason: str,
    since: datetime | None = None,
    now: datetime | None = None,
) -> int:
    """``exclude_judgements`` for the annotator's current judgements in ``stream`` submitted at or
    after ``since`` (all of them without it): what a QC pause or a detected drift takes out of the
    count. Golden items included (their counters only). Returns how many were newly excluded."""
    rows = Judgement.objects.filter(stream=stream, annotator=annotator, is_current=True, excluded_reason__isnull=True)
    if since is not None:
        rows = rows.filter(submitted_at__gte=since)
    return exclude_judgements(judgement_ids=list(rows.values_list("pk", flat=True)), reason=reason, now=now)


def restore_judgements(*, judgement_ids: Iterable[int], now: datetime | None = None) -> int:
    """Undoes ``exclude_judgements``: the judgements count again (their items' counters go up and
    their adaptive decisions are recomputed). A restored judgement counts even when its item has
    collected another judgement in its place meanwhile: the item then holds more than its target
    (nothing is lost; the claim adds no more). Returns how many were restored."""
    del now  # restoring clears the time: kept for symmetry with exclude_judgements
    return _set_excluded(judgement_ids=judgement_ids, reason=None, now=None)


def _set_excluded(*, judgement_ids: Iterable[int], reason: str | None, now: datetime | None) -> int:
    ids = sorted({int(pk) for pk in judgement_ids})
    if not ids:
        return 0
    with transaction.atomic():
        found = list(
            Judgement.objects.select_for_update()
            .filter(pk__in=ids, excluded_reason__isnull=reason is not None)
            .order_by("pk")
            .values_list("pk", "item_id", "counted", "is_current")
        )
        if not found:
            return 0
        Judgement.objects.filter(pk__in=[row[0] for row in found]).update(excluded_reason=reason, excluded_at=now)
        per_item = Counter(item_id for _pk, item_id, counted, current in found if counted and current)
        _recount(per_item, sign=-1 if reason is not None else 1)
    return len(found)


def _recount(per_item: Counter[int], *, sign: int) -> None:
    """Moves the items' counters by ``sign`` × their number of judgements, then recomputes their
    decisions and ``is_open`` (inside the caller's transaction)."""
    if not per_item:
        return
    locked = list(
        Item.objects.select_for_update().filter(pk__in=per_item).order_by("pk").values_list("pk", "stream_id")
    )
    by_delta: dict[int, list[int]] = {}
    for item_id, n in per_item.items():
        by_delta.setdefault(n, []).append(item_id)
    for n, item_ids in by_delta.items():
        # Never below zero, should a counter have been written by hand (the demo's simulated
        # judgements, tests' factories): claim_count >= judgement_count holds either way.
        Item.objects.filter(pk__in=item_ids).update(
            judgement_count=Greatest(F("judgement_count") + sign * n, Value(0)),
            claim_count=Greatest(F("claim_count") + sign * n, Value(0)),
        )
    per_stream: dict[int, list[int]] = {}
    for item_id, stream_id in locked:
        per_stream.setdefault(stream_id, []).append(item_id)
    for stream in Stream.objects.filter(pk__in=per_stream):
        _redecide(stream=stream, item_ids=per_stream[stream.pk])


# --- Submitting and skipping ----------------------------------------------------------------
def submit_judgement(
    *,
    assignment: Assignment,
    idempotency_key: str,
    choice: str | None = None,
    strength: int | None = None,
    ranking: list[list[int]] | None = None,
    rubric: dict[str, list[int | None]] | None = None,
    axes: dict[str, Any] | None = None,
    rationale: str = "",
    flag_harmful: bool = False,
    flag_pii: bool = False,
    flag_cannot_judge: bool = False,
    active_seconds: float | None = None,
    signals: dict[str, int | float] | None = None,
    source: str = Judgement.Source.WEB,
    now: datetime | None = None,
) -> SubmitResult:
    """Stores the judgement for ``assignment`` (answers already in canonical order) exactly once.
    A multi-axis answer (helpful_safe, attribute_pairwise) comes as ``axes`` with ``choice`` set to
    its main axis (``annotation.axes.choice_of``).

    - The assignment row is locked first, so two submits of one assignment (a double click, a
      retry, two tabs) run one after the other: the second finds it submitted and gets the stored
      judgement back (same key) or ``AlreadySubmitted`` (another key).
    - A live lease (even one past its expiry that no sweep has ended: its slot is still held) is
      counted. A lease a sweep has ended is counted only if the item still has room; otherwise the
      judgement is stored with ``counted=False`` (surplus: never lost, never counted).
    - ``active_seconds`` (reported by the browser) is clamped to [0, submitted - served].
    - ``signals`` (``annotation.signals``, parsed) are clamped to the same window; the first
      interaction is the page's own measure when it sent one (``signals.first_interaction_at``),
      else the heartbeat's mark on the assignment.

    - On a golden item ``gold_correct`` is stored with the judgement (``annotation.models.gold_answer_correct``).
    - QC: on an ordinary item, flagged and sampled judgements go to the review queue
      (``hooks.judgement_stored``: qc's review queue, in the same transaction); on a golden item, after COMMIT,
      the gold figures and the auto-pause rule (``hooks.golden_judged``).

    Raises ``AssignmentClosed`` for a skipped assignment. Queries: 4 on the usual path (+1 when
    the judgement goes to review; more on a golden item).
    """
    now = now or timezone.now()
    with transaction.atomic():
        locked = _lock_assignment(assignment)
        if locked.status == Assignment.Status.SUBMITTED:
            existing = Judgement.objects.get(assignment=locked, is_current=True)
            if existing.idempotency_key != idempotency_key:
                raise AlreadySubmitted(existing)
            return SubmitResult(existing, created=False, late=False)
        if locked.status == Assignment.Status.SKIPPED:
            raise AssignmentClosed("This item was skipped.")

        late = locked.status == Assignment.Status.EXPIRED or locked.lease_expires_at <= now
        live = locked.status == Assignment.Status.ACTIVE
        stream = locked.stream
        item = locked.item
        adaptive_item = adaptive(stream) and not item.is_golden
        if live:
            counted = True  # its slot is held: the item's counter is updated last, below
        else:
            counted = bool(
                Item.objects.filter(room_q(stream) | Q(is_golden=True), pk=locked.item_id).update(
                    judgement_count=F("judgement_count") + 1,
                    claim_count=F("claim_count") + 1,
                    is_open=Case(When(room_q(stream, slack=1), then=Value(True)), default=Value(False)),
                )
            )

        gold_correct = None
        if item.is_golden:
            gold_correct = gold_answer_correct(
                choice=choice,
                ranking=ranking,
                flag_harmful=flag_harmful,
                golden_answers=item.golden_answers or (),
                golden_harmful=item.golden_harmful,
            )
        # What a model's suggestion showed on the item page, if anything (the judge's suggest use):
        # the same answer the page got from the hook for this assignment. Only the web page shows
        # one (the API and the dynamic chat do not). No query without a listener.
        shows = source == Judgement.Source.WEB and hooks.item_suggestion.functions
        suggestion = hooks.item_suggestion.first(assignment=locked, stream=stream) if shows else None
        window = max(0.0, (now - locked.served_at).total_seconds())
        if active_seconds is not None:
            active_seconds = min(max(0.0, float(active_seconds)), window)
        measured = integrity.clamp(signals, window=window) if signals else {}
        first_interaction = (
            integrity.first_interaction_at(measured, served_at=locked.served_at, submitted_at=now)
            or locked.first_interaction_at
        )
        # The submit's writes are hand-written (quorum.rows): the ORM's compilation of the INSERT and
        # the UPDATEs cost more CPU than the database spends on them.
        judgement = Judgement(
            assignment=locked,
            item_id=locked.item_id,
            stream_id=locked.stream_id,
            annotator_id=locked.annotator_id,
            choice=choice,
            strength=strength if choice in ("A", "B") else None,
            ranking=ranking,
            rubric=rubric or {},
            axes=axes or {},
            rationale=rationale,
            flag_harmful=flag_harmful,
            flag_pii=flag_pii,
            flag_cannot_judge=flag_cannot_judge,
            display_order=locked.display_order,
            served_at=locked.served_at,
            first_interaction_at=first_interaction,
            submitted_at=now,
            active_seconds=active_seconds,
            signals=measured,
            idempotency_key=idempotency_key,
            counted=counted,
            gold_correct=gold_correct,
            source=source,
            suggestion=suggestion,
            # From the stream row loaded with the assignment: the version current at submit time.
            guideline_version=stream.guideline_version,
        )
        rows.insert(judgement)
        if not item.is_golden:
            # Flagged or sampled work into the review queue: one INSERT in this transaction, if any.
            hooks.judgement_stored.call(judgement=judgement, stream=locked.stream)
        rows.execute(
            "UPDATE annotation_assignment SET status = 'submitted', finished_at = %(now)s WHERE id = %(id)s",
            {"now": connection.ops.adapt_datetimefield_value(now), "id": locked.pk},
        )
        if live and adaptive_item:
            _count_adaptive(judgement=judgement, stream=stream)
        elif live:
            # Last statement before COMMIT: concurrent claims skip a locked item row, so the item is
            # held for as short a time as possible.
            rows.execute(
                "UPDATE annotation_item SET judgement_count = judgement_count + 1 WHERE id = %(id)s",
                {"id": locked.item_id},
            )
        elif counted and adaptive_item:
            decision = Item.objects.filter(pk=locked.item_id).values_list("judgement_count", "first_agreed").get()
            if decision[1] is None and decision[0] >= first_target(stream):
                _redecide(stream=stream, item_ids=[locked.item_id])
    judgement.item = item
    # After COMMIT, golden items only: gold figures and the auto-pause rule never hold the item row.
    outcome = hooks.golden_judged.first(judgement=judgement, stream=locked.stream, now=now) if item.is_golden else None
    return SubmitResult(judgement, created=True, late=late, qc=outcome)


# A live lease's judgement on a stream with adaptive overlap counts while the item is below its
# target (it always is, unless the settings changed while the lease was out).
_ADAPTIVE_COUNT_SQL = (
    "UPDATE annotation_item SET judgement_count = judgement_count + 1 "  # noqa: S608 - a constant
    "WHERE id = %(id)s AND judgement_count < " + TARGET_SQL.format(alias="") + " "
    "RETURNING judgement_count, first_agreed"
)


def _count_adaptive(*, judgement: Judgement, stream: Stream) -> None:
    """The live submit's count on a stream with adaptive overlap. Counts the judgement (one
    UPDATE, as without adaptive overlap) and, when it is the n-th, decides whether the first n
    agree (+2 queries: read them, write the decision and ``is_open``).

    A lease handed out before the settings changed (adaptive overlap turned on, n lowered) may
    find its item already at its target: its judgement is stored as surplus (``counted`` False,
    its slot released), never lost and never over-filling the item."""
    row = rows.fetch_one(_ADAPTIVE_COUNT_SQL, {**target_params(stream), "id": judgement.item_id})
    if row is None:
        rows.execute(
            "UPDATE annotation_judgement SET counted = %(no)s WHERE id = %(id)s", {"no": False, "id": judgement.pk}
        )
        rows.execute(
            "UPDATE annotation_item SET claim_count = claim_count - 1 WHERE id = %(id)s", {"id": judgement.item_id}
        )
        judgement.counted = False
        return
    count, decided = row
    if decided is None and count >= first_target(stream):
        _redecide(stream=stream, item_ids=[judgement.item_id])


def _lock_assignment(assignment: Assignment) -> Assignment:
    """The assignment's row as it is now, locked until COMMIT (``FOR UPDATE``; SQLite's write lock
    already serialises writers), with the item and the stream the caller loaded with it: only the
    assignment's own state (status, lease, times) can have changed since. Hand-written: the ORM's
    locking query with its joins cost more CPU than the rest of the submit."""
    sql = f"SELECT {rows.columns(Assignment, 'a')} FROM annotation_assignment a WHERE a.id = %(id)s"  # noqa: S608 - column names from the models
    if connection.features.has_select_for_update:
        sql += " FOR UPDATE"
    row = rows.fetch_one(sql, {"id": assignment.pk})
    if row is None:
        raise Assignment.DoesNotExist("No such assignment.")
    locked = rows.instance(Assignment, row)
    locked.item = assignment.item
    locked.stream = assignment.stream
    return locked


def skip_assignment(*, assignment: Assignment, reason: str, note: str = "", now: datetime | None = None) -> bool:
    """Records a skip with its reason: the item's slot goes back to the pool (others get it) and
    this annotator is never offered the item again. Returns False when there was nothing to skip
    (already submitted or skipped: a repeated skip is harmless)."""
    now = now or timezone.now()
    with transaction.atomic():
        locked = Assignment.objects.select_for_update().get(pk=assignment.pk)
        if locked.status in (Assignment.Status.SUBMITTED, Assignment.Status.SKIPPED):
            return False
        if locked.status == Assignment.Status.ACTIVE:
            Item.objects.filter(pk=locked.item_id).update(claim_count=F("claim_count") - 1, is_open=True)
        Assignment.objects.filter(pk=locked.pk).update(
            status=Assignment.Status.SKIPPED, skip_reason=reason, skip_note=note[:500], finished_at=now
        )
        return True
