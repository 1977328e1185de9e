"""``import_items``: one import run from a file into a stream, recorded as an ``ImportBatch``."""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import secrets
import shutil
import tempfile
import time
import uuid
from array import array
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, Any, TextIO

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connection, connections, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.text import get_valid_filename

from annotation.importing.detect import AUTO, Detection, choose_format
from annotation.importing.formats import (
    FORMATS,
    ImportOptionsError,
    MappedConverter,
    check_candidate_count,
    converter_for,
    parse_mapping,
)
from annotation.importing.records import Draft, ItemRow, RecordError, finalise
from annotation.importing.sources import Source, SourceLimitError, open_source
from annotation.importing.writer import Writer, writer_for
from annotation.models import ImportBatch
from projects.models import Stream
from quorum import jobs

log = logging.getLogger(__name__)

MISMATCH_MODES = ("full", "skip")
FORMAT_CHOICES = (AUTO, *FORMATS)
# All-or-nothing stops reading after this many errors; the batch report keeps this many too
# (the report file has them all).
MAX_ERRORS = 100
MAX_LINES_KEPT = 1000  # mismatch and protected line numbers kept in the batch report
CHUNK_ROWS = {"postgresql": 5000}
DEFAULT_CHUNK_ROWS = 1000

ProgressCallback = Callable[[int, int, int], None]  # (bytes_read, total_bytes, lines_read)


@dataclass
class ImportIssue:
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        return (
            f'line {self.line}, field "{self.field}": {self.message}'
            if self.field
            else f"line {self.line}: {self.message}"
        )


@dataclass
class ImportReport:
    """What one run did. ``errors``, ``warnings`` and the line lists keep the first entries only;
    the counts are complete, and ``report_file`` (written when lines were invalid) has every error."""

    batch_id: int | None = None
    filename: str = ""
    format: str = ""
    status: str = ImportBatch.Status.PENDING
    lines_read: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    invalid: int = 0
    skipped: int = 0  # mismatches left out with on_mismatch="skip"
    protected: int = 0  # changed content on items already claimed by annotators: kept as they were
    mismatch_count: int = 0
    warning_count: int = 0
    errors: list[ImportIssue] = field(default_factory=list)
    warnings: list[ImportIssue] = field(default_factory=list)
    mismatches: list[int] = field(default_factory=list)
    protected_lines: list[int] = field(default_factory=list)
    preset: str = ""
    detected: str = ""  # with --format auto: what the file was recognised as
    hint: str = ""  # most lines failed and the file looks like another format: which one
    stopped_at: int | None = None  # all-or-nothing stopped reading here after MAX_ERRORS errors
    report_file: str = ""
    seconds: float = 0.0
    failure: str = ""  # an unexpected error (database, time limit), not a problem of the file

    @property
    def ok(self) -> bool:
        return self.status == ImportBatch.Status.DONE

    def counts(self) -> str:
        return (
            f"{self.created} created, {self.updated} updated, {self.unchanged} unchanged, "
            f"{self.skipped} skipped, {self.invalid} invalid"
            + (f", {self.protected} protected" if self.protected else "")
        )

    def error_lines(self, limit: int = 20) -> list[str]:
        lines = [str(e) for e in self.errors[:limit]]
        if self.invalid > len(lines):
            more = self.invalid - len(lines)
            lines.append(
                f"... and {more} more" if self.stopped_at is None else f"... reading stopped at line {self.stopped_at}"
            )
        return lines

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        for key in (
            "batch_id",
            "filename",
            "format",
            "status",
            "lines_read",
            "created",
            "updated",
            "unchanged",
            "invalid",
        ):
            data.pop(key)
        return data

    @classmethod
    def from_batch(cls, batch: ImportBatch) -> ImportReport:
        data = dict(batch.report or {})
        issues = {k: [ImportIssue(**i) for i in data.pop(k, [])] for k in ("errors", "warnings")}
        known = set(cls.__dataclass_fields__)
        fields: dict[str, Any] = {k: v for k, v in data.items() if k in known}
        fields.update(issues)
        return cls(
            batch_id=batch.pk,
            filename=batch.filename,
            format=batch.format,
            status=batch.status,
            lines_read=batch.lines_read,
            created=batch.created_count,
            updated=batch.updated_count,
            unchanged=batch.unchanged_count,
            invalid=batch.invalid_count,
            **fields,
        )


class InvalidImport(Exception):
    """All-or-nothing import refused: some lines are invalid, nothing was written. ``report``
    lists the errors."""

    def __init__(self, report: ImportReport) -> None:
        self.report = report
        super().__init__(f"Nothing imported: {report.invalid} invalid line{'s' if report.invalid != 1 else ''}.")


def import_items(
    *,
    stream: Stream,
    source: str | os.PathLike[str] | IO[bytes],
    fmt: str = "native",
    mapping: Mapping[str, str] | list[str] | str | None = None,
    skip_invalid: bool = False,
    on_mismatch: str = "full",
    batch: ImportBatch | None = None,
    created_by: Any = None,
    filename: str = "",
    progress: ProgressCallback | None = None,
) -> ImportReport:
    """Imports ``source`` (a path, or an open binary file such as an upload; gzip is read
    transparently) into ``stream`` as ``fmt`` (native, trl, hh, mapped — see docs/import.md), or
    ``auto`` (the default of the CLI, the web form and the API): the format its first records show
    (``detect.py``); when they do not show one surely, ``FormatNotDetected`` (an
    ``ImportOptionsError``) names what the file looks like and nothing is written.

    Items are upserted on their external id (the source's id, else a hash of the content), so a
    re-import never duplicates: unchanged items are counted, changed ones updated. Candidates are
    stored in canonical order (by the hash of their text) and source labels become the prior label.

    All-or-nothing by default: one invalid line and nothing is written, ``InvalidImport`` is raised
    with the errors (line and field each). ``skip_invalid`` imports the valid lines and reports the
    rest. Pairs whose turns do not split into a shared context (HH, implicit TRL prompts) are
    reported and imported whole (``on_mismatch="full"``) or left out (``"skip"``).

    The file is read in chunks in one transaction, so memory stays flat and a failure leaves the
    stream as it was. Raises ``ImportOptionsError`` (nothing read) for a bad format or mapping,
    ``FileNotFoundError`` for a missing path."""
    if fmt not in FORMAT_CHOICES:
        raise ImportOptionsError(f"Unknown format {fmt!r} (formats: {', '.join(FORMAT_CHOICES)}).")
    if on_mismatch not in MISMATCH_MODES:
        raise ImportOptionsError(f"on_mismatch must be one of {', '.join(MISMATCH_MODES)}, not {on_mismatch!r}.")
    if mapping and fmt == AUTO:
        fmt = "mapped"  # a mapping says which format it is for
    if mapping and fmt != "mapped":
        raise ImportOptionsError("A field mapping applies to the mapped format only.")
    fields = parse_mapping(mapping) if fmt == "mapped" else {}
    options = {"mapping": fields, "skip_invalid": skip_invalid, "on_mismatch": on_mismatch}

    with open_source(source, name=filename) as first:
        # The first records, read once: to choose the format (auto) or, when an explicit format
        # fails on most lines, to say which format the file looks like.
        asked = fmt
        src, fmt, detection = choose_format(first, fmt)
        detected = detection.label if asked == AUTO else ""
        if asked == AUTO and batch is not None and batch.format != fmt:  # a stored upload, now detected
            batch.format = fmt
            batch.save(update_fields=["format"])
        if batch is None:
            batch = ImportBatch.objects.create(
                stream=stream, created_by=created_by, filename=src.name[:300], format=fmt, options=options
            )
        batch.status = ImportBatch.Status.RUNNING
        batch.total_bytes, batch.bytes_read, batch.lines_read = src.total_bytes, 0, 0
        batch.heartbeat_at = timezone.now()
        batch.save(update_fields=["status", "total_bytes", "bytes_read", "lines_read", "heartbeat_at"])
        # The run beats while it reads (quorum/jobs.py) so the sweeper can tell a dead process. On
        # SQLite the run's own transaction holds the one write lock: no thread, and the sweeper
        # waits the import's hard time limit instead (``import_stale_before``).
        beat = jobs.Heartbeat(
            ImportBatch.objects.filter(pk=batch.pk, status=ImportBatch.Status.RUNNING, attempts=batch.attempts),
            thread=connection.vendor != "sqlite",
        )

        def on_progress(bytes_read: int, total: int, lines: int) -> None:
            beat.check()  # JobLost: the sweeper gave the batch to another run; roll back, record nothing
            if progress is not None:
                progress(bytes_read, total, lines)

        run = _Run(
            stream=stream,
            batch=batch,
            source=src,
            fmt=fmt,
            mapping=fields,
            skip_invalid=skip_invalid,
            on_mismatch=on_mismatch,
            progress=on_progress,
            detection=detection,
        )
        run.report.detected = detected
        with beat:
            return run.execute()


def run_batch(*, batch: ImportBatch, progress: ProgressCallback | None = None) -> ImportReport:
    """Runs a batch created by ``store_upload`` (the Celery task's service) with the options stored
    in it. A batch that cannot start (missing file, bad options) is marked failed too."""
    options = batch.options or {}
    try:
        return import_items(
            stream=batch.stream,
            source=batch.file_path,
            fmt=batch.format,
            mapping=options.get("mapping") or None,
            skip_invalid=bool(options.get("skip_invalid")),
            on_mismatch=options.get("on_mismatch", "full"),
            batch=batch,
            filename=batch.filename,
            progress=progress,
        )
    except (ImportOptionsError, FileNotFoundError) as exc:
        _fail(batch, ImportReport(batch_id=batch.pk, filename=batch.filename, format=batch.format, failure=str(exc)))
        raise


def store_upload(
    *,
    stream: Stream,
    upload: UploadedFile,
    fmt: str,
    mapping: Mapping[str, str] | None,
    skip_invalid: bool,
    on_mismatch: str,
    created_by: Any,
) -> ImportBatch:
    """Saves an upload under MEDIA_ROOT/imports/ and creates its pending batch, for a worker."""
    directory = Path(settings.MEDIA_ROOT) / "imports"
    directory.mkdir(parents=True, exist_ok=True)
    name = upload.name or "upload"
    path = directory / f"{uuid.uuid4().hex}-{get_valid_filename(os.path.basename(name))[-100:]}"
    with path.open("wb") as out:
        for piece in upload.chunks():
            out.write(piece)
    return ImportBatch.objects.create(
        stream=stream,
        created_by=created_by,
        filename=name[:300],
        file_path=str(path),
        format=fmt,
        options={"mapping": dict(mapping or {}), "skip_invalid": skip_invalid, "on_mismatch": on_mismatch},
        total_bytes=upload.size or 0,
    )


REPORTS_DIR = "imports/reports"  # under MEDIA_ROOT


# An hour covers tens of millions of rows at the measured rate (see docs/import.md). The soft limit
# raises inside the import, which rolls back and marks the batch failed; the hard one is the backstop.
IMPORT_SOFT_TIME_LIMIT = 3600
IMPORT_TIME_LIMIT = IMPORT_SOFT_TIME_LIMIT + 120


def import_stale_before(now: datetime | None = None) -> datetime:
    """A running batch silent since before this lost its process. On SQLite a run cannot beat
    while its transaction holds the database (see ``import_items``): its only heartbeat is its
    start, so it counts as lost only after the import's hard time limit."""
    now = now or timezone.now()
    if connection.vendor == "sqlite":
        return now - timedelta(seconds=IMPORT_TIME_LIMIT)
    return jobs.stale_before(now)


def _silent_since(stale: datetime) -> Q:
    """Running batches silent since before ``stale`` (a row from before heartbeats: by its age)."""
    return Q(heartbeat_at__lt=stale) | Q(heartbeat_at__isnull=True, created_at__lt=stale)


def claim_batch(*, batch_id: int, now: datetime | None = None) -> int | None:
    """Takes stored batch ``batch_id`` for a worker run: a pending one, or a running one whose
    worker died (a redelivered message may get there before the sweeper) while it has runs left.
    One conditional UPDATE: of two deliveries exactly one runs it. Returns the attempt this run
    owns, or None when there is nothing to run."""
    now = now or timezone.now()
    with transaction.atomic():
        claimed = (
            ImportBatch.objects.filter(pk=batch_id)
            .filter(
                Q(status=ImportBatch.Status.PENDING)
                | (
                    Q(status=ImportBatch.Status.RUNNING, attempts__gte=1, attempts__lt=jobs.max_attempts())
                    & _silent_since(import_stale_before(now))
                )
            )
            .update(status=ImportBatch.Status.RUNNING, attempts=F("attempts") + 1, heartbeat_at=now)
        )
        if not claimed:
            return None
        return int(ImportBatch.objects.filter(pk=batch_id).values_list("attempts", flat=True).get())


def sweep_stale_imports(*, now: datetime | None = None) -> list[int]:
    """Finds running batches whose process stopped responding (no heartbeat for
    ``QUORUM_JOB_STALE_SECONDS``). A stored upload a worker was importing, with runs left
    (``QUORUM_JOB_MAX_ATTEMPTS``), goes back to pending — the import is all-or-nothing, so the
    dead run left nothing behind; any other (the upload's file is not kept, or its runs are used
    up) is failed with the reason and its stored upload removed. Each change is conditional on the
    row being as it was read. Returns the ids to queue again."""
    now = now or timezone.now()
    requeue: list[int] = []
    stale = ImportBatch.objects.filter(status=ImportBatch.Status.RUNNING).filter(
        _silent_since(import_stale_before(now))
    )
    for batch in stale.only("pk", "attempts", "heartbeat_at", "file_path", "report", "filename", "format"):
        same = ImportBatch.objects.filter(
            pk=batch.pk, status=ImportBatch.Status.RUNNING, attempts=batch.attempts, heartbeat_at=batch.heartbeat_at
        )
        by_worker = bool(batch.file_path) and batch.attempts >= 1
        what = "The worker importing it" if by_worker else "The process importing it"
        if by_worker and batch.attempts < jobs.max_attempts() and Path(batch.file_path).exists():
            when = timezone.localtime(batch.heartbeat_at or now).strftime("%H:%M:%S %Z")
            runs = f"run {batch.attempts + 1} of {jobs.max_attempts()}"
            note = f"{what} stopped responding at {when}; queued again ({runs})."
            report = {**(batch.report or {}), "requeued": note}
            if same.update(status=ImportBatch.Status.PENDING, bytes_read=0, lines_read=0, report=report):
                log.warning("import batch %s: %s", batch.pk, note)
                requeue.append(batch.pk)
            continue
        reason = jobs.lost_reason(heartbeat_at=batch.heartbeat_at, attempts=max(1, batch.attempts), what=what)
        if not by_worker:
            reason += " Nothing was imported; upload the file again."
        report = {**(batch.report or {}), "failure": reason}
        if same.update(
            status=ImportBatch.Status.FAILED,
            created_count=0,
            updated_count=0,
            unchanged_count=0,
            report=report,
            finished_at=now,
        ):
            log.warning("import batch %s failed: %s", batch.pk, reason)
            if batch.file_path:
                Path(batch.file_path).unlink(missing_ok=True)
    return requeue


def report_path(batch: ImportBatch) -> Path | None:
    """The batch's report file, when it has one that exists."""
    name = (batch.report or {}).get("report_file") or ""
    reports = (Path(settings.MEDIA_ROOT) / REPORTS_DIR).resolve()
    path = Path(name).resolve()
    return path if name and path.parent == reports and path.is_file() else None


class _Rejected(Exception):
    """Rolls the transaction back when an all-or-nothing import found invalid lines."""


class _Run:
    def __init__(
        self,
        *,
        stream: Stream,
        batch: ImportBatch,
        source: Source,
        fmt: str,
        mapping: dict[str, str],
        skip_invalid: bool,
        on_mismatch: str,
        progress: ProgressCallback | None,
        detection: Detection | None = None,
    ) -> None:
        self.stream, self.batch, self.source = stream, batch, source
        self.fmt, self.detection = fmt, detection
        self.converter = converter_for(fmt, mapping)
        self.pairwise = stream.task_kind == Stream.TaskKind.PAIRWISE
        self.skip_invalid, self.on_mismatch, self.progress = skip_invalid, on_mismatch, progress
        self.report = ImportReport(batch_id=batch.pk, filename=batch.filename, format=fmt)
        self.chunk_rows = CHUNK_ROWS.get(connection.vendor, DEFAULT_CHUNK_ROWS)
        self.unfinished = False  # a source limit stopped the reading: the import fails whole
        self._errors_file: TextIO | None = None
        # Progress rows are written on a second connection so a page can watch a run whose own
        # transaction is still open. Only when this run owns its transaction: inside a caller's,
        # the batch row may be locked by that transaction. SQLite allows one writer: no progress.
        self._side: _SideProgress | None = None
        if connection.vendor == "postgresql" and not connection.in_atomic_block:
            self._side = _SideProgress(batch.pk)

    def execute(self) -> ImportReport:
        started = time.monotonic()
        report = self.report
        try:
            with _gc_paused(), transaction.atomic():
                writer = writer_for(stream=self.stream, batch=self.batch, now=timezone.now())
                try:
                    self._read(writer)
                except BaseException as exc:
                    writer.close(exc)
                    raise
                writer.close()
                report.seconds = round(time.monotonic() - started, 3)
                if report.invalid and (not self.skip_invalid or self.unfinished):
                    raise _Rejected
                self._add_hint()
                self._write_report_file()
                self._finish(ImportBatch.Status.DONE)
        except _Rejected:
            self._add_hint()
            self._write_report_file()
            _fail(self.batch, report)
            raise InvalidImport(report) from None
        except Exception as exc:
            report.failure = (str(exc) or type(exc).__name__)[:500]
            report.seconds = round(time.monotonic() - started, 3)
            try:
                _fail(self.batch, report)
            except DatabaseError:  # the database is what failed: the original error matters
                log.exception("could not mark import batch %s failed", self.batch.pk)
            raise
        finally:
            if self._side is not None:
                self._side.close()
            if self._errors_file is not None:
                self._errors_file.close()
        return report

    def _read(self, writer: Writer) -> None:
        report = self.report
        seen = SeenIds()  # duplicates within the file
        chunk: list[ItemRow] = []
        since_progress = 0
        for line, record in self.source.records():
            report.lines_read = line
            since_progress += 1
            try:
                if isinstance(record, RecordError):
                    raise record
                row = self._row(line, record, seen)
            except RecordError as err:
                self._error(ImportIssue(line, err.field, err.message))
                if isinstance(err, SourceLimitError):  # the rest is unread: nothing is imported
                    self.unfinished = True
                    report.stopped_at = line
                    break
                if not self.skip_invalid and report.invalid >= MAX_ERRORS:
                    report.stopped_at = line
                    break
                continue
            if row is None or (report.invalid and not self.skip_invalid):
                continue  # all-or-nothing after an error: validate the rest, write nothing
            chunk.append(row)
            if len(chunk) >= self.chunk_rows:
                self._flush(writer, chunk)
                chunk = []
            if since_progress >= self.chunk_rows:
                since_progress = 0
                self._progress()
        if chunk and not (report.invalid and not self.skip_invalid):
            self._flush(writer, chunk)
        self._progress()

    def _row(self, line: int, record: dict[str, Any], seen: SeenIds) -> ItemRow | None:
        draft: Draft = self.converter(record)
        check_candidate_count(draft, pairwise=self.pairwise)
        for warning in draft.warnings:
            self._warn(ImportIssue(line, warning.field, warning.message))
        if draft.mismatch:
            self.report.mismatch_count += 1
            if len(self.report.mismatches) < MAX_LINES_KEPT:
                self.report.mismatches.append(line)
            if self.on_mismatch == "skip":
                self.report.skipped += 1
                return None
        row = finalise(draft, line=line)
        first = seen.first_line(row.external_id, line)
        if first != line:
            if draft.external_id is None:
                raise RecordError("", f"duplicate: the same prompt and responses as line {first}")
            id_field = self.converter.mapping.get("id", "id") if isinstance(self.converter, MappedConverter) else "id"
            raise RecordError(id_field, f"duplicate id {row.external_id!r}: already used on line {first}")
        if len({r["text"] for r in row.responses}) < len(row.responses):
            self._warn(ImportIssue(line, "responses", "two responses have the same text"))
        return row

    def _flush(self, writer: Writer, chunk: list[ItemRow]) -> None:
        result = writer.write(chunk)
        report = self.report
        report.created += result.created
        report.updated += result.updated
        report.unchanged += result.unchanged
        for line, external_id in result.protected:
            report.protected += 1
            if len(report.protected_lines) < MAX_LINES_KEPT:
                report.protected_lines.append(line)
            self._warn(
                ImportIssue(
                    line,
                    "responses",
                    f"item {external_id!r} is already being annotated: its context and responses were kept",
                )
            )

    def _progress(self) -> None:
        bytes_read, total, lines = self.source.bytes_read, self.source.total_bytes, self.report.lines_read
        if self._side is not None:
            try:
                self._side.update(bytes_read=bytes_read, lines_read=lines)
            except DatabaseError:  # progress is a courtesy: never the reason an import fails
                log.warning("import batch %s: progress not recorded", self.batch.pk, exc_info=True)
                self._side.close()
                self._side = None
        if self.progress is not None:
            self.progress(bytes_read, total, lines)

    def _error(self, issue: ImportIssue) -> None:
        report = self.report
        report.invalid += 1
        if len(report.errors) < MAX_ERRORS:
            report.errors.append(issue)
        if self._errors_file is None:
            self._errors_file = tempfile.TemporaryFile("w+", encoding="utf-8")  # noqa: SIM115 - closed in execute()
        self._errors_file.write(f"{issue}\n")

    def _warn(self, issue: ImportIssue) -> None:
        self.report.warning_count += 1
        if len(self.report.warnings) < MAX_ERRORS:
            self.report.warnings.append(issue)

    def _add_hint(self) -> None:
        """When most lines read were invalid and the file's first records look like another
        format, say which: the errors alone ("unknown field chosen" on every line) do not."""
        report, found = self.report, self.detection
        if found is None or not report.invalid or 2 * report.invalid < report.lines_read:
            return
        if found.shape and found.format != self.fmt:
            report.hint = found.hint()

    def _write_report_file(self) -> None:
        """Every error, in a text file next to the uploads, when there were any."""
        report = self.report
        if not report.invalid or self._errors_file is None:
            return
        # An unguessable name: the file lists the data's lines, and MEDIA_ROOT may be served.
        path = Path(settings.MEDIA_ROOT) / REPORTS_DIR / f"import-{self.batch.pk}-{secrets.token_hex(8)}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", encoding="utf-8") as out:
            out.write(f"Quorum import report — batch {self.batch.pk}\n")
            out.write(f"stream: {self.stream}\nfile: {report.filename} (format {report.format})\n")
            all_or_nothing = not self.skip_invalid or self.unfinished
            imported = "nothing imported (all-or-nothing)" if all_or_nothing else report.counts()
            out.write(f"lines read: {report.lines_read}; {imported}\n")
            if report.hint:
                out.write(f"hint: {report.hint}\n")
            if report.mismatches:
                out.write(f"mismatched pairs on lines: {', '.join(map(str, report.mismatches))}\n")
            out.write(f"\n{report.invalid} invalid line(s), not imported:\n")
            self._errors_file.seek(0)
            shutil.copyfileobj(self._errors_file, out)
        report.report_file = str(path)

    def _finish(self, status: str) -> None:
        report, batch = self.report, self.batch
        if isinstance(self.converter, MappedConverter):
            report.preset = self.converter.preset
        report.status = status
        batch.status = status
        batch.lines_read = report.lines_read
        batch.created_count, batch.updated_count = report.created, report.updated
        batch.unchanged_count, batch.invalid_count = report.unchanged, report.invalid
        batch.bytes_read = batch.total_bytes
        batch.report = report.to_json()
        batch.finished_at = timezone.now()
        batch.save()


def _fail(batch: ImportBatch, report: ImportReport) -> None:
    report.status = ImportBatch.Status.FAILED
    report.created = report.updated = report.unchanged = 0  # rolled back
    batch.status = ImportBatch.Status.FAILED
    batch.lines_read = report.lines_read
    batch.created_count = batch.updated_count = batch.unchanged_count = 0
    batch.invalid_count = report.invalid
    batch.report = report.to_json()
    batch.finished_at = timezone.now()
    batch.save()


class SeenIds:
    """The external ids read so far in one file, each with the line it was first on.

    An open-addressing table of 64-bit hashes in two arrays — 12 bytes a slot, at most half full —
    instead of a dict (about 100 bytes an entry), so that a file of millions of items does not
    grow the importer's memory by hundreds of MB. Two different ids share a hash with probability
    about n²/2⁶⁵ (10⁻⁷ for a million ids); such a pair would be reported as a duplicate."""

    def __init__(self, size: int = 1 << 14) -> None:
        self._keys = array("Q", [0]) * size
        self._lines = array("I", [0]) * size
        self._mask = size - 1
        self._count = 0

    def first_line(self, external_id: str, line: int) -> int:
        """Records ``external_id`` as seen on ``line`` unless it was seen before; returns the
        line it was first seen on."""
        key = (hash(external_id) & 0xFFFF_FFFF_FFFF_FFFF) or 1  # 0 marks an empty slot
        keys, mask = self._keys, self._mask
        i = key & mask
        while (found := keys[i]) != 0:
            if found == key:
                return int(self._lines[i])
            i = (i + 1) & mask
        keys[i], self._lines[i] = key, line
        self._count += 1
        if 2 * self._count > mask:
            self._grow()
        return line

    def _grow(self) -> None:
        old = zip(self._keys, self._lines, strict=True)
        size = 2 * (self._mask + 1)
        self._keys = array("Q", [0]) * size
        self._lines = array("I", [0]) * size
        self._mask = size - 1
        keys, lines, mask = self._keys, self._lines, self._mask
        for key, line in old:
            if key:
                i = key & mask
                while keys[i]:
                    i = (i + 1) & mask
                keys[i], lines[i] = key, line


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """The cyclic garbage collector off for the run: parsed records hold no cycles (reference
    counting frees them), and with thousands of live rows per chunk its passes took half the
    parsing time."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


class _SideProgress:
    def __init__(self, batch_id: int) -> None:
        self.batch_id = batch_id
        self.conn: Any = None

    def update(self, *, bytes_read: int, lines_read: int) -> None:
        if self.conn is None:
            self.conn = connections.create_connection(DEFAULT_DB_ALIAS)
        table = self.conn.ops.quote_name(ImportBatch._meta.db_table)
        with self.conn.cursor() as cur:
            cur.execute(
                f"UPDATE {table} SET bytes_read = %s, lines_read = %s WHERE id = %s",  # noqa: S608 - table name from the model
                [bytes_read, lines_read, self.batch_id],
            )

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
