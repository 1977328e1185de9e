"""Training-ready exports: judgements → aggregated preference pairs → JSONL + manifest.

One generator (``iter_rows``) serves the CLI, the Celery job behind the export page and the
streaming API, so all three apply the same filters and give the same rows.

**Flat memory.** Judgements are read with ``iterator(chunk_size=...)`` ordered by item, grouped
consecutively, and the text of the items that survive is fetched a batch of items at a time; rows
are written as they are made. Only Dawid–Skene holds something proportional to the export (the
(task, annotator, label) triples, see ``exports.aggregation``); the "new since export N" filter holds
N's exported item ids as a sorted int64 array (8 bytes per item).

**Consistent snapshot.** The newest judgement id and the time are captured when an export starts;
every read is bounded by them: judgements with ``id <= bound`` that were current at that moment
(current now, or superseded by a row newer than the bound), reviews created before it. Judgements
submitted while the export runs are left for the next one, and the two passes of Dawid–Skene see
the same data. (The id bound works the same on PostgreSQL and SQLite and for a streaming HTTP
response, which cannot sit inside one REPEATABLE READ transaction.)
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import queue
import threading
from array import array
from bisect import bisect_left
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import datetime
from itertools import groupby
from operator import itemgetter
from pathlib import Path
from typing import Any, NamedTuple

import orjson
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, Exists, F, Max, Min, OuterRef, Q, TextField
from django.db.models.functions import Cast
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django.utils.dateparse import parse_datetime

from annotation.models import Item, Judgement
from exports import aggregation, card
from exports import formats as shapes
from exports.models import Export
from judging.models import Judge
from projects.models import GuidelineVersion, Project, Stream, StreamMembership
from qc import calibration
from qc.models import Review
from quorum import jobs

logger = logging.getLogger(__name__)

FORMATS = shapes.FORMATS
TIES = shapes.TIES
FILE_FORMATS = ("jsonl", "parquet")
AGGREGATIONS = aggregation.METHODS
# Members whose whole work leaves the export. A *paused* annotator is not among them: QC takes
# out exactly the work it suspects (``Judgement.excluded_reason`` qc_pause / qc_drift, from the
# estimated start of the problem), and their earlier work stays.
INACTIVE_STATUSES = (
    StreamMembership.Status.FAILED,
    StreamMembership.Status.REMOVED,
)
CHUNK_SIZE = 5000  # judgement rows per database round trip
ITEM_BATCH = 1000  # items whose text is fetched per query
ITEMS_INDEX_NAME = "exported-items.bin"


class ExportError(ValueError):
    """Input an export cannot run with (unknown stream, streams of several projects, ...)."""


@dataclass(frozen=True)
class ExportSpec:
    """What to export. ``to_json``/``from_json`` round-trip it through ``Export.filters``."""

    stream_ids: tuple[int, ...]
    format: str = "trl"
    aggregation: str = "majority"
    min_agreement: float = 0.0
    min_judgements: int = 1
    include_golden: bool = False
    exclude_inactive_annotators: bool = True
    exclude_flagged: bool = True
    exclude_rejected: bool = True
    submitted_from: datetime | None = None
    submitted_to: datetime | None = None
    since_export_id: int | None = None
    test_fraction: float = 0.0
    seed: int = 0
    # The ``margin`` and ``confidence`` columns of every pair row (exports.formats); off: only the
    # consumer's own keys.
    margin: bool = True
    # None: each stream's own ``min_confidence``. A pair whose confidence is below it is dropped.
    min_confidence: float | None = None
    confidence: bool = True
    # The streams' model judges' verdicts stay out of Dawid–Skene even where the vote use is on.
    exclude_model_judgements: bool = False
    # A comparison whose label is "tie": dropped, or exported as two pairs, each response over the
    # other with margin 0 (a reward model learns to score them alike). KTO drops ties either way.
    ties: str = "drop"
    licence: str = ""  # the dataset card's and the manifest's licence line, as the PM words it
    file_format: str = "jsonl"  # or "parquet" (pyarrow)

    def __post_init__(self) -> None:
        if not self.stream_ids:
            raise ExportError("Choose at least one stream.")
        if self.format not in FORMATS:
            raise ExportError(f"Unknown format {self.format!r}; choose one of {', '.join(FORMATS)}.")
        if self.aggregation not in AGGREGATIONS:
            raise ExportError(f"Unknown aggregation {self.aggregation!r}; choose one of {', '.join(AGGREGATIONS)}.")
        if not 0.0 <= self.min_agreement <= 1.0:
            raise ExportError("min_agreement must be between 0 and 1.")
        if self.min_confidence is not None and not 0.0 <= self.min_confidence <= 1.0:
            raise ExportError("min_confidence must be between 0 and 1.")
        if self.min_judgements < 1:
            raise ExportError("min_judgements must be at least 1.")
        if not 0.0 <= self.test_fraction < 1.0:
            raise ExportError("test_fraction must be at least 0 and below 1.")
        if self.ties not in TIES:
            raise ExportError(f"Unknown tie handling {self.ties!r}; choose one of {', '.join(TIES)}.")
        if self.file_format not in FILE_FORMATS:
            raise ExportError(f"Unknown file format {self.file_format!r}; choose one of {', '.join(FILE_FORMATS)}.")
        if self.format == "rewardbench" and self.test_fraction <= 0:
            raise ExportError(
                "rewardbench is a held-out evaluation set: give a test fraction (the items it holds out are "
                "left out of any training export with the same seed and test fraction)."
            )
        if len(self.licence) > 200:
            raise ExportError("licence: at most 200 characters.")

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["stream_ids"] = list(self.stream_ids)
        for key in ("submitted_from", "submitted_to"):
            data[key] = data[key].isoformat() if data[key] else None
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ExportSpec:
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        values["stream_ids"] = tuple(values.get("stream_ids", ()))
        for key in ("submitted_from", "submitted_to"):
            if values.get(key):
                values[key] = parse_datetime(values[key])
        return cls(**values)


@dataclass(frozen=True)
class Snapshot:
    max_judgement_id: int
    taken_at: datetime

    @classmethod
    def take(cls) -> Snapshot:
        return cls(Judgement.objects.aggregate(m=Max("id"))["m"] or 0, timezone.now())


@dataclass
class Stats:
    """Counts for the manifest: what was read, kept, and dropped for which reason."""

    judgements_read: int = 0
    judgements_dropped: Counter[str] = field(default_factory=Counter)
    items_read: int = 0
    items_dropped: Counter[str] = field(default_factory=Counter)
    items_exported: int = 0
    pairs_kept: int = 0
    pairs_dropped: Counter[str] = field(default_factory=Counter)
    rows: Counter[str] = field(default_factory=Counter)
    # Per stream: agreement over tasks with at least two judgements, before the agreement filter.
    agreement_sum: defaultdict[int, float] = field(default_factory=lambda: defaultdict(float))
    agreement_n: Counter[int] = field(default_factory=Counter)
    stream_pairs: Counter[int] = field(default_factory=Counter)
    # Per stream: the confidence of the kept pairs (sum and a 10-bin histogram), the method used
    # and, with ``auto``, why.
    confidence_sum: defaultdict[int, float] = field(default_factory=lambda: defaultdict(float))
    confidence_bins: defaultdict[int, list[int]] = field(default_factory=lambda: defaultdict(lambda: [0] * 10))
    methods: dict[int, str] = field(default_factory=dict)
    method_choice: dict[int, dict[str, Any]] = field(default_factory=dict)
    min_confidence: dict[int, float] = field(default_factory=dict)
    # Per stream: the model judge's votes that joined the Dawid–Skene fit (the vote use).
    model_votes: Counter[int] = field(default_factory=Counter)
    exported_item_ids: array[int] | None = None  # filled when the caller keeps an index
    ties_kept: int = 0  # tied comparisons written as both orders (--ties both-orders)
    kto_negatives: int = 0  # both-bad comparisons written as two undesirable KTO completions
    # Per stream: answers of calibration rounds whose PM let them into exports, joined as votes.
    calibration_votes: Counter[int] = field(default_factory=Counter)

    def keep_confidence(self, stream_id: int, confidence: float) -> None:
        self.confidence_sum[stream_id] += confidence
        self.confidence_bins[stream_id][min(9, int(confidence * 10))] += 1

    def to_json(self) -> dict[str, Any]:
        return {
            "judgements": {"read": self.judgements_read, "dropped": dict(sorted(self.judgements_dropped.items()))},
            "items": {
                "read": self.items_read,
                "exported": self.items_exported,
                "dropped": dict(sorted(self.items_dropped.items())),
            },
            "pairs": {
                "kept": self.pairs_kept,
                "dropped": dict(sorted(self.pairs_dropped.items())),
                "ties_as_both_orders": self.ties_kept,
                "both_bad_as_kto_negatives": self.kto_negatives,
            },
            "rows": dict(sorted(self.rows.items())),
        }


# A judgement row: these fields in this order (``_ID`` … ``_CANNOT_JUDGE`` index them), then
# ``_RAW_FIELDS`` in a raw export. ``ranking`` is a list, or JSON text still to decode, or None.
_FIELDS = (
    "id",
    "item_id",
    "stream_id",
    "annotator_id",
    "choice",
    "strength",
    "ranking",
    "flag_harmful",
    "flag_pii",
    "flag_cannot_judge",
)
_ID, _ITEM, _STREAM, _ANNOTATOR, _CHOICE, _STRENGTH, _RANKING, _HARMFUL, _PII, _CANNOT_JUDGE = range(len(_FIELDS))
_RAW_FIELDS = (
    "display_order",
    "served_at",
    "submitted_at",
    "active_seconds",
    "rubric",
    "rationale",
    "source",
    "axes",
    "guideline_version",
)

# What the readers yield per item: (item id, its judgement rows in id order, whether any of them
# carries a flag, the item's text as (id, external_id, context JSON text, responses JSON text) or
# None when not asked for).
_ItemRows = tuple[int, list[Any], bool, tuple[Any, ...] | None]


# --- reading -----------------------------------------------------------------------------------


def resolve_streams(refs: Iterable[str | int], *, project: Project | None = None) -> list[Stream]:
    """Streams by id or slug (``project/stream`` or a slug unique across visible projects)."""
    found: list[Stream] = []
    base = Stream.objects.select_related("project")
    if project is not None:
        base = base.filter(project=project)
    for ref in refs:
        text = str(ref).strip()
        if text.isdigit():
            matches = list(base.filter(pk=int(text)))
        elif "/" in text:
            project_slug, stream_slug = text.split("/", 1)
            matches = list(base.filter(project__slug=project_slug, slug=stream_slug))
        else:
            matches = list(base.filter(slug=text))
        if not matches:
            raise ExportError(f"No stream {text!r}.")
        if len(matches) > 1:
            raise ExportError(f"Stream slug {text!r} is ambiguous; use project-slug/stream-slug or the id.")
        if matches[0] not in found:
            found.append(matches[0])
    if len({s.project_id for s in found}) > 1:
        raise ExportError("All streams of one export must belong to one project.")
    return found


def judgement_queryset(spec: ExportSpec, snapshot: Snapshot, *, golden: bool = False) -> Any:
    """Counted judgements of the spec's streams as they stood at the snapshot."""
    items = {f"item__{name}": value for name, value in _item_filters(spec, golden=golden).items()}
    return _judgement_filters(spec, snapshot).filter(**items)


def _item_filters(spec: ExportSpec, *, golden: bool = False) -> dict[str, Any]:
    """The item-level conditions of an export, as ``Item`` lookups."""
    filters: dict[str, Any] = {"pool": Item.Pool.WORK}
    if not spec.include_golden:
        filters["is_golden"] = golden
    return filters


def _judgement_filters(spec: ExportSpec, snapshot: Snapshot) -> Any:
    """The judgement-level conditions of an export (``judgement_queryset`` adds the item's)."""
    bound = snapshot.max_judgement_id
    qs = Judgement.objects.filter(stream_id__in=spec.stream_ids, counted=True, id__lte=bound).filter(
        # EXISTS rather than the reverse one-to-one's LEFT JOIN: PostgreSQL then walks judgements in
        # item order on the item_id index instead of hash-joining and sorting the whole table.
        Q(is_current=True) | Exists(Judgement.objects.filter(supersedes=OuterRef("pk"), id__gt=bound))
    )
    # The demo's simulated judgements (qc.demo) show the QC pages; they are never training data. A
    # model judge's judgements are never counted (``counted=False``), so the filter above drops them.
    qs = qs.exclude(source=Judgement.Source.SIMULATED)
    if spec.submitted_from:
        qs = qs.filter(submitted_at__gte=spec.submitted_from)
    if spec.submitted_to:
        qs = qs.filter(submitted_at__lt=spec.submitted_to)
    return qs


def _rejected_ids(spec: ExportSpec, snapshot: Snapshot) -> set[int]:
    """Judgements a reviewer rejected before the snapshot. Rejections are few (a sample is
    reviewed, fewer rejected): a set of ids is cheaper than a subquery per judgement."""
    return set(
        Review.objects.filter(
            judgement__stream_id__in=spec.stream_ids,
            decision=Review.Decision.REJECT,
            created_at__lte=snapshot.taken_at,
        ).values_list("judgement_id", flat=True)
    )


# Why a judgement was taken out of the count (``Judgement.excluded_reason``), in the order of the
# tallied path's drop codes (4, 5, ...). The manifest counts them as ``excluded_<reason>``.
_EXCLUDED_REASONS = tuple(Judgement.ExcludedReason.values)


def _excluded_ids(spec: ExportSpec, snapshot: Snapshot) -> dict[int, str]:
    """Judgements taken out of the count before the snapshot (``annotation.services.
    exclude_judgements``), id → reason. Exports leave them out, except where the spec asks for what
    excluded them: ``--include-rejected`` keeps review rejections, ``--include-inactive-annotators``
    keeps the work of paused annotators. Few, and found by the ``judgement_excluded`` index."""
    keep = set()
    if not spec.exclude_rejected:
        keep.add(Judgement.ExcludedReason.REVIEW_REJECTED.value)
    if not spec.exclude_inactive_annotators:
        keep.add(Judgement.ExcludedReason.QC_PAUSE.value)
        keep.add(Judgement.ExcludedReason.QC_DRIFT.value)
    rows = (
        Judgement.objects.filter(
            stream_id__in=spec.stream_ids,
            excluded_reason__isnull=False,
            excluded_at__lte=snapshot.taken_at,
            id__lte=snapshot.max_judgement_id,
        )
        .exclude(excluded_reason__in=keep)
        .values_list("id", "excluded_reason")
    )
    return {pk: str(reason) for pk, reason in rows}


def _read_items(spec: ExportSpec, snapshot: Snapshot, *, raw: bool = False, texts: bool = True) -> Iterator[_ItemRows]:
    """Every item with judgements in the snapshot, in item id order, with its judgement rows."""
    if connection.vendor == "postgresql" and not raw:
        return _read_items_aggregated(spec, snapshot, texts=texts)
    return _read_items_grouped(spec, snapshot, raw=raw, texts=texts)


def _read_items_aggregated(spec: ExportSpec, snapshot: Snapshot, *, texts: bool) -> Iterator[_ItemRows]:
    """PostgreSQL: one query through a server-side cursor gives a row per item, its judgements
    already collected (``json_agg``) beside its text, so Python neither regroups a million rows
    nor makes a second round trip for the texts.

    The conditions are ``judgement_queryset``'s, compiled by the ORM: the judgement-level ones
    inside the aggregate, the item-level ones on the join that brings the text (joining items
    twice costs PostgreSQL a second merge join)."""
    judgements = _sql(_judgement_filters(spec, snapshot).values_list(*_FIELDS))
    item_columns: list[Any] = ["id"]
    if texts:
        item_columns += ["external_id", Cast("context", TextField()), Cast("responses", TextField())]
    items = _sql(Item.objects.filter(**_item_filters(spec)).values_list(*item_columns))
    fields = ", ".join(f"j.{connection.ops.quote_name(f)}" for f in _FIELDS)
    # json_agg keeps no order: rows are sorted by id below, as the other reader gives them.
    sql = (
        "SELECT g.item_id, g.judgements, g.flagged, i.* FROM ("  # noqa: S608 - SQL of ORM querysets
        f"SELECT j.item_id, json_agg(json_build_array({fields}))::text AS judgements, "
        "bool_or(j.flag_harmful OR j.flag_pii OR j.flag_cannot_judge) AS flagged "
        f"FROM ({judgements[0]}) j GROUP BY j.item_id"
        f") g JOIN ({items[0]}) i ON i.id = g.item_id ORDER BY g.item_id"
    )
    loads = orjson.loads
    with transaction.atomic(), connection.chunked_cursor() as cursor:  # no WITH HOLD: see _read_tallies
        with _jit_off():
            cursor.execute(sql, (*judgements[1], *items[1]))
        for batch in _fetch_ahead(cursor):
            for row in batch:
                rows = loads(row[1])
                rows.sort()
                yield row[0], rows, row[2], row[3:] if texts else None


@contextmanager
def _jit_off() -> Iterator[None]:
    """PostgreSQL plans the export query with a cost in the millions, so it would JIT-compile it
    with inlining and optimisation: about half a second spent to speed up nothing (the work is
    index scans, JSON building and text output). Off for the statement, restored after."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('jit'), set_config('jit', 'off', false)")
        previous = cursor.fetchone()[0]
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT set_config('jit', %s, false)", [previous])


def _sql(qs: Any) -> tuple[str, tuple[Any, ...]]:
    sql, params = qs.query.get_compiler(using=qs.db).as_sql()
    return sql, tuple(params)


def _read_items_grouped(spec: ExportSpec, snapshot: Snapshot, *, raw: bool, texts: bool) -> Iterator[_ItemRows]:
    """SQLite, and raw exports: judgement rows ordered by item, grouped here; texts are fetched
    ``ITEM_BATCH`` items a query."""
    qs = judgement_queryset(spec, snapshot).order_by("item_id", "id")
    rows: Iterator[tuple[Any, ...]]
    if raw:
        rows = iter(qs.values_list(*_FIELDS, *_RAW_FIELDS).iterator(chunk_size=CHUNK_SIZE))
    else:
        # Skips the ORM's per-value converters (a JSON decode per row for ``ranking``, mostly
        # null): ranking comes as text and is decoded only where present.
        qs = qs.annotate(ranking_text=Cast("ranking", TextField()))
        rows = _fetch(qs.values_list(*[f if f != "ranking" else "ranking_text" for f in _FIELDS]))
    batch: list[_ItemRows] = []
    for item_id, group in groupby(rows, key=itemgetter(_ITEM)):
        judgements = list(group)
        flagged = any(r[_HARMFUL] or r[_PII] or r[_CANNOT_JUDGE] for r in judgements)
        batch.append((item_id, judgements, flagged, None))
        if len(batch) >= ITEM_BATCH:
            yield from _with_texts(batch) if texts else batch
            batch = []
    yield from _with_texts(batch) if texts else batch


def _with_texts(batch: list[_ItemRows]) -> list[_ItemRows]:
    if not batch:
        return batch
    found = {row[0]: row for row in _fetch_items([b[0] for b in batch])}
    return [(item_id, rows, flagged, found[item_id]) for item_id, rows, flagged, _ in batch]


def _fetch(qs: Any) -> Iterator[tuple[Any, ...]]:
    """Rows of a values_list queryset through a server-side cursor on PostgreSQL (a plain one on
    SQLite), without the ORM's converters: for columns that need none."""
    sql, params = qs.query.get_compiler(using=qs.db).as_sql()
    with connection.chunked_cursor() as cursor:
        cursor.execute(sql, params)
        while rows := cursor.fetchmany(CHUNK_SIZE):
            yield from rows


def _fetch_items(ids: list[int]) -> list[tuple[Any, ...]]:
    """(id, external_id, context JSON text, responses JSON text) of ``ids``: one query, one
    parameter on PostgreSQL (an array), no ORM converters."""
    table = connection.ops.quote_name(Item._meta.db_table)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                f"SELECT id, external_id, context::text, responses::text FROM {table} WHERE id = ANY(%s)",  # noqa: S608
                [ids],
            )
        else:
            marks = ", ".join(["%s"] * len(ids))
            cursor.execute(f"SELECT id, external_id, context, responses FROM {table} WHERE id IN ({marks})", ids)  # noqa: S608
        return cursor.fetchall()


def _load_index(export_id: int) -> array[int]:
    """The sorted item ids a previous export (and the exports it continued) already delivered."""
    previous = Export.objects.filter(pk=export_id).first()
    if previous is None:
        raise ExportError(f"No export {export_id} to continue from.")
    for entry in previous.files:
        if entry.get("name") == ITEMS_INDEX_NAME:
            ids: array[int] = array("q")
            with open(entry["path"], "rb") as handle:
                ids.frombytes(handle.read())
            return ids
    raise ExportError(f"Export {export_id} has no item index (it failed, or was streamed).")


def check_since_export(export_id: int, *, project_id: int) -> Export:
    """The export a "new since" export continues from: finished, same project."""
    previous = Export.objects.filter(pk=export_id, project_id=project_id).first()
    if previous is None:
        raise ExportError(f"No export {export_id} in this project.")
    if previous.status != Export.Status.DONE or not any(f.get("name") == ITEMS_INDEX_NAME for f in previous.files):
        raise ExportError(f"Export {export_id} did not finish; continue from a finished export.")
    return previous


def _contains(sorted_ids: array[int], value: int) -> bool:
    pos = bisect_left(sorted_ids, value)
    return pos < len(sorted_ids) and sorted_ids[pos] == value


def _exclusions(
    spec: ExportSpec, snapshot: Snapshot
) -> tuple[set[tuple[int, int]], set[int], dict[int, str], array[int] | None]:
    """What the filters leave out beyond the query: (stream, annotator) pairs of inactive
    annotators, judgement ids a reviewer rejected, judgements taken out of the count (id → reason),
    and the item ids a previous export delivered."""
    inactive: set[tuple[int, int]] = set()
    if spec.exclude_inactive_annotators:
        inactive = set(
            StreamMembership.objects.filter(stream_id__in=spec.stream_ids, status__in=INACTIVE_STATUSES).values_list(
                "stream_id", "user_id"
            )
        )
    rejected = _rejected_ids(spec, snapshot) if spec.exclude_rejected else set()
    excluded = _excluded_ids(spec, snapshot)
    previous = _load_index(spec.since_export_id) if spec.since_export_id else None
    return inactive, rejected, excluded, previous


def _groups(
    spec: ExportSpec,
    snapshot: Snapshot,
    stats: Stats,
    *,
    raw: bool = False,
    texts: bool = True,
    on_read: Callable[[int], None] | None = None,
) -> Iterator[tuple[int, int, list[Any], tuple[Any, ...] | None]]:
    """(item_id, stream_id, kept judgement rows, item text) per item that passes the judgement-
    and item-level filters, in item id order."""
    inactive, rejected, excluded, previous = _exclusions(spec, snapshot)
    calibration = {} if raw else _calibration_votes(spec, snapshot)
    read = 0
    for item_id, rows, flagged, item in _read_items(spec, snapshot, raw=raw, texts=texts):
        read += len(rows)
        if on_read is not None and read >= CHUNK_SIZE:
            on_read(read)
            read = 0
        stats.judgements_read += len(rows)
        stats.items_read += 1
        if item_id in calibration:
            rows = _with_calibration(rows, calibration[item_id], stats)
        kept = rows
        flagged_item = False
        if inactive or rejected or excluded or flagged:  # else every row is kept: the common case, fast
            kept = []
            for row in rows:
                if (row[_STREAM], row[_ANNOTATOR]) in inactive:
                    stats.judgements_dropped["annotator_inactive"] += 1
                elif row[_ID] in rejected:
                    stats.judgements_dropped["rejected"] += 1
                elif row[_ID] in excluded:
                    stats.judgements_dropped["excluded_" + excluded[row[_ID]]] += 1
                elif spec.exclude_flagged and row[_CANNOT_JUDGE]:
                    stats.judgements_dropped["flagged_cannot_judge"] += 1
                else:
                    kept.append(row)
                    flagged_item = flagged_item or row[_HARMFUL] or row[_PII]
        if spec.exclude_flagged and flagged_item:
            # One harmful/PII flag is enough: the item's text should not reach a trainer unseen.
            stats.items_dropped["flagged_harmful_or_pii"] += 1
        elif not kept or len(kept) < spec.min_judgements:
            stats.items_dropped["min_judgements"] += 1
        elif previous is not None and _contains(previous, item_id):
            stats.items_dropped["already_exported"] += 1
        else:
            yield item_id, rows[0][_STREAM], kept, item
    if on_read is not None and read:
        on_read(read)


def _calibration_votes(spec: ExportSpec, snapshot: Snapshot) -> dict[int, list[tuple[Any, ...]]]:
    """Item id → the answers of the streams' calibration rounds whose PM chose to let them into
    exports (``qc.calibration.answers_for_export``, closed by the snapshot's time), as vote rows
    of ``_FIELDS`` with negated ids: they are another table's, never to be taken for a judgement
    a reviewer rejected or QC excluded. Empty for almost every export (no such round)."""
    votes: dict[int, list[tuple[Any, ...]]] = defaultdict(list)
    for row in calibration.answers_for_export(spec.stream_ids, snapshot.taken_at):
        votes[row[_ITEM]].append((-row[_ID], *row[1:]))
    return votes


def _with_calibration(rows: list[Any], answers: list[tuple[Any, ...]], stats: Stats) -> list[Any]:
    """An item's judgement rows and its calibration answers as further votes, but for annotators
    who also judged the item (their judgement is their vote)."""
    judged = {row[_ANNOTATOR] for row in rows}
    extra = [answer for answer in answers if answer[_ANNOTATOR] not in judged]
    for answer in extra:
        stats.calibration_votes[answer[_STREAM]] += 1
    return [*rows, *extra] if extra else rows


# --- aggregation -------------------------------------------------------------------------------


def _task_labels(rows: list[Any]) -> dict[tuple[int, int], list[tuple[str, float, int]]]:
    """(i, j) response pair → [(label, margin evidence, annotator)] from each judgement.

    A pairwise choice is the pair (0, 1). A ranking (groups best → worst) gives every pair of
    responses it places: ``A`` when i ranks above j, ``B`` below, ``tie`` in the same group; its
    margin evidence is the distance in groups. A pairwise choice's margin evidence is its
    strength (1 when unset: the weakest claim)."""
    if all(row[_CHOICE] for row in rows):  # the common case: a pairwise stream, one task
        return {(0, 1): [(row[_CHOICE], float(row[_STRENGTH] or 1), row[_ANNOTATOR]) for row in rows]}
    tasks: dict[tuple[int, int], list[tuple[str, float, int]]] = defaultdict(list)
    for row in rows:
        choice, strength, ranking, annotator = row[_CHOICE], row[_STRENGTH], row[_RANKING], row[_ANNOTATOR]
        if choice:
            tasks[(0, 1)].append((choice, float(strength or 1), annotator))
        elif ranking:
            if isinstance(ranking, str):
                ranking = orjson.loads(ranking)
            position = {index: level for level, group in enumerate(ranking) for index in group}
            indices = sorted(position)
            for a, i in enumerate(indices):
                for j in indices[a + 1 :]:
                    diff = position[j] - position[i]
                    label = "A" if diff > 0 else "B" if diff < 0 else "tie"
                    tasks[(i, j)].append((label, float(abs(diff)), annotator))
    return tasks


class _Pair(NamedTuple):  # a NamedTuple: made once per exported pair, cheaper than a dataclass
    chosen: int
    rejected: int
    margin: float  # the ``margin`` column: (2 × confidence − 1) × strength (exports.formats)
    agreement: float
    judgements: int
    confidence: float
    kind: str = "pair"  # "tie": one order of a tie (--ties both-orders); "both_bad": a KTO negative pair


def _undecided_pairs(
    spec: ExportSpec, label: str, i: int, j: int, confidence: float, n: int, agreement: float, stats: Stats
) -> list[_Pair]:
    """What a comparison labelled ``tie`` or ``both_bad`` gives: nothing (dropped, counted), or
    with ``--ties both-orders`` two pairs of margin 0, or in KTO a both-bad pair of two negatives."""
    if label == "tie" and spec.ties == "both-orders" and spec.format in _TIE_FORMATS:
        stats.ties_kept += 1
        return [_Pair(i, j, 0.0, agreement, n, confidence, "tie"), _Pair(j, i, 0.0, agreement, n, confidence, "tie")]
    if label == "both_bad" and spec.format == "kto":
        stats.kto_negatives += 1
        return [_Pair(i, j, 0.0, agreement, n, confidence, "both_bad")]
    stats.pairs_dropped[label] += 1
    return []


def _keeps(spec: ExportSpec, label: str) -> bool:
    """Whether a comparison labelled ``tie`` / ``both_bad`` becomes rows in this export."""
    if label == "tie":
        return spec.ties == "both-orders" and spec.format in _TIE_FORMATS
    return spec.format == "kto"


# Pair formats where a tie can be written as both orders (KTO cannot say "as good as").
_TIE_FORMATS = ("trl", "trl-conversational", "reward", "openrlhf", "llama-factory")


def _decide(
    spec: ExportSpec,
    item_id: int,
    stream_id: int,
    rows: list[Any],
    stats: Stats,
    ds_labels: dict[Any, tuple[str, float]] | None,
) -> list[_Pair]:
    method = stats.methods.get(stream_id, spec.aggregation)
    min_confidence = stats.min_confidence.get(stream_id, 0.0)
    # Per comparison: the labels of its judgements and each one's margin evidence.
    tasks: Iterable[tuple[tuple[int, int], tuple[list[str], list[float]]]]
    if all(row[_CHOICE] for row in rows):  # the common case, spelt out: a pairwise stream, one task
        tasks = [((0, 1), ([row[_CHOICE] for row in rows], [row[_STRENGTH] or 1 for row in rows]))]
    else:
        tasks = [
            (task, ([v[0] for v in votes], [v[1] for v in votes])) for task, votes in sorted(_task_labels(rows).items())
        ]
    pairs = []
    for (i, j), (labels, margins) in tasks:
        if method == "majority":
            outcome = aggregation.majority(labels)
        elif method == "unanimous":
            outcome = aggregation.unanimous(labels)
        else:
            assert ds_labels is not None
            decided = ds_labels.get((item_id, i, j))
            outcome = aggregation.with_label(labels, *decided) if decided else aggregation.with_label(labels, None)
        if len(labels) >= 2:
            stats.agreement_sum[stream_id] += outcome.agreement
            stats.agreement_n[stream_id] += 1
        label = outcome.label
        if label is None:
            stats.pairs_dropped[outcome.reason] += 1
        elif label in ("tie", "both_bad") and not _keeps(spec, label):
            stats.pairs_dropped[label] += 1
        elif outcome.agreement < spec.min_agreement:
            stats.pairs_dropped["low_agreement"] += 1
        elif outcome.confidence < min_confidence:
            stats.pairs_dropped["low_confidence"] += 1
        elif label in ("tie", "both_bad"):
            pairs += _undecided_pairs(spec, label, i, j, outcome.confidence, len(labels), outcome.agreement, stats)
        else:
            agreeing = [m for x, m in zip(labels, margins, strict=True) if x == label]
            chosen, rejected = (i, j) if label == "A" else (j, i)
            strength = sum(agreeing) / len(agreeing)
            margin = shapes.margin_of(outcome.confidence, strength)
            pairs.append(_Pair(chosen, rejected, margin, outcome.agreement, len(labels), outcome.confidence))
    return pairs


def _fit_dawid_skene(spec: ExportSpec, snapshot: Snapshot, stats: Stats) -> dict[Any, tuple[str, float]]:
    collected = aggregation.DawidSkeneInput()
    for item_id, _stream_id, rows, _item in _groups(spec, snapshot, Stats(), texts=False):
        for (i, j), votes in _task_labels(rows).items():
            for label, _margin, annotator in votes:
                collected.add((item_id, i, j), annotator, label)
    _add_model_votes(spec, snapshot, collected, stats)
    return collected.fit()


def voting_judges(spec: ExportSpec) -> dict[int, Judge]:
    """The judges of the spec's streams whose verdicts vote in Dawid–Skene: the stream's vote use
    is on and the export does not exclude model judgements."""
    if spec.exclude_model_judgements:
        return {}
    judges = Judge.objects.filter(stream_id__in=spec.stream_ids, use_vote=True).select_related("endpoint")
    return {judge.stream_id: judge for judge in judges}


def _add_model_votes(
    spec: ExportSpec, snapshot: Snapshot, collected: aggregation.DawidSkeneInput, stats: Stats
) -> None:
    """The vote use: each voting judge's current model judgements (its swap-consistent verdicts,
    ``source="model"``, as they stood at the snapshot) join the fit as one more worker — the
    judge's service user — on the comparisons the people's judgements already put in it (a
    pairwise choice is the comparison (0, 1)). Dawid–Skene learns its reliability like anyone's.
    The labels' vote shares and the "no majority" rule stay the people's (``_decide``)."""
    for stream_id, judge in voting_judges(spec).items():
        rows = (
            Judgement.objects.filter(
                stream_id=stream_id,
                annotator_id=judge.user_id,
                source=Judgement.Source.MODEL,
                is_current=True,
                excluded_reason__isnull=True,
                choice__isnull=False,
                id__lte=snapshot.max_judgement_id,
            )
            .order_by("item_id")
            .values_list("item_id", "choice")
        )
        for item_id, choice in rows.iterator(chunk_size=CHUNK_SIZE):
            task = (item_id, 0, 1)
            if choice and task in collected.task_index:
                collected.add(task, judge.user_id, choice)
                stats.model_votes[stream_id] += 1


def _choose_methods(
    spec: ExportSpec, snapshot: Snapshot, streams: Iterable[Stream], stats: Stats
) -> dict[Any, tuple[str, float]] | None:
    """Fills ``stats.methods`` (and, for ``auto``, ``stats.method_choice``) and the minimum
    confidence per stream. ``auto``: majority and Dawid–Skene label each stream's golden items
    from their judgements alone (the golden answers are held out of the fit); Dawid–Skene is used
    where it is right strictly more often.

    For ``auto`` Dawid–Skene is fitted **once**, on the export's judgements plus those of the
    golden items (their votes tell the model how reliable each annotator is; their answers are
    not used), and that fit is returned: the export labels its pairs with the very model that was
    scored on the golden items. None otherwise."""
    streams = list(streams)
    for stream in streams:
        stats.min_confidence[stream.pk] = (
            spec.min_confidence if spec.min_confidence is not None else float(stream.min_confidence)
        )
        stats.methods[stream.pk] = spec.aggregation
    if spec.aggregation != "auto":
        return None
    golden_items = dict(
        Item.objects.filter(stream__in=streams, is_golden=True, pool=Item.Pool.WORK).values_list("pk", "golden_answers")
    )
    collected = aggregation.DawidSkeneInput()
    majority_labels: dict[int, dict[Any, str | None]] = defaultdict(dict)
    answers: dict[int, dict[Any, list[str]]] = defaultdict(dict)
    fit_spec = replace(spec, include_golden=True, aggregation="majority")
    for item_id, stream_id, rows, _item in _groups(fit_spec, snapshot, Stats(), texts=False):
        for (i, j), votes in _task_labels(rows).items():
            for label, _margin, annotator in votes:
                collected.add((item_id, i, j), annotator, label)
            if item_id in golden_items and (i, j) == (0, 1):
                majority_labels[stream_id][(item_id, i, j)] = aggregation.majority([v[0] for v in votes]).label
                answers[stream_id][(item_id, i, j)] = list(golden_items[item_id] or [])
    _add_model_votes(fit_spec, snapshot, collected, stats)
    fitted = collected.fit()
    for stream in streams:
        stats.methods[stream.pk] = "majority"
        mine = answers.get(stream.pk)
        if not mine:
            stats.method_choice[stream.pk] = {
                "method": "majority",
                "why": "no golden item with judgements to compare on: majority, the simpler method",
                "golden_comparisons": 0,
            }
            continue
        ds_labels = {task: fitted[task][0] if task in fitted else None for task in mine}
        majority_score, n = aggregation.gold_score(majority_labels[stream.pk], mine)
        ds_score, _ = aggregation.gold_score(ds_labels, mine)
        method = "dawid-skene" if ds_score > majority_score else "majority"
        stats.methods[stream.pk] = method
        stats.method_choice[stream.pk] = {
            "method": method,
            "golden_comparisons": n,
            "gold_accuracy": {"majority": round(majority_score, 4), "dawid-skene": round(ds_score, 4)},
            "why": f"{method} labels {max(majority_score, ds_score):.0%} of {n} golden comparisons right "
            f"(majority {majority_score:.0%}, Dawid–Skene {ds_score:.0%}; Dawid–Skene only when strictly better)",
        }
    return fitted


# --- rows --------------------------------------------------------------------------------------


def _messages(context: list[dict[str, Any]]) -> list[dict[str, str]]:
    return [{"role": str(m.get("role", "user")), "content": str(m.get("content", ""))} for m in context]


def prompt_text(messages: list[dict[str, str]]) -> str:
    """The standard (string) prompt: a single user message as is; a conversation as
    ``Role: content`` blocks. Multi-turn data is better exported conversational."""
    if len(messages) == 1:
        return messages[0]["content"]
    return "\n\n".join(f"{m['role'].capitalize()}: {m['content']}" for m in messages)


# Formats whose rows carry the prompt as one string.
_STRING_PROMPT = ("trl", "rewardbench", "helpsteer", "safe-rlhf")


class _Rounded(dict[float, float]):
    """``round(x, 6)`` remembered: the hot loop's confidences and margins are vote shares and
    strength means of a few judgements, a few hundred distinct values in a million pairs."""

    def __missing__(self, value: float) -> float:
        rounded = self[value] = round(value, 6)
        return rounded


_round6 = _Rounded()


def _pair_rows(spec: ExportSpec, ctx: shapes.PairContext, pair: _Pair) -> list[dict[str, Any]]:
    if spec.format == "trl":  # the most common export, spelt out (hot loop): one dict
        texts = ctx.texts
        row: dict[str, Any] = {"prompt": ctx.prompt, "chosen": texts[pair.chosen], "rejected": texts[pair.rejected]}
        if spec.confidence:
            row["confidence"] = _round6[pair.confidence]
        if spec.margin:
            row["margin"] = pair.margin
        return [row]
    return shapes.pair_rows(
        spec.format,
        ctx,
        pair.chosen,
        pair.rejected,
        confidence=pair.confidence,
        margin=pair.margin,
        with_confidence=spec.confidence,
        with_margin=spec.margin,
        both_bad=pair.kind == "both_bad",
    )


def split_of(item_id: int, spec: ExportSpec) -> str:
    """``test`` for a stable pseudo-random ``test_fraction`` of items (sha256 of seed and id)."""
    if spec.test_fraction <= 0:
        return "train"
    digest = hashlib.sha256(f"{spec.seed}:{item_id}".encode()).digest()
    return "test" if int.from_bytes(digest[:8], "big") / 2**64 < spec.test_fraction else "train"


def pseudonym(project_id: int, user_id: int) -> str:
    """A keyed hash (HMAC-SHA256 under SECRET_KEY, scoped to the project): stable across this
    project's exports so research can follow one annotator, not reversible without the key."""
    return salted_hmac("quorum.export.annotator", f"{project_id}:{user_id}").hexdigest()[:16]


def _raw_row(
    item: tuple[Any, ...], row: tuple[Any, ...], slugs: dict[int, str], project_id: int, rejected: set[int]
) -> dict[str, Any]:
    extra = dict(zip(_RAW_FIELDS, row[len(_FIELDS) :], strict=True))
    return {
        "judgement_id": row[_ID],
        "item_id": row[_ITEM],
        "external_id": item[1],
        "stream": slugs[row[_STREAM]],
        "annotator": pseudonym(project_id, row[_ANNOTATOR]),
        "context": _messages(orjson.loads(item[2])),
        "responses": [{"text": r.get("text", ""), "model": r.get("model", "")} for r in orjson.loads(item[3])],
        "choice": row[_CHOICE],
        "strength": row[_STRENGTH],
        "ranking": row[_RANKING],
        "flags": {"harmful": row[_HARMFUL], "pii": row[_PII], "cannot_judge": row[_CANNOT_JUDGE]},
        "rejected": row[_ID] in rejected,
        "display_order": extra["display_order"],
        "served_at": extra["served_at"].isoformat() if extra["served_at"] else None,
        "submitted_at": extra["submitted_at"].isoformat() if extra["submitted_at"] else None,
        "active_seconds": extra["active_seconds"],
        "rubric": extra["rubric"],
        "rationale": extra["rationale"],
        "source": extra["source"],
        "axes": extra["axes"],
        "guideline_version": extra["guideline_version"],
    }


def iter_rows(
    spec: ExportSpec,
    snapshot: Snapshot,
    stats: Stats,
    *,
    on_read: Callable[[int], None] | None = None,
) -> Iterator[tuple[str, dict[str, Any]]]:
    """(split, row) for every row of the export, in item id order."""
    for split, rows in _iter_item_rows(spec, snapshot, stats, on_read=on_read):
        for row in rows:
            yield split, row


def _iter_item_rows(
    spec: ExportSpec,
    snapshot: Snapshot,
    stats: Stats,
    *,
    on_read: Callable[[int], None] | None = None,
) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """(split, rows) per exported item, in item id order."""
    streams = {s.pk: s for s in Stream.objects.filter(pk__in=spec.stream_ids)}
    if len(streams) != len(set(spec.stream_ids)):
        raise ExportError("Unknown stream.")
    project_id = next(iter(streams.values())).project_id
    slugs = {pk: s.slug for pk, s in streams.items()}
    raw = spec.format == "raw"
    auto_fit = _choose_methods(spec, snapshot, streams.values(), stats)
    # The item formats decide each axis by majority (docs/export.md); only pair formats use the others.
    needs_ds = spec.format in shapes.PAIR_FORMATS and "dawid-skene" in stats.methods.values()
    ds_labels = (auto_fit if auto_fit is not None else _fit_dawid_skene(spec, snapshot, stats)) if needs_ds else None
    rejected = _rejected_ids(spec, snapshot) if raw else set()
    exported_ids = stats.exported_item_ids
    split_rows = stats.rows
    loads = orjson.loads

    if not raw and _tallies_apply(spec, streams.values(), snapshot):
        yield from _iter_tallied_rows(spec, snapshot, stats, on_read=on_read)
        return

    item_format = spec.format in shapes.ITEM_FORMATS
    for item_id, stream_id, judgements, item in _groups(spec, snapshot, stats, raw=raw or item_format, on_read=on_read):
        assert item is not None
        split = split_of(item_id, spec) if spec.test_fraction > 0 else "train"
        if spec.format == "rewardbench" and split == "train":
            stats.items_dropped["not_held_out"] += 1  # the evaluation set is the test split only
            continue
        rows: list[dict[str, Any]]
        if raw:
            rows = [_raw_row(item, j, slugs, project_id, rejected) for j in judgements]
        elif item_format:
            messages = _messages(loads(item[2]))
            responses = loads(item[3])
            ctx = shapes.PairContext(
                item_id,
                slugs[stream_id],
                prompt_text(messages) if messages else "",
                messages,
                [str(r.get("text", "")) for r in responses],
                [str(r.get("model", "")) for r in responses],
            )
            rows, reason, confidence = _item_format_rows(spec, streams[stream_id], ctx, judgements)
            if not rows:
                stats.items_dropped[reason] += 1
                if reason in _PAIR_REASONS:
                    stats.pairs_dropped[reason] += 1
                continue
            if confidence is not None:  # a preference row (safe-rlhf, HelpSteer3): a pair
                if len(judgements) >= 2:
                    stats.agreement_sum[stream_id] += confidence
                    stats.agreement_n[stream_id] += 1
                stats.pairs_kept += 1
                stats.stream_pairs[stream_id] += 1
                stats.keep_confidence(stream_id, confidence)
        else:
            pairs = _decide(spec, item_id, stream_id, judgements, stats, ds_labels)
            if not pairs:
                stats.items_dropped["no_pair"] += 1
                continue
            messages = _messages(loads(item[2]))
            if not messages or messages[-1]["role"] != "user":
                # TRL wants the prompt to end with the user's turn; anything else is not a
                # preference over a reply to the user.
                stats.items_dropped["prompt_not_ending_with_user"] += 1
                stats.pairs_dropped["prompt_not_ending_with_user"] += len(pairs)
                continue
            responses = loads(item[3])
            ctx = shapes.PairContext(
                item_id,
                slugs[stream_id],
                prompt_text(messages) if spec.format in _STRING_PROMPT else "",
                messages,
                [str(r.get("text", "")) for r in responses],
                [str(r.get("model", "")) for r in responses] if spec.format == "rewardbench" else [],
            )
            rows = [r for pair in pairs for r in _pair_rows(spec, ctx, pair)]
            stats.pairs_kept += len(pairs)
            stats.stream_pairs[stream_id] += len(pairs)
            for pair in pairs:
                stats.keep_confidence(stream_id, pair.confidence)
        stats.items_exported += 1
        if exported_ids is not None:
            exported_ids.append(item_id)
        split_rows[split] += len(rows)
        yield split, rows


_AXES = len(_FIELDS) + _RAW_FIELDS.index("axes")
_RUBRIC = len(_FIELDS) + _RAW_FIELDS.index("rubric")
_RATIONALE = len(_FIELDS) + _RAW_FIELDS.index("rationale")


# Why an item format's comparison gave no row, counted among the dropped pairs too.
_PAIR_REASONS = ("no_majority", "tie", "safer_undecided")


def _item_format_rows(
    spec: ExportSpec, stream: Stream, ctx: shapes.PairContext, judgements: list[Any]
) -> tuple[list[dict[str, Any]], str, float | None]:
    """The rows of a ``helpsteer`` or ``safe-rlhf`` export for one item, why there are none, and
    the confidence of the preference they state (None for rating rows, which state none)."""
    axes = [j[_AXES] or {} for j in judgements]
    if spec.format == "safe-rlhf":
        judged = [(a, j[_STRENGTH]) for a, j in zip(axes, judgements, strict=True) if "helpful" in a and "safer" in a]
        if not judged:
            return [], "no_helpful_safe_answers", None
        if len(ctx.texts) != 2:
            return [], "not_two_responses", None
        named = {h for a, _s in judged for h in (a.get("harm") or []) if h}
        categories = list(getattr(stream, "harm_categories", None) or [])
        categories += sorted(str(h) for h in named if h not in categories)
        row, reason = shapes.safe_rlhf_row(
            ctx,
            [a for a, _s in judged],
            categories,
            with_confidence=spec.confidence,
            with_margin=spec.margin,
            strengths=[s for _a, s in judged],
        )
        if row is None:
            return [], reason, None
        return [row], "", shapes.majority_share([a.get("helpful") for a, _s in judged])[1]
    # helpsteer: per-attribute pairwise judgements → a HelpSteer3-style preference row;
    # rubric ratings → HelpSteer-style rows, one per response.
    if any(a.get("attributes") for a in axes):
        if len(ctx.texts) != 2:
            return [], "not_two_responses", None
        attributes = [str(a) for a in (getattr(stream, "attributes", None) or [])]
        for a in axes:
            attributes += [name for name in a.get("attributes", {}) if name not in attributes]
        answers = [(j[_CHOICE], j[_STRENGTH], a, j[_RATIONALE] or "") for a, j in zip(axes, judgements, strict=True)]
        row, reason = shapes.helpsteer3_row(
            ctx, answers, attributes, with_confidence=spec.confidence, with_margin=spec.margin
        )
        share = shapes.majority_share([c for c, _s, _a, _r in answers if c in ("A", "B", "tie")])[1]
        return ([row], "", share) if row else ([], reason, None)
    rubrics = [j[_RUBRIC] for j in judgements if j[_RUBRIC]]
    if not rubrics:
        return [], "no_ratings", None
    attributes = [str(a) for a in (stream.rubric or [])]
    for rubric in rubrics:
        attributes += [name for name in rubric if name not in attributes]
    rows = shapes.helpsteer_rows(ctx, rubrics, attributes)
    return (rows, "", None) if rows else ([], "no_ratings", None)


# --- the tallied path (PostgreSQL, pairwise, majority or unanimous) --------------------------------
#
# The general path above brings every judgement to Python. For the common case — pairwise streams
# voted by majority or unanimity — PostgreSQL can count the votes itself: one row per item with the
# number of judgements kept and dropped (by reason), the count and strength sum per choice, whether
# a kept judgement carries a harmful/PII flag, and the texts. Python then only decides and writes.
# The decisions are the same functions of the same counts (``test_export`` runs on PostgreSQL, and
# ``bench/export.py --compare`` checks both paths give byte-identical files on a million judgements).

_CHOICES = ("A", "B", "tie", "both_bad")


def _tallies_apply(spec: ExportSpec, streams: Iterable[Stream], snapshot: Snapshot) -> bool:
    if connection.vendor != "postgresql" or spec.aggregation not in ("majority", "unanimous"):
        return False
    if spec.format not in shapes.PAIR_FORMATS:
        return False
    if _FORCE_GENERAL_PATH:
        return False
    if any(s.task_kind != Stream.TaskKind.PAIRWISE for s in streams):
        return False
    # Calibration answers let into exports join as votes in the general path only.
    if calibration.included_in_exports(spec.stream_ids):
        return False
    # A pairwise stream's judgements are choices; a ranking answer there (a stream switched kind
    # after labeling began) goes through the general path, which reads rankings.
    return not _judgement_filters(spec, snapshot).filter(choice__isnull=True).exists()


_FORCE_GENERAL_PATH = False  # bench/export.py --compare and the tests flip it to compare the paths


def _read_tallies(
    spec: ExportSpec,
    snapshot: Snapshot,
    *,
    inactive: set[tuple[int, int]],
    rejected: set[int],
    excluded: dict[int, str],
    models: bool = False,
) -> Iterator[tuple[Any, ...]]:
    """One row per item: (item_id, stream_id, read, dropped_inactive, dropped_rejected,
    dropped_cannot_judge, kept, flagged, n_A, n_B, n_tie, n_both_bad, strength_A, strength_B,
    dropped as excluded per reason of ``_EXCLUDED_REASONS`` (one column each), item_id,
    external_id, the prompt when the context is one user message of text (else None), the context
    JSON text when it is not (else None), text of response 0, text of response 1[, model of
    response 0, model of response 1 when ``models``]).

    A count no judgement can have (no inactive annotator, no rejection...) is a constant 0, not an
    aggregate evaluated on every judgement; the common single-message prompt comes out of
    PostgreSQL as text, so Python neither reads nor rebuilds the context's JSON for it."""
    columns = ["id", "item_id", "stream_id", "annotator_id", "choice", "strength", "flag_harmful", "flag_pii",
               "flag_cannot_judge"]  # fmt: skip
    judgements = _sql(_judgement_filters(spec, snapshot).values_list(*columns))
    # ``_messages`` of a one-message context is [{"role": "user", "content": text}] when the message
    # says role "user" and its content is a string; nested CASEs, as PostgreSQL does not promise to
    # evaluate AND's operands in order (jsonb_array_length fails on anything but an array).
    single = (
        "CASE WHEN jsonb_typeof(r.context) = 'array' THEN CASE WHEN jsonb_array_length(r.context) = 1 "
        "AND jsonb_typeof(r.context -> 0 -> 'content') = 'string' AND r.context -> 0 ->> 'role' = 'user' "
        "THEN r.context -> 0 ->> 'content' END END"
    )
    items = _sql(Item.objects.filter(**_item_filters(spec)).values_list("id", "external_id"))
    params: list[Any] = []
    # Why a judgement is left out, first reason first (as ``_groups`` applies them): 1 inactive
    # annotator, 2 rejected by a reviewer, 3 "cannot judge" when flagged work is excluded.
    reasons = []
    codes: set[int] = set()
    if inactive:
        reasons.append(
            "WHEN EXISTS (SELECT 1 FROM unnest(%s::bigint[], %s::bigint[]) AS x(s, u) "
            "WHERE x.s = j.stream_id AND x.u = j.annotator_id) THEN 1"
        )
        params += [[s for s, _u in inactive], [u for _s, u in inactive]]
        codes.add(1)
    if rejected:
        reasons.append("WHEN j.id = ANY(%s::bigint[]) THEN 2")
        params.append(sorted(rejected))
        codes.add(2)
    # 4, 5, ...: taken out of the count, one code per reason (after a rejection, as ``_groups``).
    for code, reason in enumerate(_EXCLUDED_REASONS, start=4):
        ids = sorted(pk for pk, why in excluded.items() if why == reason)
        if ids:
            reasons.append(f"WHEN j.id = ANY(%s::bigint[]) THEN {code}")
            params.append(ids)
            codes.add(code)
    if spec.exclude_flagged:
        reasons.append("WHEN j.flag_cannot_judge THEN 3")
        codes.add(3)
    drop = f"CASE {' '.join(reasons)} ELSE 0 END" if reasons else "0"

    def dropped(code: int) -> str:
        return f"count(*) FILTER (WHERE d.drop = {code})" if code in codes else "0"

    kept = "d.drop = 0 AND " if codes else ""
    votes = (
        ", ".join(f"count(*) FILTER (WHERE {kept}d.choice = '{c}')" for c in _CHOICES)
        + ", "
        + ", ".join(
            f"coalesce(sum(coalesce(d.strength, 1)) FILTER (WHERE {kept}d.choice = '{c}'), 0)" for c in ("A", "B")
        )
        + ", "
        + ", ".join(dropped(code) for code in range(4, 4 + len(_EXCLUDED_REASONS)))
    )
    model_columns = ", coalesce(r.responses -> 0 ->> 'model', ''), coalesce(r.responses -> 1 ->> 'model', '')"
    model_columns = model_columns if models else ""
    sql = (
        f"SELECT g.*, i.*, p.prompt, CASE WHEN p.prompt IS NULL THEN r.context::text END, "  # noqa: S608 - SQL of ORM querysets and constants
        f"coalesce(r.responses -> 0 ->> 'text', ''), coalesce(r.responses -> 1 ->> 'text', ''){model_columns} FROM ("
        "SELECT d.item_id, min(d.stream_id), count(*), "
        f"{dropped(1)}, {dropped(2)}, {dropped(3)}, "
        f"count(*) FILTER (WHERE d.drop = 0), "
        f"coalesce(bool_or(d.flag_harmful OR d.flag_pii) FILTER (WHERE d.drop = 0), false), "
        f"{votes} "
        f"FROM (SELECT j.*, {drop} AS drop FROM ({judgements[0]}) j) d GROUP BY d.item_id"
        f") g JOIN ({items[0]}) i ON i.id = g.item_id "
        f"JOIN {connection.ops.quote_name(Item._meta.db_table)} r ON r.id = g.item_id "
        f"CROSS JOIN LATERAL (SELECT {single} AS prompt) p ORDER BY g.item_id"
    )
    # Inside a transaction the server-side cursor is not WITH HOLD: PostgreSQL produces rows as
    # they are fetched instead of materialising the whole result before the first FETCH.
    with transaction.atomic(), connection.chunked_cursor() as cursor:
        with _jit_off():
            cursor.execute(sql, (*params, *judgements[1], *items[1]))  # in the order they appear
        for batch in _fetch_ahead(cursor):
            yield from batch


def _fetch_ahead(cursor: Any, depth: int = 2) -> Iterator[list[tuple[Any, ...]]]:
    """``cursor.fetchmany(CHUNK_SIZE)`` batches, fetched by a thread while the caller works on the
    previous one. With a server-side cursor each FETCH makes PostgreSQL work while Python waits,
    and Python then works while PostgreSQL waits; fetching ahead lets them overlap (psycopg
    releases the GIL while it waits on the server). At most ``depth`` batches wait in memory."""
    batches: queue.Queue[list[tuple[Any, ...]] | BaseException | None] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(value: list[tuple[Any, ...]] | BaseException | None) -> bool:
        while not stop.is_set():
            try:
                batches.put(value, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def fetch() -> None:
        try:
            while batch := cursor.fetchmany(CHUNK_SIZE):
                if not put(batch):
                    return
            put(None)
        except BaseException as exc:  # handed to the consumer, raised there
            put(exc)

    thread = threading.Thread(target=fetch, name="export-fetch", daemon=True)
    thread.start()
    try:
        while (batch := batches.get()) is not None:
            if isinstance(batch, BaseException):
                raise batch
            yield batch
    finally:
        stop.set()
        thread.join()


def _iter_tallied_rows(
    spec: ExportSpec,
    snapshot: Snapshot,
    stats: Stats,
    *,
    on_read: Callable[[int], None] | None = None,
) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """``_iter_item_rows`` from vote counts: same filters, same decisions, same rows.

    The hot loop of a big export (a million judgements in a few seconds): counters live in local
    variables and reach ``stats`` at the end, and a TRL pair's row is made here, without the
    ``PairContext`` the other formats share."""
    inactive, rejected, excluded, previous = _exclusions(spec, snapshot)
    exported_ids = stats.exported_item_ids
    split_rows = stats.rows
    dropped_judgements, dropped_items, dropped_pairs = (
        stats.judgements_dropped,
        stats.items_dropped,
        stats.pairs_dropped,
    )
    unanimous = spec.aggregation == "unanimous"
    loads = orjson.loads
    n_reasons = len(_EXCLUDED_REASONS)
    at_prompt = 14 + n_reasons + 2  # the columns after the counts: item id, external id, then these
    slugs = dict(Stream.objects.filter(pk__in=spec.stream_ids).values_list("pk", "slug"))
    agreement_sum, agreement_n = stats.agreement_sum, stats.agreement_n
    confidence_sum, confidence_bins = stats.confidence_sum, stats.confidence_bins
    stream_pairs = stats.stream_pairs
    models = spec.format == "rewardbench"
    string_prompt = spec.format in _STRING_PROMPT
    trl = spec.format == "trl"
    with_confidence, with_margin = spec.confidence, spec.margin
    held_out_only = spec.format == "rewardbench"
    test_split = spec.test_fraction > 0
    exclude_flagged, min_judgements = spec.exclude_flagged, spec.min_judgements
    min_agreement, min_confidence = spec.min_agreement, stats.min_confidence
    keeps_tie, keeps_both_bad = _keeps(spec, "tie"), _keeps(spec, "both_bad")
    round6 = _round6
    # Counted here, added to ``stats`` when the loop ends (or is left early).
    judgements_read = items_read = pairs_kept = items_exported = read = 0
    tallies = _read_tallies(spec, snapshot, inactive=inactive, rejected=rejected, excluded=excluded, models=models)
    try:
        for row in tallies:
            (item_id, stream_id, n_read, n_inactive, n_rejected, n_cannot, n, flagged,
             n_a, n_b, n_tie, n_bad, s_a, s_b) = row[:14]  # fmt: skip
            prompt, context, text0, text1 = row[at_prompt : at_prompt + 4]
            read += n_read
            if on_read is not None and read >= CHUNK_SIZE:
                on_read(read)
                read = 0
            judgements_read += n_read
            items_read += 1
            if n != n_read:  # some judgements were left out: count why
                if n_inactive:
                    dropped_judgements["annotator_inactive"] += n_inactive
                if n_rejected:
                    dropped_judgements["rejected"] += n_rejected
                if n_cannot:
                    dropped_judgements["flagged_cannot_judge"] += n_cannot
                for reason, count in zip(_EXCLUDED_REASONS, row[14 : 14 + n_reasons], strict=True):
                    if count:
                        dropped_judgements["excluded_" + reason] += count
            if exclude_flagged and flagged:
                dropped_items["flagged_harmful_or_pii"] += 1
                continue
            if not n or n < min_judgements:
                dropped_items["min_judgements"] += 1
                continue
            if previous is not None and _contains(previous, item_id):
                dropped_items["already_exported"] += 1
                continue
            split = split_of(item_id, spec) if test_split else "train"
            if held_out_only and split == "train":
                dropped_items["not_held_out"] += 1
                continue
            # The decision of ``aggregation.majority`` / ``aggregation.unanimous`` on these counts.
            top = max(n_a, n_b, n_tie, n_bad)
            agreement = top / n
            if unanimous:
                decided = top == n
                reason = "not_unanimous"
            else:
                decided = (n_a == top) + (n_b == top) + (n_tie == top) + (n_bad == top) == 1
                reason = "no_majority"
            if n >= 2:
                agreement_sum[stream_id] += agreement
                agreement_n[stream_id] += 1
            if not decided:
                dropped_pairs[reason] += 1
                dropped_items["no_pair"] += 1
                continue
            label = "A" if n_a == top else "B" if n_b == top else "tie" if n_tie == top else "both_bad"
            pairs: list[_Pair] = []
            if label == "tie" and not keeps_tie:
                dropped_pairs["tie"] += 1
            elif label == "both_bad" and not keeps_both_bad:
                dropped_pairs["both_bad"] += 1
            elif agreement < min_agreement:
                dropped_pairs["low_agreement"] += 1
            elif agreement < min_confidence[stream_id]:  # the vote share is the confidence here
                dropped_pairs["low_confidence"] += 1
            elif label in ("tie", "both_bad"):
                pairs = _undecided_pairs(spec, label, 0, 1, agreement, n, agreement, stats)
            elif label == "A":  # the margin as shapes.margin_of computes it, inline (hot loop)
                pairs = [_Pair(0, 1, round6[(2.0 * agreement - 1.0) * (s_a / n_a)], agreement, n, agreement)]
            else:
                pairs = [_Pair(1, 0, round6[(2.0 * agreement - 1.0) * (s_b / n_b)], agreement, n, agreement)]
            if not pairs:
                dropped_items["no_pair"] += 1
                continue
            if prompt is None:
                messages = _messages(loads(context))
                if not messages or messages[-1]["role"] != "user":
                    dropped_items["prompt_not_ending_with_user"] += 1
                    dropped_pairs["prompt_not_ending_with_user"] += len(pairs)
                    continue
                if string_prompt:
                    prompt = prompt_text(messages)
            else:  # a single user message, as ``_messages`` would make it
                messages = None
            if trl and len(pairs) == 1:  # the most common export, spelt out (hot loop): one dict
                pair = pairs[0]
                out: dict[str, Any] = {
                    "prompt": prompt,
                    "chosen": text0 if pair.chosen == 0 else text1,
                    "rejected": text1 if pair.chosen == 0 else text0,
                }
                if with_confidence:
                    out["confidence"] = round6[agreement]
                if with_margin:
                    out["margin"] = pair.margin
                rows = [out]
            else:
                ctx = shapes.PairContext(
                    item_id,
                    slugs[stream_id],
                    prompt if string_prompt else "",
                    messages if messages is not None else [{"role": "user", "content": prompt}],
                    [text0, text1],
                    list(row[at_prompt + 4 :]) if models else [],
                )
                rows = [r for pair in pairs for r in _pair_rows(spec, ctx, pair)]
            if len(pairs) == 1:
                confidence_sum[stream_id] += agreement
                confidence_bins[stream_id][min(9, int(agreement * 10))] += 1
            else:
                for pair in pairs:
                    stats.keep_confidence(stream_id, pair.confidence)
            pairs_kept += len(pairs)
            stream_pairs[stream_id] += len(pairs)
            items_exported += 1
            if exported_ids is not None:
                exported_ids.append(item_id)
            split_rows[split] += len(rows)
            yield split, rows
    finally:
        stats.judgements_read += judgements_read
        stats.items_read += items_read
        stats.pairs_kept += pairs_kept
        stats.items_exported += items_exported
    if on_read is not None and read:
        on_read(read)


def dumps(row: dict[str, Any]) -> bytes:
    """One JSON line, UTF-8. U+2028/U+2029 are escaped: valid JSON either way, but some line
    readers (Python's ``str.splitlines``, JavaScript before ES2019) split on them."""
    line = orjson.dumps(row, option=orjson.OPT_APPEND_NEWLINE)
    if _LS_PS_LEAD in line:  # both start with these two bytes; most lines have neither
        line = line.replace(_LS, rb"\u2028").replace(_PS, rb"\u2029")
    return line


_LS, _PS = "\u2028".encode(), "\u2029".encode()
_LS_PS_LEAD = _LS[:2]


def stream_lines(spec: ExportSpec) -> Iterator[bytes]:
    """JSONL bytes of every row (both splits), for a streaming HTTP response."""
    snapshot = Snapshot.take()
    for _split, row in iter_rows(spec, snapshot, Stats()):
        yield dumps(row)


# --- writing -----------------------------------------------------------------------------------


class _HashingWriter:
    """A JSONL file and its sha256, written in blocks of about ``BLOCK`` bytes: one write and one
    hash update per block rather than per line."""

    BLOCK = 1 << 20

    def __init__(self, path: Path) -> None:
        self.path = path
        self.handle = open(path, "wb")  # noqa: SIM115 - closed in close(), kept open across rows
        self.sha = hashlib.sha256()
        self.rows = 0
        self.bytes = 0
        self.pending: list[bytes] = []
        self.pending_bytes = 0

    def write_lines(self, lines: list[bytes]) -> None:
        self.pending += lines
        self.pending_bytes += sum(map(len, lines))
        self.rows += len(lines)
        if self.pending_bytes >= self.BLOCK:
            self.flush()

    def flush(self) -> None:
        block = b"".join(self.pending)
        self.handle.write(block)
        self.sha.update(block)
        self.bytes += len(block)
        self.pending.clear()
        self.pending_bytes = 0

    def close(self) -> dict[str, Any]:
        try:
            self.flush()
        finally:
            self.handle.close()
        return {
            "name": self.path.name,
            "path": str(self.path),
            "rows": self.rows,
            "bytes": self.bytes,
            "sha256": self.sha.hexdigest(),
        }


class _JsonlWriter(_HashingWriter):
    def write(self, rows: list[dict[str, Any]]) -> None:
        pending = self.pending
        for row in rows:
            line = dumps(row)
            pending.append(line)
            self.pending_bytes += len(line)
        self.rows += len(rows)
        if self.pending_bytes >= self.BLOCK:
            self.flush()


class _ParquetWriter:
    """A Parquet file (pyarrow) written a row group of ``GROUP`` rows at a time, so memory stays
    flat. The schema is inferred from the first row group (nested rows become lists and structs);
    a later group is cast to it, and a column whose type changes (or that was all null in the
    first group and is not later) stops the export with a message naming it."""

    GROUP = 50_000

    def __init__(self, path: Path) -> None:
        self.path = path
        self.rows = 0
        self.pending: list[dict[str, Any]] = []
        self.writer: Any = None

    def write(self, rows: list[dict[str, Any]]) -> None:
        self.pending += rows
        if len(self.pending) >= self.GROUP:
            self.flush()

    def flush(self) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        if not self.pending:
            return
        if self.writer is None:
            table = pa.Table.from_pylist(self.pending)
            self.writer = pq.ParquetWriter(self.path, table.schema, compression="zstd")
        else:
            try:
                table = pa.Table.from_pylist(self.pending, schema=self.writer.schema)
            except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
                raise ExportError(f"Parquet: a column changed type after the first {self.rows} rows ({exc}); "
                                  "export as JSONL.") from exc  # fmt: skip
        self.writer.write_table(table)
        self.rows += len(self.pending)
        self.pending = []

    def close(self) -> dict[str, Any]:
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            self.flush()
        finally:
            if self.writer is None:  # no rows: an empty file with no columns
                self.writer = pq.ParquetWriter(self.path, pa.schema([]))
            self.writer.close()
        return {
            "name": self.path.name,
            "path": str(self.path),
            "rows": self.rows,
            "bytes": self.path.stat().st_size,
            "sha256": _file_sha256(self.path),
        }


def _stopped_early(streams: list[Stream]) -> dict[int, int]:
    """Per stream with adaptive overlap in force: how many of its items stopped early (their first
    n judgements agreed, so they collected n instead of the overlap). As of the export's run."""
    ids = [s.pk for s in streams if s.adaptive_overlap and s.adaptive_min_agree < s.overlap]
    if not ids:
        return {}
    rows = (
        Item.objects.filter(stream_id__in=ids, pool=Item.Pool.WORK, is_golden=False, first_agreed=True)
        .values("stream_id")
        .annotate(n=Count("id"))
    )
    return {row["stream_id"]: row["n"] for row in rows}


def guideline_versions(spec: ExportSpec, snapshot: Snapshot, streams: list[Stream]) -> dict[str, list[dict[str, Any]]]:
    """The manifest's ``guideline_versions``: per stream slug, the guideline versions the judgements
    of the streams were made under (counted and current, up to the snapshot's last id; people's
    only), oldest first, with the version's date and change note and how many judgements each has.
    ``number`` None counts judgements made before versions were recorded. Two queries."""
    # The streams' counted, current judgements up to the snapshot's bound, as one grouped scan:
    # the export's own per-row filters (judgement_queryset: corrections after the snapshot,
    # inactive annotators, exclusions) cost three times as much on a million judgements, for the
    # same versions and near the same counts.
    counts = (
        Judgement.objects.filter(
            stream_id__in=spec.stream_ids, id__lte=snapshot.max_judgement_id, counted=True, is_current=True
        )
        .exclude(source__in=[Judgement.Source.SIMULATED, Judgement.Source.MODEL])
        .values_list("stream_id", "guideline_version")
        .annotate(n=Count("id"))
        .order_by()
    )
    used: dict[int, dict[int | None, int]] = {}
    for stream_id, number, n in counts:
        used.setdefault(stream_id, {})[number] = n
    known = {
        (v.stream_id, v.number): v
        for v in GuidelineVersion.objects.filter(
            stream_id__in=list(used), number__in={n for u in used.values() for n in u if n}
        )
    }
    result: dict[str, list[dict[str, Any]]] = {}
    for stream in streams:
        numbers = used.get(stream.pk, {})
        rows = []
        for number in sorted(numbers, key=lambda n: (n is not None, n or 0)):
            version = known.get((stream.pk, number)) if number is not None else None
            rows.append(
                {
                    "number": number,
                    "created_at": version.created_at.isoformat() if version else None,
                    "change_note": version.change_note if version else None,
                    "judgements": numbers[number],
                }
            )
        result[stream.slug] = rows
    return result


def _file_sha256(path: Path) -> str:
    sha = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            sha.update(block)
    return sha.hexdigest()


def _pool(spec: ExportSpec, snapshot: Snapshot, streams: list[Stream]) -> dict[int, dict[str, Any]]:
    """Per stream: who the data comes from — the people with a counted judgement in the stream up
    to the snapshot (simulated and model judgements aside; golden items included), the stream's
    members by status, its qualification test — and when (first and last of those judgements).

    Index probes, not a scan: an EXISTS per user on the (annotator, stream, submitted_at) index and
    min/max on the (stream, submitted_at) one, so a million-judgement export pays milliseconds
    (a COUNT(DISTINCT) over the judgements cost seconds)."""
    from django.contrib.auth import get_user_model

    from qualification.models import QualificationTest  # below exports: a plain import is allowed

    members: defaultdict[int, dict[str, int]] = defaultdict(dict)
    for stream_id, status, n in (
        StreamMembership.objects.filter(stream_id__in=spec.stream_ids)
        .values_list("stream_id", "status")
        .annotate(n=Count("id"))
        .order_by("stream_id", "status")
    ):
        members[stream_id][str(status)] = n
    tests = dict(QualificationTest.objects.filter(stream_id__in=spec.stream_ids).values_list("stream_id", "pass_mark"))
    pool: dict[int, dict[str, Any]] = {}
    for s in streams:
        judged = Judgement.objects.filter(stream_id=s.pk, counted=True, id__lte=snapshot.max_judgement_id).exclude(
            source__in=[Judgement.Source.SIMULATED, Judgement.Source.MODEL]
        )
        people = get_user_model().objects.filter(Exists(judged.filter(annotator_id=OuterRef("pk")))).count()
        when = judged.aggregate(first=Min("submitted_at"), last=Max("submitted_at"))
        pool[s.pk] = {
            "annotators": {
                "definition": "people with a counted judgement in the stream up to the snapshot (golden items "
                "included; simulated and model-judge judgements never); members: the stream's memberships by "
                "status at the time of the export",
                "pool": people,
                "members": members.get(s.pk, {}),
                "qualification": {"test": s.pk in tests, "pass_mark": tests.get(s.pk)},
            },
            "submitted": {
                "first": when["first"].isoformat() if when["first"] else None,
                "last": when["last"].isoformat() if when["last"] else None,
            },
        }
    return pool


def _date_range(pool: dict[int, dict[str, Any]]) -> dict[str, str | None]:
    firsts = [p["submitted"]["first"] for p in pool.values() if p["submitted"]["first"]]
    lasts = [p["submitted"]["last"] for p in pool.values() if p["submitted"]["last"]]
    return {"first": min(firsts) if firsts else None, "last": max(lasts) if lasts else None}


def _label_smoothing(confidence_sum: float, pairs: int) -> dict[str, Any]:
    """The suggested cDPO label smoothing: the mean of (1 − confidence) over the kept pairs."""
    value = round(min(0.5, max(0.0, 1.0 - confidence_sum / pairs)), 4) if pairs else None
    return {"suggested": value, "pairs": pairs}


def _uncertainty(spec: ExportSpec, stats: Stats) -> dict[str, Any]:
    """What the ``confidence`` and ``margin`` columns mean, and the suggested label smoothing."""
    pairs = sum(stats.stream_pairs.values())
    return {
        "columns": {"confidence": spec.confidence, "margin": spec.margin},
        "confidence": "vote share of the pair's label (majority, unanimous; the item formats decide every axis "
        "by majority) or its Dawid–Skene posterior probability",
        "margin": "(2 × confidence − 1) × strength, strength = mean strength (1–3, unset = 1) of the judgements "
        "that gave the label, or for a ranking pair their mean rank distance: the expected signed strength "
        "(the label holds with probability confidence). 0 for a tie written as both orders and a both-bad KTO pair",
        "ties": spec.ties,
        "label_smoothing": {
            **_label_smoothing(sum(stats.confidence_sum.values()), pairs),
            "definition": "mean of (1 − confidence) over the kept pairs — for majority, the mean minority share "
            "of the votes (the stream's disagreement rate). Use as cDPO's label smoothing ε, the probability "
            "a label is flipped (TRL DPOConfig(label_smoothing=ε) with loss_type='sigmoid'; OpenRLHF train_dpo "
            "--label_smoothing ε). An upper estimate: the label of several votes is wrong less often than one "
            "vote disagrees",
        },
    }


class _Beside:
    """``fn(*args)`` run in a thread on its own database connection while the caller goes on, for a
    side query of an export (PostgreSQL runs it on another core while Python writes rows).
    Inline inside a transaction, whose uncommitted rows another connection would not see (the
    tests' transactions), and on SQLite, which has one writer and no second core to win."""

    def __init__(self, fn: Callable[..., Any], *args: Any) -> None:
        self._value: Any = None
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None
        if connection.vendor != "postgresql" or connection.in_atomic_block:
            self._value = fn(*args)
            return

        def run() -> None:
            try:
                self._value = fn(*args)
            except BaseException as exc:  # raised in the caller, by result()
                self._error = exc
            finally:
                connection.close()  # this thread's connection

        self._thread = threading.Thread(target=run, name="export-beside", daemon=True)
        self._thread.start()

    def result(self) -> Any:
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._error is not None:
            raise self._error
        return self._value


def write_export(
    spec: ExportSpec,
    out_dir: Path,
    *,
    created_by: str = "",
    export_id: int | None = None,
    on_progress: Callable[[float], None] | None = None,
) -> dict[str, Any]:
    """Writes ``train.jsonl`` (and ``test.jsonl`` when ``test_fraction`` > 0), the item index for
    later "new since" exports, and ``manifest.json`` into ``out_dir``; returns the manifest."""
    out_dir.mkdir(parents=True, exist_ok=True)
    snapshot = Snapshot.take()
    streams = list(Stream.objects.filter(pk__in=spec.stream_ids).select_related("project").order_by("pk"))
    # The count is only for the progress fraction: a second pass over the judgements, skipped
    # when nobody watches.
    total = (judgement_queryset(spec, snapshot).count() or 1) if on_progress is not None else 1
    golden_items = (
        0
        if spec.include_golden
        else judgement_queryset(spec, snapshot, golden=True).values("item_id").distinct().count()
    )
    stats = Stats(exported_item_ids=array("q"))
    if spec.since_export_id:
        stats.exported_item_ids = _load_index(spec.since_export_id)  # the index is cumulative
    done = 0

    def on_read(n: int) -> None:
        nonlocal done
        done += n
        if on_progress is not None:
            on_progress(min(0.99, done / total))

    # The manifest's grouped scan of guideline versions runs beside the rows, on its own connection.
    versions = _Beside(guideline_versions, spec, snapshot, streams)
    writers: dict[str, _JsonlWriter | _ParquetWriter] = {}
    splits = ("train", "test") if spec.test_fraction > 0 else ("train",)
    if spec.format == "rewardbench":
        splits = ("test",)  # an evaluation set: the held-out split only
    try:
        for split in splits:
            if spec.file_format == "parquet":
                writers[split] = _ParquetWriter(out_dir / f"{split}.parquet")
            else:
                writers[split] = _JsonlWriter(out_dir / f"{split}.jsonl")
        for split, rows in _iter_item_rows(spec, snapshot, stats, on_read=on_read):
            writers[split].write(rows)
    finally:
        files = [w.close() for w in writers.values()]

    index = stats.exported_item_ids or array("q")
    index = array("q", sorted(set(index)))
    index_path = out_dir / ITEMS_INDEX_NAME
    index_path.write_bytes(index.tobytes())
    files.append(
        {"name": ITEMS_INDEX_NAME, "path": str(index_path), "rows": len(index), "sha256": _file_sha256(index_path)}
    )

    people = _pool(spec, snapshot, streams)
    counts = stats.to_json()
    counts["items"]["dropped"]["golden"] = golden_items
    stopped = _stopped_early(streams)
    judges = {judge.stream_id: judge for judge in Judge.objects.filter(stream__in=streams).select_related("endpoint")}
    counts["items"]["stopped_early"] = sum(stopped.values())
    per_stream = {
        s.slug: {
            "id": s.pk,
            "project": s.project.slug,
            "task_kind": s.task_kind,
            "pairs_kept": stats.stream_pairs[s.pk],
            "adaptive_overlap": {
                "definition": "an item stops collecting judgements once its first n counted judgements agree "
                "(same choice; for a ranking, the same best group); otherwise it collects up to the overlap",
                "on": s.adaptive_overlap,
                "overlap": s.overlap,
                "min_agree": s.adaptive_min_agree,
                "stopped_early_items": stopped.get(s.pk, 0),
            },
            "agreement": {
                "definition": "mean share of a comparison's judgements that gave the aggregated label "
                "(comparisons with at least 2 judgements, before the agreement filter)",
                "value": round(stats.agreement_sum[s.pk] / stats.agreement_n[s.pk], 4)
                if stats.agreement_n[s.pk]
                else None,
                "comparisons": stats.agreement_n[s.pk],
            },
            "aggregation": stats.methods.get(s.pk, spec.aggregation) if spec.format != "raw" else None,
            "aggregation_choice": stats.method_choice.get(s.pk),
            "model_judge": _model_judge_manifest(s, spec, stats, judges.get(s.pk)),
            "calibration_votes": {
                "definition": "answers of the stream's closed calibration rounds whose PM let them into exports, "
                "joined as votes on their items (not for an annotator who also judged the item); raw exports "
                "never carry them",
                "votes": stats.calibration_votes[s.pk],
            },
            "confidence": {
                "definition": "vote share of the label (majority, unanimous) or its Dawid–Skene posterior; "
                "pairs below min_confidence are dropped as low_confidence",
                "min_confidence": stats.min_confidence.get(s.pk),
                "mean": round(stats.confidence_sum[s.pk] / stats.stream_pairs[s.pk], 4)
                if stats.stream_pairs[s.pk]
                else None,
                "histogram": {
                    "bins": [round(k / 10, 1) for k in range(11)],
                    "pairs": list(stats.confidence_bins[s.pk]),
                },
            },
            "label_smoothing": _label_smoothing(stats.confidence_sum[s.pk], stats.stream_pairs[s.pk]),
            **people.get(s.pk, {}),
        }
        for s in streams
    }
    manifest: dict[str, Any] = {
        "quorum_version": settings.VERSION,
        "export_id": export_id,
        "created_at": timezone.now().isoformat(),
        "created_by": created_by,
        "format": spec.format,
        "aggregation": spec.aggregation if spec.format != "raw" else None,
        "settings": spec.to_json(),
        "snapshot": {"max_judgement_id": snapshot.max_judgement_id, "taken_at": snapshot.taken_at.isoformat()},
        "counts": counts,
        "streams": per_stream,
        "guideline_versions": versions.result(),
        "files": [{k: v for k, v in f.items() if k != "path"} for f in files],
        "notes": _NOTES[spec.format],
        "licence": spec.licence or None,
        "uncertainty": _uncertainty(spec, stats),
        "date_range": _date_range(people),
    }
    for f in files:
        f["role"] = "index" if f["name"] == ITEMS_INDEX_NAME else "data"
    meta: list[tuple[str, str]] = []
    if spec.format == "llama-factory":
        name = f"quorum_export_{export_id}" if export_id else "quorum_export"
        data_files = [f["name"] for f in files if f["role"] == "data"]
        info = json.dumps(shapes.llama_factory_info(name, data_files), indent=2, ensure_ascii=False) + "\n"
        meta.append(("dataset_info.json", info))
    meta.append((card.CARD_NAME, card.render(manifest)))
    for name, text in meta:
        path = out_dir / name
        path.write_text(text, encoding="utf-8")
        files.append({"name": name, "path": str(path), "rows": 0, "sha256": _file_sha256(path), "role": "meta"})
        manifest["files"].append({"name": name, "sha256": files[-1]["sha256"]})
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
    manifest["_files"] = files  # with server paths, for Export.files; not written to disk
    return manifest


def _model_judge_manifest(stream: Stream, spec: ExportSpec, stats: Stats, judge: Judge | None) -> dict[str, Any] | None:
    """What the stream's model judge contributed (the vote use), for the manifest; None without
    a judge. Its verdicts are never rows of an export: they can only vote in Dawid–Skene."""
    if judge is None:
        return None
    method = stats.methods.get(stream.pk, spec.aggregation)
    votes = stats.model_votes[stream.pk]
    if spec.format == "raw":
        why = "a raw export has no aggregation; model judgements are never rows"
    elif spec.exclude_model_judgements:
        why = "left out by --exclude-model-judgements"
    elif not judge.use_vote:
        why = "the stream's vote use is off"
    elif method != "dawid-skene":
        why = f"the judge votes only under Dawid–Skene; this stream was aggregated by {method}"
    else:
        why = f"{votes} consistent verdicts voted as one more worker whose reliability Dawid–Skene learned"
    return {
        "judge": judge.endpoint.name,
        "judge_id": judge.pk,
        "vote_use": judge.use_vote,
        "excluded": spec.exclude_model_judgements,
        "voted": bool(votes) and method == "dawid-skene" and spec.format != "raw",
        "votes": votes if method == "dawid-skene" else 0,
        "why": why,
    }


_NOTES = {
    "trl": "TRL standard preference format: prompt/chosen/rejected strings.",
    "trl-conversational": "TRL conversational preference format: prompt ends with a user turn; "
    "chosen/rejected are one assistant message.",
    "reward": "Implicit-prompt preference format for reward modelling: chosen/rejected are full conversations; "
    "margin = (2 × confidence − 1) × strength (see uncertainty).",
    "kto": "Unpaired format for KTO: every kept pair gives a desirable (label true) and an undesirable completion; "
    "a both-bad comparison gives two undesirable ones.",
    "openrlhf": "OpenRLHF preference data: prompt (messages), chosen/rejected (one assistant message), margin; "
    "read with --apply_chat_template --prompt_key prompt --chosen_key chosen --rejected_key rejected.",
    "llama-factory": "LLaMA-Factory pairwise data, sharegpt layout (conversations, system, chosen, rejected); "
    "dataset_info.json beside the files holds the entries (ranking: true).",
    "rewardbench": "RewardBench-style evaluation set from the held-out split only (sha256 of seed and item id "
    "below test_fraction): a training export with the same seed and test_fraction leaves these items out.",
    "helpsteer": "HelpSteer-style rows: per response 0–4 attribute ratings (rubric streams), or HelpSteer3-style "
    "per-attribute preferences with the justifications (per-attribute pairwise streams).",
    "safe-rlhf": "PKU-SafeRLHF-style rows: the more helpful and the safer response, a safe flag and harm categories "
    "per response (helpful-and-safe judgements).",
    "raw": "One row per judgement; annotators pseudonymised (HMAC, per project).",
}


# --- services ----------------------------------------------------------------------------------


def export_dir(export: Export) -> Path:
    return Path(settings.MEDIA_ROOT) / "exports" / str(export.pk)


@transaction.atomic
def create_export(*, project: Project, spec: ExportSpec, created_by: Any = None, queued: bool = True) -> Export:
    """Records an export, pending. The caller has checked that every stream belongs to
    ``project`` and that the user may export it, and queues it (``exports.tasks.queue_export``)
    or — ``queued=False``, the command line — runs it in its own process."""
    export = Export.objects.create(
        project=project,
        created_by=created_by,
        format=spec.format,
        aggregation=spec.aggregation,
        filters=spec.to_json(),
        since_export_id=spec.since_export_id,
        queued=queued,
    )
    export.streams.set(spec.stream_ids)
    return export


def _silent_since(stale: datetime) -> Q:
    """Running exports silent since before ``stale`` (a row from before heartbeats: by its age)."""
    return Q(heartbeat_at__lt=stale) | Q(heartbeat_at__isnull=True, created_at__lt=stale)


def claim_export(*, export_id: int, now: datetime | None = None) -> int | None:
    """Takes export ``export_id`` for this run: a pending one, or a running one whose worker died
    (stale heartbeat; a redelivered message may get there before the sweeper) while it has runs
    left. One conditional UPDATE, so of two deliveries exactly one runs it. Returns the attempt
    this run owns (1 for the first run), or None when there is nothing to run."""
    now = now or timezone.now()
    with transaction.atomic():
        claimed = (
            Export.objects.filter(pk=export_id)
            .filter(
                Q(status=Export.Status.PENDING)
                | (
                    Q(status=Export.Status.RUNNING, attempts__lt=jobs.max_attempts())
                    & _silent_since(jobs.stale_before(now))
                )
            )
            .update(status=Export.Status.RUNNING, attempts=F("attempts") + 1, heartbeat_at=now, progress=0.0)
        )
        if not claimed:
            return None
        return int(Export.objects.filter(pk=export_id).values_list("attempts", flat=True).get())


def run_export(*, export_id: int, out_dir: Path | None = None) -> Export:
    """Runs a recorded export once. Idempotent: only a pending export (or a dead worker's, see
    ``claim_export``) is run; a done, failed or live one is left alone. While it runs it beats
    (``quorum.jobs.Heartbeat``); every write is conditional on this run's attempt, so a run the
    sweeper took for dead and gave to another stops at its next progress point and writes nothing."""
    attempt = claim_export(export_id=export_id)
    export = Export.objects.select_related("created_by").get(pk=export_id)
    if attempt is None:
        return export
    mine = Export.objects.filter(pk=export_id, status=Export.Status.RUNNING, attempts=attempt)
    try:
        with jobs.Heartbeat(mine) as beat:

            def on_progress(fraction: float) -> None:
                beat.check()
                beat.beat(progress=fraction)

            manifest = write_export(
                ExportSpec.from_json(export.filters),
                out_dir or export_dir(export),
                created_by=export.created_by.get_username() if export.created_by else "",
                export_id=export.pk,
                on_progress=on_progress,
            )
            beat.check()
    except jobs.JobLost:
        logger.warning("export %s: run %s lost its job to the sweeper; stopped", export_id, attempt)
        export.refresh_from_db()
        return export
    except Exception as exc:
        logger.exception("export %s failed", export.pk)
        mine.update(status=Export.Status.FAILED, error=str(exc)[:2000], finished_at=timezone.now())
        export.refresh_from_db()
        return export
    files = manifest.pop("_files")
    mine.update(
        status=Export.Status.DONE,
        progress=1.0,
        counts=manifest["counts"],
        manifest=manifest,
        files=files,
        error="",
        heartbeat_at=timezone.now(),
        finished_at=timezone.now(),
    )
    export.refresh_from_db()
    return export


def sweep_stale_exports(*, now: datetime | None = None) -> list[int]:
    """Finds running exports whose worker stopped responding (no heartbeat for
    ``QUORUM_JOB_STALE_SECONDS``). One with runs left (``QUORUM_JOB_MAX_ATTEMPTS``) goes back to
    pending with a note saying why; the others — and an export of the command line, which no
    worker can resume — are failed with the reason. Each change is conditional on the row being
    as it was read, so a run that beats meanwhile keeps its job. Returns the ids to queue again."""
    now = now or timezone.now()
    requeue: list[int] = []
    stale = Export.objects.filter(status=Export.Status.RUNNING).filter(_silent_since(jobs.stale_before(now)))
    for pk, attempts, heartbeat_at, queued in stale.values_list("pk", "attempts", "heartbeat_at", "queued"):
        same = Export.objects.filter(pk=pk, status=Export.Status.RUNNING, attempts=attempts, heartbeat_at=heartbeat_at)
        what = "The worker" if queued else "The export_preferences process"
        if queued and attempts < jobs.max_attempts():
            when = timezone.localtime(heartbeat_at or now).strftime("%H:%M:%S %Z")
            runs = f"run {attempts + 1} of {jobs.max_attempts()}"
            note = f"{what} running it stopped responding at {when}; queued again ({runs})."
            if same.update(status=Export.Status.PENDING, progress=0.0, error=note):
                logger.warning("export %s: %s", pk, note)
                requeue.append(pk)
        elif same.update(
            status=Export.Status.FAILED,
            error=jobs.lost_reason(heartbeat_at=heartbeat_at, attempts=attempts, what=what),
            finished_at=now,
        ):
            logger.warning("export %s failed: its worker stopped responding after %s runs", pk, attempts)
    return requeue


def export_file_path(export: Export, name: str) -> Path | None:
    """The file of ``export`` called ``name`` if it is a data file or the manifest under the
    export's own directory; None otherwise (a CLI export written elsewhere is not served)."""
    base = export_dir(export).resolve()
    names = {f["name"] for f in export.files if f.get("role") in ("data", "meta")} | {"manifest.json"}
    if name not in names:
        return None
    path = (base / name).resolve()
    if path.parent != base or not os.path.isfile(path):
        return None
    return path


_CONTENT_TYPES = {
    ".json": "application/json",
    ".jsonl": "application/jsonl",
    ".md": "text/markdown; charset=utf-8",
    ".parquet": "application/vnd.apache.parquet",
}


def content_type(name: str) -> str:
    """The media type an export file is served with."""
    return _CONTENT_TYPES.get(Path(name).suffix, "application/octet-stream")
