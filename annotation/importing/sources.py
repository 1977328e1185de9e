"""Reading a source file record by record with 1-based line numbers, in constant memory.

Gzip is recognised by its magic bytes, whatever the file is called. JSON Lines are parsed with
orjson (which, unlike ``json``, refuses lone surrogates); CSV/TSV is chosen by the file name.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import gzip
import io
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import orjson

from annotation.importing.records import RecordError, check_characters, has_surrogate, walk_strings

# A longer line is refused without being held in memory (a 2 GB upload of one line must not
# take 2 GB).
MAX_LINE_BYTES = 32 * 1024 * 1024
_GZIP_MAGIC = b"\x1f\x8b"
csv.field_size_limit(MAX_LINE_BYTES)  # the default, 128 KiB, is less than some real responses

Record = dict[str, Any] | RecordError


class Source:
    """An open source file: ``records()`` yields ``(line, record or RecordError)``;
    ``bytes_read`` / ``total_bytes`` measure progress on the file as stored (compressed or not)."""

    def __init__(self, raw: IO[bytes], name: str, total_bytes: int) -> None:
        self.raw = raw
        self.name = name
        self.total_bytes = total_bytes
        self.gzipped = raw.read(2) == _GZIP_MAGIC
        raw.seek(0)
        self.stream: IO[bytes] = gzip.GzipFile(fileobj=raw, mode="rb") if self.gzipped else raw  # type: ignore[assignment]
        base = name.lower().removesuffix(".gz")
        self.kind = "tsv" if base.endswith(".tsv") else "csv" if base.endswith(".csv") else "jsonl"

    @property
    def bytes_read(self) -> int:
        try:
            return min(self.raw.tell(), self.total_bytes) if self.total_bytes else self.raw.tell()
        except (OSError, ValueError):
            return 0

    def records(self) -> Iterator[tuple[int, Record]]:
        if self.kind == "jsonl":
            return self._jsonl()
        return self._csv(delimiter="\t" if self.kind == "tsv" else ",")

    def _jsonl(self) -> Iterator[tuple[int, Record]]:
        readline = self.stream.readline
        line_no = 0
        while True:
            try:
                line = readline(MAX_LINE_BYTES + 1)
            except (OSError, EOFError, gzip.BadGzipFile) as exc:
                yield line_no + 1, RecordError("", f"the file cannot be read past this point: {exc}")
                return
            if not line:
                return
            line_no += 1
            if len(line) > MAX_LINE_BYTES and not line.endswith(b"\n"):
                while (more := readline(1 << 20)) and not more.endswith(b"\n"):
                    pass
                yield line_no, RecordError("", f"the line is longer than {MAX_LINE_BYTES // (1024 * 1024)} MiB")
                continue
            if line_no == 1 and line.startswith(codecs.BOM_UTF8):
                line = line[len(codecs.BOM_UTF8) :]
            if line.isspace():
                continue
            yield line_no, parse_json_line(line, first=line_no == 1)

    def _csv(self, *, delimiter: str) -> Iterator[tuple[int, Record]]:
        # surrogateescape: bytes that are not UTF-8 become lone surrogates, which the character
        # check then reports with their line and column instead of the reader failing mid-file.
        text = io.TextIOWrapper(self.stream, encoding="utf-8-sig", errors="surrogateescape", newline="")
        try:
            yield from self._csv_rows(csv.reader(text, delimiter=delimiter))
        finally:
            text.detach()  # leave the caller's file open

    def _csv_rows(self, reader: Any) -> Iterator[tuple[int, Record]]:
        try:
            header = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield 1, RecordError("", f"invalid CSV: {exc}")
            return
        header = [h.strip() for h in header]
        duplicates = sorted({h for h in header if header.count(h) > 1})
        if duplicates or any(not h for h in header) or any(has_surrogate(h) or "\x00" in h for h in header):
            yield 1, RecordError("", "the header must name each column once, with valid text")
            return
        start = reader.line_num + 1
        while True:
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                yield start, RecordError("", f"invalid CSV: {exc}")
                return
            line_no, start = start, reader.line_num + 1
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


def parse_json_line(line: bytes, *, first: bool = False) -> Record:
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        return _describe(line, str(exc))
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
