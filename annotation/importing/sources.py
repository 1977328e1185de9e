"""Reading a source file record by record with 1-based line numbers, in constant memory.

Gzip is recognised by its magic bytes, whatever the file is called. JSON Lines are parsed with
orjson (which, unlike ``json``, refuses lone surrogates); CSV/TSV is chosen by the file name.

Two caps bound the work and memory a file can cost (settings, read when a source is opened):

- ``QUORUM_IMPORT_MAX_LINE_BYTES``: a longer line is an error naming the line, and is never held
  in memory whole (read with a limit, the rest skipped in 1 MiB pieces);
- ``QUORUM_IMPORT_MAX_DECOMPRESSED_BYTES``: a file that expands beyond it (a gzip bomb) stops
  the import with an error naming the line reached; nothing of it is imported.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import gzip
import io
import json
import os
import re
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import IO, Any

import orjson

from annotation.importing.records import RecordError, check_characters, has_surrogate, walk_strings
from quorum.parsers import MAX_JSON_DEPTH, json_depth_exceeds

# Defaults of the caps (settings override them). A longer line is refused without being held in
# memory (a 2 GB upload of one line must not take 2 GB).
MAX_LINE_BYTES = 32 * 1024 * 1024
MAX_DECOMPRESSED_BYTES = 4 * 1024 * 1024 * 1024
_GZIP_MAGIC = b"\x1f\x8b"
csv.field_size_limit(MAX_LINE_BYTES)  # the default, 128 KiB, is less than some real responses

Record = dict[str, Any] | RecordError


class SourceLimitError(RecordError):
    """A record error after which the rest of the file is not read (it expands beyond the
    decompressed-size cap): the import fails as a whole, even with ``skip_invalid``."""


class _TooLarge(Exception):
    pass


def size_text(n: int) -> str:
    """``33554432`` → "32 MiB"; sizes that are not whole MiB in bytes."""
    return f"{n // (1024 * 1024)} MiB" if n >= 1024 * 1024 and n % (1024 * 1024) == 0 else f"{n} bytes"


class _Counted(io.RawIOBase):
    """The decompressed stream, counting bytes; raises ``_TooLarge`` past ``limit``."""

    def __init__(self, stream: IO[bytes], limit: int) -> None:
        self._stream = stream
        self._limit = limit
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        # Never ask for more than one byte past the cap: a bomb is stopped as soon as it crosses.
        want = min(len(buffer), self._limit - self.count + 1)
        data = self._stream.read(want)
        n = len(data)
        buffer[:n] = data
        self.count += n
        if self.count > self._limit:
            raise _TooLarge
        return n


class Source:
    """An open source file: ``records()`` yields ``(line, record or RecordError)``;
    ``bytes_read`` / ``total_bytes`` measure progress on the file as stored (compressed or not)."""

    def __init__(self, raw: IO[bytes], name: str, total_bytes: int) -> None:
        from django.conf import settings

        self.raw = raw
        self.name = name
        self.total_bytes = total_bytes
        self.max_line_bytes: int = getattr(settings, "QUORUM_IMPORT_MAX_LINE_BYTES", MAX_LINE_BYTES)
        self.max_decompressed_bytes: int = getattr(
            settings, "QUORUM_IMPORT_MAX_DECOMPRESSED_BYTES", MAX_DECOMPRESSED_BYTES
        )
        self.gzipped = raw.read(2) == _GZIP_MAGIC
        raw.seek(0)
        opened: IO[bytes] = gzip.GzipFile(fileobj=raw, mode="rb") if self.gzipped else raw  # type: ignore[assignment]
        self._counted = _Counted(opened, self.max_decompressed_bytes)
        self.stream: IO[bytes] = io.BufferedReader(self._counted, buffer_size=64 * 1024)
        base = name.lower().removesuffix(".gz")
        self.kind = "tsv" if base.endswith(".tsv") else "csv" if base.endswith(".csv") else "jsonl"

    def reopen(self) -> Source:
        """The same file from its beginning, as a new source (this one is done with)."""
        self.raw.seek(0)
        return Source(self.raw, self.name, self.total_bytes)

    @property
    def bytes_read(self) -> int:
        try:
            return min(self.raw.tell(), self.total_bytes) if self.total_bytes else self.raw.tell()
        except (OSError, ValueError):
            return 0

    def records(self) -> Generator[tuple[int, Record]]:
        if self.kind == "jsonl":
            return self._jsonl()
        return self._csv(delimiter="\t" if self.kind == "tsv" else ",")

    def too_large(self) -> SourceLimitError:
        return SourceLimitError(
            "",
            f"the file expands beyond {size_text(self.max_decompressed_bytes)} when decompressed "
            "(QUORUM_IMPORT_MAX_DECOMPRESSED_BYTES); nothing was imported",
        )

    def line_too_long(self) -> RecordError:
        return RecordError(
            "", f"the line is longer than {size_text(self.max_line_bytes)} (QUORUM_IMPORT_MAX_LINE_BYTES)"
        )

    def _jsonl(self) -> Generator[tuple[int, Record]]:
        readline = self.stream.readline
        limit = self.max_line_bytes
        line_no = 0
        while True:
            try:
                line = readline(limit + 1)
                if len(line) > limit and not line.endswith(b"\n"):
                    while (more := readline(1 << 20)) and not more.endswith(b"\n"):
                        pass
                    line_no += 1
                    yield line_no, self.line_too_long()
                    continue
            except _TooLarge:
                yield line_no + 1, self.too_large()
                return
            except (OSError, EOFError, gzip.BadGzipFile) as exc:
                yield line_no + 1, RecordError("", f"the file cannot be read past this point: {exc}")
                return
            if not line:
                return
            line_no += 1
            if line_no == 1 and line.startswith(codecs.BOM_UTF8):
                line = line[len(codecs.BOM_UTF8) :]
            if line.isspace():
                continue
            yield line_no, parse_json_line(line, first=line_no == 1)

    def _csv(self, *, delimiter: str) -> Generator[tuple[int, Record]]:
        # surrogateescape: bytes that are not UTF-8 become lone surrogates, which the character
        # check then reports with their line and column instead of the reader failing mid-file.
        text = io.TextIOWrapper(self.stream, encoding="utf-8-sig", errors="surrogateescape", newline="")
        csv.field_size_limit(self.max_line_bytes)
        try:
            yield from self._csv_rows(csv.reader(_BoundedLines(text, self.max_line_bytes), delimiter=delimiter))
        finally:
            text.detach()  # leave the caller's file open

    def _csv_rows(self, reader: Any) -> Iterator[tuple[int, Record]]:
        try:
            header = next(reader)
        except StopIteration:
            return
        except _TooLarge:
            yield 1, self.too_large()
            return
        except _LineTooLong:
            yield 1, self.line_too_long()
            return
        except csv.Error as exc:
            yield 1, RecordError("", f"invalid CSV: {exc}")
            return
        header = [h.strip() for h in header]
        duplicates = sorted({h for h in header if header.count(h) > 1})
        if duplicates or any(not h for h in header) or any(has_surrogate(h) or "\x00" in h for h in header):
            yield 1, RecordError("", "the header must name each column once, with valid text")
            return
        # Lines cut short by _BoundedLines are not counted by the reader: ``skipped`` keeps the
        # numbers right.
        skipped = 0
        start = reader.line_num + 1
        while True:
            try:
                row = next(reader)
            except StopIteration:
                return
            except _TooLarge:
                yield start, self.too_large()
                return
            except _LineTooLong:
                skipped += 1
                yield start, self.line_too_long()
                start = reader.line_num + skipped + 1
                continue
            except csv.Error as exc:
                yield start, RecordError("", f"invalid CSV: {exc}")
                return
            line_no, start = start, reader.line_num + skipped + 1
            if not row or (len(row) == 1 and not row[0].strip()):
                continue
            record: dict[Any, Any] = dict(zip(header, row, strict=False))
            if len(row) > len(header):
                record[None] = row[len(header) :]
            try:
                check_characters({k: v for k, v in record.items() if k is not None})
            except RecordError as err:
                yield line_no, err
                continue
            yield line_no, record


class _LineTooLong(Exception):
    pass


class _BoundedLines:
    """The lines of ``text`` for ``csv.reader``, none held longer than ``limit`` characters: a
    longer line is read on to its end in small pieces and thrown away, and ``_LineTooLong`` is
    raised for it (the iterator stays usable: the reader goes on with the next line). Without
    this, the reader would take a whole line into memory however long, before its own field
    limit applied."""

    def __init__(self, text: io.TextIOWrapper, limit: int) -> None:
        self._text, self._limit = text, limit

    def __iter__(self) -> _BoundedLines:
        return self

    def __next__(self) -> str:
        line = self._text.readline(self._limit + 1)
        if not line:
            raise StopIteration
        if len(line) > self._limit and not line.endswith(("\n", "\r")):
            while (more := self._text.readline(1 << 20)) and not more.endswith(("\n", "\r")):
                pass
            raise _LineTooLong
        return line


# orjson reads integers up to 64 bits exactly and turns longer ones into (rounded) floats without
# a word. Twenty digits in a row is where that can start; only such lines are looked at again.
_LONG_DIGITS = re.compile(rb"\d{20}")
_INT_RANGE = (-(2**63), 2**64 - 1)


def _too_big_integer(value: object, path: str = "") -> tuple[str, int] | None:
    """The field path and value of the first integer outside 64 bits in ``value`` (parsed by
    Python's ``json``, which keeps big integers exact), or None."""
    pending: list[tuple[object, str]] = [(value, path)]
    while pending:
        current, where = pending.pop(0)
        if isinstance(current, bool):
            continue
        if isinstance(current, int) and not _INT_RANGE[0] <= current <= _INT_RANGE[1]:
            return where, current
        if isinstance(current, dict):
            pending.extend((v, f"{where}.{k}" if where else str(k)) for k, v in current.items())
        elif isinstance(current, list):
            pending.extend((v, f"{where}[{i}]") for i, v in enumerate(current))
    return None


def _check_big_integers(line: bytes) -> RecordError | None:
    try:
        exact = json.loads(line)
    except (ValueError, RecursionError):
        return None
    found = _too_big_integer(exact)
    if found is None:
        return None
    where, number = found
    digits = str(number)
    shown = digits if len(digits) <= 30 else f"{digits[:12]}…({len(digits.lstrip('-'))} digits)"
    return RecordError(
        where,
        f"the integer {shown} does not fit in 64 bits and would be stored rounded; quote it as a string "
        "to keep it exactly",
    )


def parse_json_line(line: bytes, *, first: bool = False) -> Record:
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        return _describe(line, str(exc))
    if _LONG_DIGITS.search(line):
        problem = _check_big_integers(line)
        if problem is not None:
            return problem
    # orjson reads up to 1,024 levels but writes only 254, so a line nested a few hundred levels
    # deep used to crash the import when its metadata was stored. The byte count is a cheap bound
    # on the depth; only lines that could be too deep are walked.
    if line.count(b"[") + line.count(b"{") > MAX_JSON_DEPTH and json_depth_exceeds(value, MAX_JSON_DEPTH):
        return RecordError("", f"the line is nested deeper than {MAX_JSON_DEPTH} levels of arrays and objects")
    if not isinstance(value, dict):
        if first and isinstance(value, list):
            return RecordError("", "the file is one JSON array; Quorum reads JSON Lines (one object per line)")
        return RecordError("", "each line must be a JSON object")
    # orjson turns "\u0000" into a NUL character; PostgreSQL cannot store one. The byte search is
    # cheap and rarely true; only then are the strings walked to name the field.
    if b"\\u0000" in line:
        try:
            check_characters(value)
        except RecordError as err:
            return err
    return value


def _describe(line: bytes, message: str) -> RecordError:
    """orjson's error, with the field named when the line is JSON that Python's ``json`` reads
    (lone surrogates; bytes that are not UTF-8)."""
    if "surrogate" in message or "UTF-8" in message:
        what = (
            "contains bytes that are not valid UTF-8"
            if "not valid UTF-8" in message and b"\\ud" not in line.lower()
            else "contains a lone surrogate (an unpaired \\ud800–\\udfff escape), which is not text"
        )
        try:
            value = json.loads(line.decode("utf-8", "surrogateescape"))
        except ValueError:
            return RecordError("", what)
        for path, s in walk_strings(value):
            if has_surrogate(s):
                return RecordError(path, what)
        return RecordError("", what)
    if "depth limit exceeded" in message:
        return RecordError("", f"the line is nested deeper than {MAX_JSON_DEPTH} levels of arrays and objects")
    return RecordError("", f"invalid JSON: {message}")


@contextlib.contextmanager
def open_source(source: str | os.PathLike[str] | IO[bytes], *, name: str = "") -> Iterator[Source]:
    """Opens a path or wraps an open binary file (an upload); closes only what it opened."""
    if isinstance(source, str | os.PathLike):
        path = Path(source)
        try:
            raw: IO[bytes] = path.open("rb")
        except FileNotFoundError:
            raise FileNotFoundError(f"No such file: {path}") from None
        with raw:
            src = Source(raw, name or path.name, os.fstat(raw.fileno()).st_size)
            yield src
        return
    raw = source
    size = getattr(source, "size", None)
    if size is None:
        position = raw.seek(0, io.SEEK_END)
        size = position
    raw.seek(0)
    yield Source(raw, name or os.path.basename(str(getattr(source, "name", "") or "upload")), int(size))
