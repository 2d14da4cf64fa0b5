"""The BM25 matrix on disk: term frequencies in segments that versions share.

A version's `keyword/` folder lists its segments (`meta.json`). A segment
holds, CSR by term, the items each term occurs in (positions in the segment's
sorted `rowids`) with the term's frequency there (tf), and each item's length
in tokens (D): nothing that depends on the version's statistics (its item
count, average length, document frequencies), which a query reads from
`meta.json` and the segments instead. So a write makes a segment of the items
it added or changed only, links the previous version's segment files into the
new version's folder (hard links: removing an old version never breaks a newer
one, and no segment file is ever written twice), and marks the items it deleted
or replaced dead in the segments that held them (`dead.npy`, with how many of
each term's postings they hold, `dead_rows.npy` / `dead_counts.npy`: document
frequencies are postings minus those). Past `MAX_SEGMENTS` segments, all but
the first are merged (made again from their live items); past `MAX_DEAD_SHARE`
dead items, or after a write that changed more than that share of the items,
the version's matrix is made again whole.

Segments are read from FTS5 itself: the whole index from its `fts5vocab`
instance table, a few items from an in-memory FTS5 table of the same tokenizer
holding only them (the same tokens, as the tokenizer is a function of the
text). Each version's item count and token total are checked against FTS5's
own before its folder is saved; anything that disagrees is made again whole.

    version = updated_version(new_dir / "items.db", load_version(base_dir / FOLDER, base_crc32),
                              changed_ids)
    save_version(new_dir / FOLDER, version, crc32)  # base's segments linked, one new
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import threading
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterable

import numpy as np

from ..progress import progress_bar
from .fulltext import FTS_TABLE, fts5_totals, table_tokenizer
from .versions import fsync_path

FOLDER = "keyword"
FORMAT = 2
MAX_SEGMENTS = 8  # a version with more has all but its first merged into one
MAX_DEAD_SHARE = 0.25  # a version with more dead items than this share is made again whole
BATCH_TOKENS = 2**22  # tokens grouped into postings at a time while a segment is made
IDS_PER_INSERT = 10_000  # items copied into a segment's FTS5 table per statement
# A later segment smaller than this is read into memory, not mapped: each mapped file holds a
# file descriptor as long as the version is open.
MAP_MIN_BYTES = 2**20
SEGMENT_NAME = re.compile(r"s[0-9]{6}")
SEGMENT_FILES = ("indptr", "positions", "frequencies", "lengths", "rowids")
DEAD_FILES = ("dead", "dead_rows", "dead_counts")
_DTYPES = {"indptr": np.int64, "positions": np.uint32, "frequencies": np.uint32,
           "lengths": np.uint32, "rowids": np.int64, "dead": np.uint32, "dead_rows": np.int64,
           "dead_counts": np.int64}


@dataclass
class Segment:
    """One segment: CSR by term of (item position, tf), item lengths, and its dead items.

    `folder` is where its files already are (linked, not written again, when saved);
    `dead_folder` likewise for its dead-item files (None once they change)."""

    name: str
    terms: list[str]
    indptr: np.ndarray
    positions: np.ndarray
    frequencies: np.ndarray
    lengths: np.ndarray
    rowids: np.ndarray
    dead: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint32))
    dead_rows: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    dead_counts: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    folder: Path | None = None
    dead_folder: Path | None = None

    @property
    def postings(self) -> int:
        return int(len(self.positions))

    def live_ids(self) -> np.ndarray:
        return np.delete(self.rowids, self.dead.astype(np.int64))

    def live_tokens(self) -> int:
        return int(self.lengths.sum(dtype=np.int64) - self.lengths[self.dead].sum(dtype=np.int64))

    def with_dead(self, ids: np.ndarray) -> "Segment":
        """This segment with `ids` (those of them it holds alive) marked dead."""
        places = np.searchsorted(self.rowids, ids)
        inside = places < len(self.rowids)
        places = places[inside][self.rowids[places[inside]] == ids[inside]]
        newly = np.setdiff1d(places.astype(np.uint32), self.dead)
        if not len(newly):
            return self
        dead = np.union1d(self.dead, newly).astype(np.uint32)
        dead_rows, dead_counts = _dead_postings(self, dead)
        return replace(self, dead=dead, dead_rows=dead_rows, dead_counts=dead_counts,
                       dead_folder=None)


@dataclass
class VersionMatrix:
    """A version's segments with its item count and token total (FTS5's N and sum of D)."""

    segments: list[Segment]
    rows: int
    tokens: int
    next_segment: int


def _dead_postings(segment: Segment, dead: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(term rows, how many of each row's postings are of `dead` items), rows ascending."""
    is_dead = np.zeros(len(segment.rowids), dtype=bool)
    is_dead[dead.astype(np.int64)] = True
    counts = np.zeros(len(segment.terms), dtype=np.int64)
    for start in range(0, segment.postings, BATCH_TOKENS):
        hits = np.flatnonzero(is_dead[segment.positions[start:start + BATCH_TOKENS]]) + start
        if len(hits):
            counts += np.bincount(np.searchsorted(segment.indptr, hits, side="right") - 1,
                                  minlength=len(counts))
    rows = np.flatnonzero(counts)
    return rows.astype(np.int64), counts[rows]


def read_postings(connection: sqlite3.Connection, schema: str, table: str, name: str,
                  show_progress: bool = False) -> Segment:
    """A segment of every row of the FTS5 table `schema.table`, read from its fts5vocab."""
    rowids = np.array([row for row, in connection.execute(
        f"SELECT id FROM {schema}.{table}_docsize ORDER BY id")], dtype=np.int64)
    places = _places_of(rowids)
    terms, batch, postings, frequencies, counts = [], [], [], [], []
    with progress_bar(total=fts5_totals(connection, schema, table)[1], unit="token",
                      desc="keyword index", disable=not show_progress) as bar:

        def add_batch():  # one term's items per entry of `batch`, each item once per token
            items = np.concatenate(batch)
            term_ids = np.repeat(np.arange(len(batch)), [len(part) for part in batch])
            starts = np.flatnonzero(np.r_[True, (items[1:] != items[:-1])
                                          | (term_ids[1:] != term_ids[:-1])])
            postings.append(places(items[starts]))
            frequencies.append(np.diff(np.r_[starts, len(items)]).astype(np.uint32))
            counts.append(np.bincount(term_ids[starts], minlength=len(batch)))
            bar.update(len(items))
            batch.clear()

        connection.execute(f"CREATE VIRTUAL TABLE temp.segment_instances "
                           f"USING fts5vocab({schema}, {table}, instance)")
        try:
            # The instance table lists (term, item, offset) in term then item order; grouping
            # by term in that order needs no sort.
            pending = 0
            for term, items in connection.execute(
                    "SELECT term, group_concat(doc, ',') FROM temp.segment_instances "
                    "GROUP BY term ORDER BY term"):
                terms.append(term)
                batch.append(np.fromstring(items, dtype=np.int64, sep=","))
                pending += len(batch[-1])
                if pending >= BATCH_TOKENS:
                    add_batch()
                    pending = 0
            if batch:
                add_batch()
        finally:
            connection.execute("DROP TABLE temp.segment_instances")
    indptr = np.zeros(len(terms) + 1, dtype=np.int64)
    indptr[1:] = np.cumsum(np.concatenate(counts)) if counts else []
    positions = np.concatenate(postings) if postings else np.zeros(0, np.uint32)
    tf = np.concatenate(frequencies) if frequencies else np.zeros(0, np.uint32)
    lengths = np.bincount(positions, weights=tf, minlength=len(rowids)).astype(np.uint32)
    return Segment(name, terms, indptr, positions, tf, lengths, rowids)


def _places_of(rowids: np.ndarray):
    """A function from item ids to their positions in the sorted `rowids`: a table lookup
    where the ids are dense enough (a build's are consecutive), else a binary search."""
    if not len(rowids) or int(rowids[-1] - rowids[0]) >= 4 * len(rowids):
        return lambda ids: np.searchsorted(rowids, ids).astype(np.uint32)
    low = int(rowids[0])
    table = np.zeros(int(rowids[-1]) - low + 1, dtype=np.uint32)
    table[rowids - low] = np.arange(len(rowids), dtype=np.uint32)
    return lambda ids: table[ids - low]


def segment_of_items(connection: sqlite3.Connection, ids: Iterable[int], tokenizer: str,
                     name: str) -> Segment:
    """A segment of the items `ids` of the items table, tokenized by an FTS5 table of their own
    (in memory, `tokenizer`: the full-text index's, so the same tokens)."""
    ids = [int(item) for item in sorted(ids)]
    connection.execute(f"CREATE VIRTUAL TABLE temp.segment USING fts5(text, "
                       f"tokenize='{tokenizer}')")
    try:
        for start in range(0, len(ids), IDS_PER_INSERT):
            connection.execute("INSERT INTO temp.segment(rowid, text) SELECT id, text FROM "
                               "main.items WHERE id IN (SELECT value FROM json_each(?))",
                               (json.dumps(ids[start:start + IDS_PER_INSERT]),))
        return read_postings(connection, "temp", "segment", name)
    finally:
        connection.execute("DROP TABLE temp.segment")


def connect(items_path: Path) -> sqlite3.Connection:
    """A read-only connection to a published (never changing) items database."""
    return sqlite3.connect(f"file:{items_path}?mode=ro&immutable=1", uri=True)


def whole_version(items_path: Path, show_progress: bool = False) -> VersionMatrix:
    """A version's matrix made whole from its FTS5 index: one segment."""
    connection = connect(items_path)
    try:
        segment = read_postings(connection, "main", FTS_TABLE, "s000001", show_progress)
        return _checked(connection, [segment], 2)
    finally:
        connection.close()


def _checked(connection: sqlite3.Connection, segments: list[Segment],
             next_segment: int) -> VersionMatrix:
    """The version, once its live items and tokens are found equal to FTS5's own totals."""
    rows, tokens = fts5_totals(connection)
    live = sum(len(segment.rowids) - len(segment.dead) for segment in segments)
    if live != rows or sum(segment.live_tokens() for segment in segments) != tokens:
        raise ValueError(f"the keyword segments hold {live} items, FTS5 {rows}")
    return VersionMatrix(segments, rows, tokens, next_segment)


def updated_version(items_path: Path, base: VersionMatrix, changed_ids: Iterable[int],
                    show_progress: bool = False) -> VersionMatrix:
    """The matrix of a version made from `base`'s version by changing the items `changed_ids`
    (added, replaced or deleted): those are marked dead where `base` holds them, and a new
    segment holds the ones that still exist; merged or made whole when due (see above)."""
    changed = np.unique(np.fromiter(changed_ids, dtype=np.int64))
    if len(changed) > MAX_DEAD_SHARE * max(base.rows, 1):  # a large write: made whole
        return whole_version(items_path, show_progress)
    segments = [segment.with_dead(changed) for segment in base.segments]
    slots = sum(len(segment.rowids) for segment in segments)
    dead = sum(len(segment.dead) for segment in segments)
    if slots and dead > MAX_DEAD_SHARE * slots:
        return whole_version(items_path, show_progress)
    connection = connect(items_path)
    try:
        tokenizer = table_tokenizer(connection)
        if tokenizer is None:
            raise ValueError("the full-text index's tokenizer is not one this can name")
        existing = [row for row, in connection.execute(
            "SELECT id FROM items WHERE id IN (SELECT value FROM json_each(?))",
            (json.dumps(changed.tolist()),))]
        number = base.next_segment
        if len(segments) + bool(existing) > MAX_SEGMENTS:
            merged = np.concatenate([segment.live_ids() for segment in segments[1:]]
                                    + [np.asarray(existing, dtype=np.int64)])
            segments = segments[:1] + [segment_of_items(connection, merged, tokenizer,
                                                        f"s{number:06d}")]
            number += 1
        elif existing:
            segments.append(segment_of_items(connection, existing, tokenizer, f"s{number:06d}"))
            number += 1
        return _checked(connection, segments, number)
    finally:
        connection.close()


def save_version(folder: Path, version: VersionMatrix, items_crc32: int | None) -> bool:
    """Write the version's matrix as `folder`, atomically (a temporary folder renamed), linking
    the files of segments already on disk; False (and nothing left) where it cannot be written
    (a read-only folder, one already there, the version removed meanwhile)."""
    _remove_abandoned(folder)
    temporary = folder.with_name(f"{FOLDER}.tmp-{os.getpid()}-{threading.get_ident()}")
    try:
        temporary.mkdir()
        for segment in version.segments:
            target = temporary / segment.name
            target.mkdir()
            names = [f"{name}.npy" for name in SEGMENT_FILES] + ["terms.json"]
            if segment.folder is not None:
                for name in names:
                    _link(segment.folder / name, target / name)
            else:
                for name in SEGMENT_FILES:
                    _write_array(target / f"{name}.npy", getattr(segment, name))
                _write_text(target / "terms.json", json.dumps(segment.terms, ensure_ascii=False))
            if len(segment.dead) and segment.dead_folder is not None:
                for name in DEAD_FILES:
                    _link(segment.dead_folder / f"{name}.npy", target / f"{name}.npy")
            elif len(segment.dead):
                for name in DEAD_FILES:
                    _write_array(target / f"{name}.npy", getattr(segment, name))
            fsync_path(target)
        _write_text(temporary / "meta.json", json.dumps(
            {"format": FORMAT, "items_crc32": items_crc32, "rows": version.rows,
             "tokens": version.tokens, "next_segment": version.next_segment,
             "segments": [segment.name for segment in version.segments]}))
        fsync_path(temporary)
        temporary.rename(folder)
        return True
    except OSError:
        shutil.rmtree(temporary, ignore_errors=True)
        return False


def _link(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:  # a file system without hard links: a copy
        shutil.copyfile(source, target)


def _write_array(path: Path, array: np.ndarray) -> None:
    with open(path, "wb") as handle:
        np.save(handle, array, allow_pickle=False)
        handle.flush()
        os.fsync(handle.fileno())


def _write_text(path: Path, text: str) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())


def _remove_abandoned(folder: Path) -> None:
    """Remove the temporary folders of processes that ended while writing (killed)."""
    for temporary in folder.parent.glob(f"{FOLDER}.tmp-*"):
        pid = temporary.name.split("-")[1]
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(temporary, ignore_errors=True)
        except (ValueError, OSError):  # not a pid, or another user's live process
            pass


def load_version(folder: Path, items_crc32: int | None) -> VersionMatrix | None:
    """The version's matrix saved in `folder`, memory-mapped; None if absent, of another format
    or database, or inconsistent (it is then made again)."""
    try:
        meta = json.loads((folder / "meta.json").read_text())
        if meta.get("format") != FORMAT or meta.get("items_crc32") != items_crc32:
            return None
        names = meta["segments"]
        if not (isinstance(names, list) and names
                and all(isinstance(name, str) and SEGMENT_NAME.fullmatch(name) for name in names)):
            return None
        segments = [_load_segment(folder / name, mapped=number == 0)
                    for number, name in enumerate(names)]
        rows, tokens, number = (int(meta[key]) for key in ("rows", "tokens", "next_segment"))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if any(segment is None for segment in segments):
        return None
    return VersionMatrix(segments, rows, tokens, number)


def _load_segment(folder: Path, mapped: bool) -> Segment | None:
    """The segment in `folder`, its arrays memory-mapped if `mapped` or it is large."""
    mapped = mapped or (folder / "positions.npy").stat().st_size >= MAP_MIN_BYTES
    # Plain arrays over the mapped files: numpy's memmap class costs a little on every slice.
    arrays = {name: np.load(folder / f"{name}.npy", mmap_mode="r" if mapped else None,
                            allow_pickle=False).view(np.ndarray) for name in SEGMENT_FILES}
    dead_folder = folder if (folder / "dead.npy").exists() else None
    if dead_folder is not None:
        arrays.update({name: np.load(folder / f"{name}.npy", allow_pickle=False)
                       for name in DEAD_FILES})
    terms = json.loads((folder / "terms.json").read_text(encoding="utf-8"))
    if not (isinstance(terms, list) and all(arrays[name].dtype == _DTYPES[name] and
                                            arrays[name].ndim == 1 for name in arrays)):
        return None
    indptr, positions = arrays["indptr"], arrays["positions"]
    if not (len(indptr) == len(terms) + 1 and indptr[0] == 0
            and len(positions) == len(arrays["frequencies"]) == indptr[-1]
            and len(arrays["lengths"]) == len(arrays["rowids"])
            and bool(np.all(np.diff(indptr) >= 0))):
        return None
    return Segment(folder.name, terms, **arrays, folder=folder, dead_folder=dead_folder)
