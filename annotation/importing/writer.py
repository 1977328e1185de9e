"""Writing items: an upsert on (stream, external_id) that tells created, updated, unchanged and
protected apart.

PostgreSQL, two paths (measured in bench/import_items.py):
- a stream with no items when the import starts: every row streams through one COPY straight into
  the item table, sent by a worker thread so the server stores rows while Python parses the next;
- otherwise, per chunk: the existing hashes of the chunk's ids are read first (a re-import of an
  unchanged file sends nothing else), the other rows are COPied into a temporary table and
  upserted with ``INSERT ... SELECT ... ON CONFLICT DO UPDATE ... WHERE`` the hash differs.
Other databases (SQLite, the embedded default): the same rules with the ORM.

The rules, for an external id already in the stream:
- same content hash → unchanged, not touched;
- different hash → updated (context, responses, metadata, prior label, priority, pool, and the
  golden fields only when the source gives a golden answer — a PM's golden answer is not wiped
  by a file that has none);
- different context or responses on an item that annotators have already claimed → *protected*:
  kept as it is and reported, since its judgements refer to those responses by position.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import orjson
from django.db import connection
from psycopg.copy import QueuedLibpqWriter

from annotation.importing.records import ItemRow
from annotation.models import ImportBatch, Item
from projects.models import Stream

_TEMP = "quorum_import_rows"
_LOCK_NAMESPACE = 0x51524D  # "QRM": pg_advisory_xact_lock(namespace, stream id)
# Updated on every change; the golden fields only by rows that carry a golden answer.
_CONTENT = ("pool", "context", "responses", "num_responses", "metadata", "prior_label", "content_hash", "priority")
_GOLDEN = ("is_golden", "golden_answers", "golden_explanation", "golden_harmful")


@dataclass
class ChunkResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    protected: list[tuple[int, str]] = field(default_factory=list)  # (line, external id)


class Writer(Protocol):
    def write(self, rows: list[ItemRow]) -> ChunkResult: ...

    def close(self, error: BaseException | None = None) -> None:
        """Ends the writes (before the transaction ends); ``error`` aborts them."""


def writer_for(*, stream: Stream, batch: ImportBatch, now: datetime) -> Writer:
    """Call inside the import's transaction: the writer takes a per-stream lock so that two
    imports into one stream run one after the other."""
    if connection.vendor == "postgresql":
        return PostgresWriter(stream=stream, batch=batch, now=now)
    return PortableWriter(stream=stream, batch=batch, now=now)


# --- PostgreSQL -------------------------------------------------------------------------------


def _copy_text(value: str) -> bytes:
    return value.encode().replace(b"\\", b"\\\\").replace(b"\t", b"\\t").replace(b"\n", b"\\n").replace(b"\r", b"\\r")


def _copy_json(value: bytes) -> bytes:
    # orjson escapes every control character inside strings, so only backslashes need doubling.
    return value.replace(b"\\", b"\\\\")


def _copy_constant(value: Any) -> bytes | None:
    """A constant in COPY's text format; None for a type this module does not format."""
    if value is None:
        return b"\\N"
    if isinstance(value, bool):
        return b"t" if value else b"f"
    if isinstance(value, int | float):
        return str(value).encode()
    if isinstance(value, str):
        return _copy_text(value)
    if isinstance(value, datetime):
        return value.isoformat().encode()
    return None


_TRUE, _FALSE, _NULL = b"t", b"f", b"\\N"
# The columns each row carries, in COPY order (the temporary table has `line` first).
_ROW_COLUMNS = (
    ("external_id", "text"),
    ("pool", "text"),
    ("context", "jsonb"),
    ("responses", "jsonb"),
    ("num_responses", "smallint"),
    ("metadata", "jsonb"),
    ("prior_label", "jsonb"),
    ("content_hash", "text"),
    ("is_golden", "boolean"),
    ("golden_answers", "jsonb"),
    ("golden_explanation", "text"),
    ("golden_harmful", "boolean"),
    ("priority", "integer"),
)


def _row_fields(r: ItemRow) -> bytes:
    j = r.json
    return b"\t".join(
        (
            _copy_text(r.external_id),
            r.pool.encode(),
            _copy_json(j["context"]),
            _copy_json(j["responses"]),
            str(len(r.responses)).encode(),
            _copy_json(j["metadata"]),
            _copy_json(j["prior_label"]) if r.prior_label is not None else _NULL,
            r.content_hash.encode(),
            _TRUE if r.is_golden else _FALSE,
            _copy_json(j["golden_answers"]),
            _copy_text(r.golden_explanation),
            _TRUE if r.golden_harmful else _FALSE,
            str(r.priority).encode(),
        )
    )


class _SmallQueueWriter(QueuedLibpqWriter):
    """psycopg's COPY writer that sends from a worker thread — so PostgreSQL stores rows while
    Python parses the next ones — with a short queue, so memory stays flat when the server is
    the slower side (psycopg's default queue holds up to 1024 buffers of 128 KiB)."""

    def __init__(self, cursor: Any) -> None:
        super().__init__(cursor)
        self._queue = type(self._queue)(maxsize=16)


class PostgresWriter:
    """The direct path needs no conflict handling: the stream had no items, the file's duplicate
    ids are refused before they get here, and the stream lock keeps other imports out."""

    def __init__(self, *, stream: Stream, batch: ImportBatch, now: datetime) -> None:
        self.stream_id = stream.pk
        self.cursor = connection.cursor()
        self.cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [_LOCK_NAMESPACE, stream.pk % 2**31])
        self._copy: Any = None
        self._copy_cm: Any = None
        constants = self._constants(batch, now)
        suffix = [_copy_constant(v) for v in constants.values()]
        self.direct = not Item.objects.filter(stream_id=stream.pk).exists() and None not in suffix
        if self.direct:
            names = ", ".join([*(name for name, _ in _ROW_COLUMNS), *constants])
            self._direct_sql = f"COPY {connection.ops.quote_name(Item._meta.db_table)} ({names}) FROM STDIN"
            self._suffix = b"\t" + b"\t".join(s for s in suffix if s is not None) + b"\n"
            return
        columns = ", ".join(f"{name} {kind}" for name, kind in (("line", "integer"), *_ROW_COLUMNS))
        # ON COMMIT DROP, and emptied per chunk: a second import in the same outer transaction
        # (tests, load_demo) finds it there.
        self.cursor.execute(f"CREATE TEMPORARY TABLE IF NOT EXISTS {_TEMP} ({columns}) ON COMMIT DROP")
        self._copy_sql = f"COPY {_TEMP} (line, {', '.join(name for name, _ in _ROW_COLUMNS)}) FROM STDIN"
        self._upsert_sql, self._upsert_params = self._build_upsert(constants)

    def _constants(self, batch: ImportBatch, now: datetime) -> dict[str, Any]:
        """The columns every row of this import has in common, by column name."""
        values: dict[str, Any] = {"stream_id": self.stream_id, "import_batch_id": batch.pk}
        values["created_at"] = values["updated_at"] = now
        provided = {name for name, _ in _ROW_COLUMNS}
        # Every other column (counters, flags other apps add later) gets its model default.
        for f in Item._meta.concrete_fields:
            column = f.column or f.name
            if not f.primary_key and column not in provided and column not in values:
                values[column] = f.get_db_prep_save(f.get_default(), connection)
        return values

    def _build_upsert(self, constants: dict[str, Any]) -> tuple[dict[bool, str], list[Any]]:
        qn = connection.ops.quote_name
        provided = [name for name, _ in _ROW_COLUMNS]
        insert_columns = ", ".join(qn(c) for c in [*provided, *constants])
        select = ", ".join([*(f"t.{c}" for c in provided), *("%s" for _ in constants)])
        sql = {}
        for golden in (False, True):
            updated = [*_CONTENT, *(_GOLDEN if golden else ()), "import_batch_id", "updated_at"]
            sets = ", ".join(f"{qn(c)} = EXCLUDED.{qn(c)}" for c in updated)
            # Identifiers only come from the model and constants here; values are parameters.
            sql[golden] = f"""
                WITH up AS (
                    INSERT INTO {qn(Item._meta.db_table)} AS i ({insert_columns})
                    SELECT {select} FROM {_TEMP} t WHERE t.is_golden = {"true" if golden else "false"}
                    ON CONFLICT (stream_id, external_id) DO UPDATE SET {sets}
                    WHERE i.content_hash <> EXCLUDED.content_hash
                      AND (i.claim_count = 0 OR (i.context = EXCLUDED.context AND i.responses = EXCLUDED.responses))
                    RETURNING i.external_id, (i.xmax = 0) AS inserted
                )
                SELECT external_id FROM up WHERE NOT inserted
            """  # noqa: S608
        return sql, list(constants.values())

    def write(self, rows: list[ItemRow]) -> ChunkResult:
        if self.direct:
            return self._write_direct(rows)
        cur = self.cursor
        # Unchanged rows are told apart by their hash first: a re-import of a file that did not
        # change sends nothing but ids.
        # One unique-index lookup per id, whatever the statistics say: right after a bulk load
        # they are stale, and `external_id = ANY(...)` was planned as a scan of the whole stream.
        cur.execute(
            f"""SELECT e.id, i.content_hash FROM unnest(%s::text[]) AS e(id) CROSS JOIN LATERAL (
                    SELECT content_hash FROM {connection.ops.quote_name(Item._meta.db_table)}
                    WHERE stream_id = %s AND external_id = e.id LIMIT 1) i""",  # noqa: S608 - identifiers only
            [[r.external_id for r in rows], self.stream_id],
        )
        existing = dict(cur.fetchall())
        todo = [r for r in rows if existing.get(r.external_id) != r.content_hash]
        result = ChunkResult(unchanged=len(rows) - len(todo))
        if not todo:
            return result
        cur.execute(f"TRUNCATE {_TEMP}")
        with cur.cursor.copy(self._copy_sql) as copy:
            copy.write(b"".join(b"%d\t%s\n" % (r.line, _row_fields(r)) for r in todo))
        updated: set[str] = set()
        for golden in (False, True):
            if golden and not any(r.is_golden for r in todo):
                continue
            cur.execute(self._upsert_sql[golden], self._upsert_params)
            updated.update(ext for (ext,) in cur.fetchall())
        result.updated = len(updated)
        # An existing row the upsert left alone is one whose context or responses are protected.
        result.protected = [
            (r.line, r.external_id) for r in todo if r.external_id in existing and r.external_id not in updated
        ]
        result.created = sum(1 for r in todo if r.external_id not in existing)
        return result

    def _write_direct(self, rows: list[ItemRow]) -> ChunkResult:
        if self._copy is None:
            psycopg_cursor = self.cursor.cursor
            self._copy_cm = psycopg_cursor.copy(self._direct_sql, writer=_SmallQueueWriter(psycopg_cursor))
            self._copy = self._copy_cm.__enter__()
        suffix = self._suffix
        # ~100 rows a buffer: large enough to be cheap, small enough for the short queue.
        for i in range(0, len(rows), 100):
            self._copy.write(b"".join([_row_fields(r) + suffix for r in rows[i : i + 100]]))
        return ChunkResult(created=len(rows))

    def close(self, error: BaseException | None = None) -> None:
        if self._copy_cm is not None:
            cm, self._copy_cm, self._copy = self._copy_cm, None, None
            if error is None:
                cm.__exit__(None, None, None)
            else:
                cm.__exit__(type(error), error, error.__traceback__)


# --- Portable (SQLite) ------------------------------------------------------------------------


class PortableWriter:
    def __init__(self, *, stream: Stream, batch: ImportBatch, now: datetime) -> None:
        self.stream = stream
        self.batch = batch
        self.now = now

    def _item(self, r: ItemRow, pk: int | None = None) -> Item:
        return Item(
            pk=pk,
            stream=self.stream,
            external_id=r.external_id,
            pool=r.pool,
            context=r.context,
            responses=r.responses,
            num_responses=len(r.responses),
            metadata=r.metadata,
            prior_label=r.prior_label,
            content_hash=r.content_hash,
            is_golden=r.is_golden,
            golden_answers=r.golden_answers,
            golden_explanation=r.golden_explanation,
            golden_harmful=r.golden_harmful,
            priority=r.priority,
            import_batch=self.batch,
            created_at=self.now,
            updated_at=self.now,
        )

    def write(self, rows: list[ItemRow]) -> ChunkResult:
        result = ChunkResult()
        by_id = {r.external_id: r for r in rows}
        existing = Item.objects.filter(stream=self.stream, external_id__in=list(by_id)).values_list(
            "pk", "external_id", "content_hash", "claim_count", "context", "responses"
        )
        changed: dict[bool, list[Item]] = {False: [], True: []}
        seen = set()
        for pk, ext, content_hash, claims, context, responses in existing:
            seen.add(ext)
            r = by_id[ext]
            if content_hash == r.content_hash:
                result.unchanged += 1
            elif claims and (_canon(context) != r.json["context"] or _canon(responses) != r.json["responses"]):
                result.protected.append((r.line, ext))
            else:
                changed[r.is_golden].append(self._item(r, pk))
        new = [self._item(r) for r in rows if r.external_id not in seen]
        Item.objects.bulk_create(new, batch_size=500)
        result.created = len(new)
        for golden, items in changed.items():
            fields = [*_CONTENT, *(_GOLDEN if golden else ()), "import_batch", "updated_at"]
            Item.objects.bulk_update(items, fields, batch_size=200)
            result.updated += len(items)
        result.protected.sort()
        return result

    def close(self, error: BaseException | None = None) -> None:
        pass


def _canon(value: object) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
