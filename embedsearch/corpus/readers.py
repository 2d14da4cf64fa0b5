"""Corpus readers: text files, folders, JSON Lines and Parquet, streamed item by item.

Each item has a unique key, its text, the file it came from, its position in
that file (1-based line number, or paragraph number) and JSON-able metadata.
Nothing is loaded whole: readers yield one item at a time, so a corpus larger
than memory streams through. Bytes that are not UTF-8 are replaced (U+FFFD)
and counted in the report, never fatal. A Parquet file is read like JSON
Lines, one record per row (key `file:row`, rows numbered from 1), a row
group at a time.

    report = CorpusReport()
    [item.key for item in read_corpus("notes.txt", report=report)]
    # ['notes.txt:1', 'notes.txt:2']
"""

from __future__ import annotations

import itertools
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from ..errors import InputError
from .json_values import check_json_value, strict_json_loads
from .markup import document_text

TEXT_SUFFIXES = {".txt", ".text", ".cor"}
DOCUMENT_SUFFIXES = {".md", ".markdown", ".html", ".htm", ".pdf"}  # whole files (`markup`)
JSONL_SUFFIXES = {".jsonl", ".ndjson"}
PARQUET_SUFFIXES = {".parquet"}
UNITS = ("auto", "line", "paragraph", "document")


@dataclass
class Item:
    """One searchable thing: what is encoded (`text`) and where it came from."""

    key: str
    text: str
    source: str = ""
    position: int = 0
    metadata: dict = field(default_factory=dict)


@dataclass
class CorpusReport:
    """What reading a corpus skipped or repaired, for the end-of-build report."""

    files: int = 0
    items: int = 0
    replaced_lines: int = 0
    skipped: Counter = field(default_factory=Counter)

    def skip(self, reason: str) -> None:
        self.skipped[reason] += 1


def corpus_files(path: str | Path) -> list[Path]:
    """The readable files of `path` (itself, or a folder's text and JSONL files, sorted)."""
    path = Path(path)
    if path.is_file():
        return [path]
    if path.is_dir():
        files = sorted(
            p for p in path.rglob("*")
            if p.is_file() and not any(part.startswith(".") for part in p.relative_to(path).parts)
            and p.suffix.lower() in TEXT_SUFFIXES | DOCUMENT_SUFFIXES | JSONL_SUFFIXES | PARQUET_SUFFIXES
        )
        if not files:
            raise InputError(f"no .txt, .md, .html, .pdf, .jsonl or .parquet files in folder {path}")
        return files
    raise InputError(f"corpus not found: {path}")


def read_corpus(path: str | Path, *, unit: str = "line", text_field: str = "text",
                key_field: str | None = None, report: CorpusReport | None = None) -> Iterator[Item]:
    """Items of a file or folder, one per line or paragraph (text) or per record (JSONL, Parquet)."""
    check_unit(unit)
    report = report if report is not None else CorpusReport()
    for file in corpus_files(path):
        yield from read_corpus_file(file, path, unit=unit, text_field=text_field,
                                    key_field=key_field, report=report)


def check_unit(unit: str) -> None:
    if unit not in UNITS:
        raise InputError(f"unknown unit {unit!r}: use one of {', '.join(UNITS)}")


def read_corpus_file(file: str | Path, root: str | Path, *, unit: str = "line",
                     text_field: str = "text", key_field: str | None = None,
                     report: CorpusReport) -> Iterator[Item]:
    """Items of one file of the corpus `root` (a file or a folder), keyed relative to it.

    `read_corpus` reads every file through this; a distributed build reads
    each file in its own task, with the same keys.
    """
    file, root = Path(file), Path(root)
    if unit == "auto":  # a folder's files are documents; a single text file's lines are items
        unit = "document" if root.is_dir() else "line"
    report.files += 1
    source = str(file.relative_to(root)) if root.is_dir() else file.name
    suffix = file.suffix.lower()
    if suffix in JSONL_SUFFIXES:
        items = _read_jsonl(file, source, text_field, key_field, report)
    elif suffix in PARQUET_SUFFIXES:
        items = _read_parquet(file, source, text_field, key_field, report)
    elif suffix in DOCUMENT_SUFFIXES or unit == "document":
        items = _read_document(file, source, report)
    elif unit == "paragraph":
        items = _read_paragraphs(file, source, report)
    else:
        items = _read_lines(file, source, report)
    for item in items:
        report.items += 1
        yield item


BINARY_PROBE = 8192  # bytes read to tell text from binary: a NUL byte never occurs in text
MAX_LINE_BYTES = 16 * 2**20  # a longer line is skipped, so one huge line cannot fill memory
LONG_LINE = f"line longer than {MAX_LINE_BYTES // 2**20} MiB"
UNSTORABLE = "record with NaN, Infinity, a huge integer, a lone surrogate or deep nesting"


def _raw_lines(handle) -> Iterator[tuple[int, bytes | None]]:
    """(line number, bytes) per line; None for a line longer than MAX_LINE_BYTES, which is
    read past in bounded pieces rather than held whole."""
    for number in itertools.count(1):
        raw = handle.readline(MAX_LINE_BYTES + 1)
        if not raw:
            return
        if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
            while raw and not raw.endswith(b"\n"):
                raw = handle.readline(MAX_LINE_BYTES)
            raw = None
        yield number, raw


def _decoded_lines(file: Path, report: CorpusReport) -> Iterator[tuple[int, str]]:
    try:
        handle = open(file, "rb")
    except OSError as error:
        raise InputError(f"cannot read {file}: {error.strerror}") from None
    with handle:
        if b"\0" in handle.read(BINARY_PROBE):
            raise InputError(f"{file} is a binary file, not text: give a text, Markdown or "
                             "JSON Lines file")
        handle.seek(0)
        for number, raw in _raw_lines(handle):
            if raw is None:
                report.skip(LONG_LINE)
                continue
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError:
                line = raw.decode("utf-8", errors="replace")
                report.replaced_lines += 1
            yield number, line.rstrip("\r\n")


def _read_lines(file: Path, source: str, report: CorpusReport) -> Iterator[Item]:
    for number, line in _decoded_lines(file, report):
        text = line.strip()
        if text:
            yield Item(f"{source}:{number}", text, source, number)
        else:
            report.skip("empty line")


def _read_document(file: Path, source: str, report: CorpusReport) -> Iterator[Item]:
    text, metadata, replaced = document_text(file)
    report.replaced_lines += replaced
    if text:
        yield Item(source, text, source, 1, metadata)
    else:
        report.skip("file with no text")


def _read_paragraphs(file: Path, source: str, report: CorpusReport) -> Iterator[Item]:
    lines: list[str] = []
    paragraph = 0
    for _, line in _decoded_lines(file, report):
        if line.strip():
            lines.append(line.strip())
            continue
        if lines:
            paragraph += 1
            yield Item(f"{source}#{paragraph}", " ".join(lines), source, paragraph)
            lines = []
    if lines:
        paragraph += 1
        yield Item(f"{source}#{paragraph}", " ".join(lines), source, paragraph)


def _check_fields(file: Path, record: dict, text_field: str, key_field: str | None) -> None:
    """The first record names the fields: a text or key field it lacks is a mistake, not a skip."""
    for argument, name in (("text_field", text_field), ("key_field", key_field)):
        if name is not None and name not in record:
            fields = ", ".join(sorted(record)) or "none"
            raise InputError(f"{file}: the records have no field {name!r} (`{argument}`); "
                             f"their fields are: {fields}")


def _read_jsonl(file: Path, source: str, text_field: str, key_field: str | None,
                report: CorpusReport) -> Iterator[Item]:
    checked = False
    for number, line in _decoded_lines(file, report):
        if not line.strip():
            continue
        try:
            record = strict_json_loads(line)
        except json.JSONDecodeError:
            report.skip("invalid JSON line")
            continue
        except ValueError:
            report.skip(UNSTORABLE)
            continue
        if not isinstance(record, dict):
            report.skip("JSON line is not an object")
            continue
        if not checked:
            _check_fields(file, record, text_field, key_field)
            checked = True
        item = _record_item(record, source, number, text_field, key_field, report)
        if item is not None:
            yield item


def _read_parquet(file: Path, source: str, text_field: str, key_field: str | None,
                  report: CorpusReport) -> Iterator[Item]:
    import pyarrow.parquet as parquet

    try:
        table = parquet.ParquetFile(file)
    except (OSError, ValueError) as error:  # pyarrow's ArrowInvalid is a ValueError
        raise InputError(f"cannot read {file} as Parquet: {error}") from None
    _check_fields(file, dict.fromkeys(table.schema_arrow.names), text_field, key_field)
    number = 0
    for group in range(table.num_row_groups):
        for row in table.read_row_group(group).to_pylist():
            number += 1
            # Every row has every column of the file: a null is a field the record lacks.
            record = {name: value for name, value in row.items() if value is not None}
            try:
                check_json_value(record)
            except ValueError:
                report.skip(UNSTORABLE)
                continue
            item = _record_item(record, source, number, text_field, key_field, report)
            if item is not None:
                yield item


def _record_item(record: dict, source: str, number: int, text_field: str,
                 key_field: str | None, report: CorpusReport) -> Item | None:
    """The item of one JSON or Parquet record: its text field, key field, the rest as metadata."""
    text = record.pop(text_field, None)
    if not isinstance(text, str) or not text.strip():
        report.skip(f"no {text_field!r} text field")
        return None
    key = record.pop(key_field, None) if key_field else None
    key = str(key) if key is not None else f"{source}:{number}"
    return Item(key, text.strip(), source, number, record)
