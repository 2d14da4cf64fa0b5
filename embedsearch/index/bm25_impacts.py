"""Top-k BM25 without scoring every match: a term-by-item matrix of FTS5's own BM25 terms.

FTS5's `bm25()` is computed row by row for every row a query matches, so a
phrase of common words over a large index costs as much as scoring a large
share of the index. This module holds, for one index version, each term's
postings (the items it occurs in, as positions in `rowids`) with the BM25
term FTS5 would add for it (`impacts`, CSR by term, as the `bm25s` library
stores them). A query adds its terms' rows into one score per item, rarest
term first, and stops early in the manner of MaxScore: once no item that only
the remaining (common) terms match could reach the k-th score so far (no
impact exceeds idf * (k1 + 1)), those terms are looked up by binary search
only for the items still within reach. Words in half the rows or more, whose
IDF FTS5 floors to 1e-6, are the usual ones left out this way.

It is exact for its version: the postings are read from FTS5 itself (the
`fts5vocab` instance table, so the tokens are FTS5's own), versions are never
changed once published, and the final scores are computed with the same
floating-point operations in the same order as FTS5's `bm25()`
(`idf * (tf * (k1 + 1)) / (tf + k1 * (1 - b + b * D / avgdl))`, summed over
the query's phrases in order): equal to FTS5's, not just close; only the
order of equal scores may differ.

The matrix is cached as `.npy` files in the version's `keyword/` folder where
that can be written (memory-mapped on later opens); FTS5 stays the source of
truth and answers whatever this cannot. No query waits for a large matrix to
be made: where a version has none, `open(wait=False)` starts making it in a
background thread (one per version per process) and FTS5's `bm25()` answers
until it is saved; a small index (under `INLINE_BUILD_ITEMS` items, made in
less time than a few FTS5 queries over a large one) makes it inline.

    impacts = Bm25Impacts.open(version_dir, version_dir / "items.db", TOKENIZER, crc32)
    impacts.search([["fish"], ["sea"]], k=10)   # [(item id, score), ...] best first
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import threading
from pathlib import Path
from typing import Sequence

import numpy as np

from ..progress import progress_bar

FOLDER = "keyword"
FORMAT = 1
K1, B = 1.2, 0.75  # FTS5's bm25() constants
FLOOR_IDF = 1e-6  # FTS5's IDF for a term in half the rows or more
ROUNDING = 1e-9  # far above the rounding of a sum of scores in another order
BATCH_TOKENS = 2**22  # tokens grouped into postings at a time while the matrix is made
INLINE_BUILD_ITEMS = 50_000  # below this many items a query makes a missing matrix itself
UNSAVED_KEPT = 2  # matrices made where they could not be saved, kept in memory per process
_FILES = ("indptr", "positions", "impacts", "rowids")
_building = threading.Lock()  # inline builds, one at a time
_registry = threading.Lock()  # guards the three below
_builders: dict[tuple, threading.Thread] = {}  # (version folder, crc) -> its background builder
_unsaved: dict[tuple, "Bm25Impacts"] = {}
_failed: set[tuple] = set()


def fts5_idf(rows: int, hits: np.ndarray) -> np.ndarray:
    """FTS5's IDF: log((N - n + 0.5) / (n + 0.5)), or 1e-6 where that is not above zero."""
    idf = np.log((rows - hits + 0.5) / (hits + 0.5))
    return np.where(idf <= 0.0, FLOOR_IDF, idf)


def _kth(values: np.ndarray, k: int) -> float:
    """The k-th largest of `values` (at least k of them)."""
    return float(np.partition(values, len(values) - k)[len(values) - k])


def _prune(candidates: np.ndarray, partial: np.ndarray, rest: float, k: int):
    """Keep the candidates whose partial score plus `rest` can reach the k-th partial score."""
    if len(partial) <= k:
        return candidates, partial
    keep = partial >= _kth(partial, k) - rest - ROUNDING
    return candidates[keep], partial[keep]


class Bm25Impacts:
    """One version's BM25 impact matrix (term rows, item columns); see the module docstring."""

    def __init__(self, tokenizer: str, terms: Sequence[str], indptr: np.ndarray,
                 positions: np.ndarray, impacts: np.ndarray, rowids: np.ndarray):
        self.tokenizer = tokenizer  # the full-text index's: queries are tokenized with it
        self.term_rows = {term: row for row, term in enumerate(terms)}
        self.indptr, self.positions, self.impacts, self.rowids = indptr, positions, impacts, rowids
        self._local = threading.local()

    @classmethod
    def open(cls, version_dir: Path, items_path: Path, tokenizer: str, items_crc32: int | None,
             show_progress: bool = True, wait: bool = True) -> "Bm25Impacts | None":
        """The matrix cached in `version_dir`, else made from the items database (and cached
        there if it can be written). `items_crc32` ties a cache to the database it was made
        from; `tokenizer` is the full-text index's. With `wait` False a missing matrix is
        made in a background thread and None returned meanwhile (and if making it failed)."""
        folder = version_dir / FOLDER
        found = _load(folder, tokenizer, items_crc32)
        if found is not None:
            return found
        key = (str(version_dir), items_crc32)
        with _registry:
            if key in _unsaved or key in _failed:
                return _unsaved.get(key)
            if not wait:
                if key not in _builders:
                    _builders[key] = threading.Thread(
                        target=_build_in_background, daemon=True, name=f"keyword index {key}",
                        args=(key, folder, items_path, tokenizer, items_crc32))
                    _builders[key].start()
                return None
        with _building:
            found = _load(folder, tokenizer, items_crc32)
            if found is None:
                arrays = build_arrays(items_path, show_progress)
                _save(folder, arrays, items_crc32)
                found = _load(folder, tokenizer, items_crc32) or cls(tokenizer, *arrays)
        return found

    def search(self, phrases: Sequence[Sequence[str]], k: int,
               allowed_ids: np.ndarray | None = None) -> list[tuple[int, float]]:
        """The k best (item id, BM25 score) for a query given as its phrases' tokens, best first.

        Each phrase must be one token (a longer phrase is FTS5's to score); a token
        not in the index matches nothing. `allowed_ids` restricts the search to those
        items (a mask inside the search, not a post-filter).
        """
        if any(len(tokens) != 1 for tokens in phrases):
            raise ValueError("only one-token phrases are scored from the impact matrix")
        rows = [self.term_rows.get(tokens[0]) for tokens in phrases]
        rows = [row for row in rows if row is not None]
        if not rows or k <= 0:
            return []
        mask = self._mask(allowed_ids)
        bounds = fts5_idf(len(self.rowids), self.indptr[np.add(rows, 1)] - self.indptr[rows]) \
            * (K1 + 1.0)  # no impact of a term exceeds idf * (k1 + 1)
        order = sorted(range(len(rows)), key=lambda i: -bounds[i])
        scores, scattered = self._buffer("scores", np.float64), []
        try:
            for step, i in enumerate(order):
                start, end = self.indptr[rows[i]], self.indptr[rows[i] + 1]
                scores[self.positions[start:end]] += self.impacts[start:end]
                scattered.append(rows[i])
                candidates, partial = self._candidates(scattered, scores, mask)
                rest = float(sum(bounds[j] for j in order[step + 1:]))
                if len(partial) >= k and rest + ROUNDING < _kth(partial, k):
                    break  # no item that only the rest match can reach the top k
        finally:
            self._clear(scores, scattered)
        remaining = order[len(scattered):]
        candidates = self._within_reach(candidates, partial, [rows[j] for j in remaining],
                                        [float(bounds[j]) for j in remaining], k)
        exact = np.zeros(len(candidates))
        for row in rows:  # FTS5's sum: every phrase, in the query's order
            exact += self._lookup(row, candidates)
        best = np.lexsort((self.rowids[candidates], -exact))[:k]
        return [(int(item), float(score))
                for item, score in zip(self.rowids[candidates[best]], exact[best])]

    def _within_reach(self, candidates: np.ndarray, partial: np.ndarray, rows: list[int],
                      bounds: list[float], k: int) -> np.ndarray:
        """The candidates that can still be in the top k once `rows` (the terms not added
        yet) are: those rows are looked up for the candidates one at a time, and after each
        a candidate whose score so far plus the bounds of the rows left cannot reach the
        k-th score so far is dropped."""
        rest = sum(bounds)
        candidates, partial = _prune(candidates, partial, rest, k)
        ascending = np.argsort(candidates)  # binary searches in order: faster
        candidates, partial = candidates[ascending], partial[ascending]
        for row, bound in zip(rows, bounds):
            partial = partial + self._lookup(row, candidates)
            rest -= bound
            candidates, partial = _prune(candidates, partial, rest, k)
        return candidates

    def _lookup(self, row: int, candidates: np.ndarray) -> np.ndarray:
        """The row's impact for each candidate (0 where its term does not occur), each found by
        binary search in the row's sorted postings."""
        start = self.indptr[row]
        postings = self.positions[start:self.indptr[row + 1]]
        places = np.minimum(np.searchsorted(postings, candidates), len(postings) - 1)
        hit = postings[places] == candidates
        found = np.zeros(len(candidates))
        found[hit] = self.impacts[start + places[hit]]
        return found

    def _postings(self, row: int) -> int:
        return int(self.indptr[row + 1] - self.indptr[row])

    def _candidates(self, rows: list[int], scores: np.ndarray, mask):
        """(positions, partial scores) of the allowed items the rows' terms occur in."""
        candidates = self._matched(rows)
        if mask is not None:
            candidates = candidates[mask[candidates]]
        return candidates, scores[candidates]

    def _buffer(self, name: str, dtype) -> np.ndarray:
        """This thread's array `name` of one value per item, made once (allocating and zeroing
        a fresh one per query costs as much as a query)."""
        found = getattr(self._local, name, None)
        if found is None:
            found = np.zeros(len(self.rowids), dtype=dtype)
            setattr(self._local, name, found)
        return found

    def _clear(self, scores: np.ndarray, rows: list[int]) -> None:
        if sum(map(self._postings, rows)) * 8 < len(scores):
            for row in rows:
                scores[self.positions[self.indptr[row]:self.indptr[row + 1]]] = 0.0
        else:
            scores.fill(0.0)

    def _matched(self, rows: list[int]) -> np.ndarray:
        """Positions of the items the rows' terms occur in, each once, in time proportional to
        the postings (not to the index): a duplicate is told by the last place it was stamped."""
        parts = [self.positions[self.indptr[row]:self.indptr[row + 1]] for row in rows]
        if len(parts) <= 1:  # a row holds each item once
            return np.asarray(parts[0] if parts else [], dtype=np.int64)
        found = np.concatenate(parts).astype(np.int64)
        stamps = self._buffer("stamps", np.int64)  # what it held before does not matter
        places = np.arange(len(found))
        stamps[found] = places
        return found[stamps[found] == places]

    def _mask(self, allowed_ids: np.ndarray | None) -> np.ndarray | None:
        if allowed_ids is None:
            return None
        allowed_ids = np.asarray(allowed_ids, dtype=np.int64)
        places = np.searchsorted(self.rowids, allowed_ids)
        inside = places < len(self.rowids)
        places, allowed_ids = places[inside], allowed_ids[inside]
        mask = np.zeros(len(self.rowids), dtype=bool)
        mask[places[self.rowids[places] == allowed_ids]] = True
        return mask


def build_arrays(items_path: Path, show_progress: bool = True):
    """(terms, indptr, positions, impacts, rowids) read from the items database's FTS5 index."""
    connection = sqlite3.connect(f"file:{items_path}?mode=ro&immutable=1", uri=True)
    try:
        connection.execute("CREATE VIRTUAL TABLE temp.fts_instances "
                           "USING fts5vocab(main, items_fts, instance)")
        connection.execute("CREATE VIRTUAL TABLE temp.fts_terms "
                           "USING fts5vocab(main, items_fts, row)")
        rowids = np.array([row for row, in connection.execute(
            "SELECT id FROM items_fts_docsize ORDER BY id")], dtype=np.int64)
        term_count = connection.execute("SELECT count(*) FROM fts_terms").fetchone()[0]
        terms, batch, postings, frequencies, counts = [], [], [], [], []

        def add_batch():  # one term's items per entry of `batch`, each item once per token
            items = np.concatenate(batch)
            term_ids = np.repeat(np.arange(len(batch)), [len(part) for part in batch])
            starts = np.flatnonzero(np.r_[True, (items[1:] != items[:-1])
                                          | (term_ids[1:] != term_ids[:-1])])
            postings.append(np.searchsorted(rowids, items[starts]).astype(np.uint32))
            frequencies.append(np.diff(np.r_[starts, len(items)]).astype(np.uint32))
            counts.append(np.bincount(term_ids[starts], minlength=len(batch)))
            batch.clear()

        # The instance table lists (term, item, offset) in term then item order; grouping by
        # term in that order needs no sort.
        cursor = connection.execute("SELECT term, group_concat(doc, ',') FROM fts_instances "
                                    "GROUP BY term ORDER BY term")
        with progress_bar(total=term_count, unit="term", desc="keyword index",
                          disable=not show_progress) as bar:
            pending = 0
            for term, items in cursor:
                terms.append(term)
                batch.append(np.fromstring(items, dtype=np.int64, sep=","))
                pending += len(batch[-1])
                if pending >= BATCH_TOKENS:
                    add_batch()
                    bar.update(len(terms) - bar.n)
                    pending = 0
            if batch:
                add_batch()
            bar.update(len(terms) - bar.n)
    finally:
        connection.close()
    indptr = np.zeros(len(terms) + 1, dtype=np.int64)
    indptr[1:] = np.cumsum(np.concatenate(counts)) if counts else []
    positions = np.concatenate(postings) if postings else np.zeros(0, np.uint32)
    tf = np.concatenate(frequencies) if frequencies else np.zeros(0, np.uint32)
    del postings, frequencies
    lengths = np.bincount(positions, weights=tf, minlength=len(rowids))  # tokens per item (D)
    avgdl = float(lengths.sum()) / float(len(rowids)) if len(rowids) else 1.0
    idf = fts5_idf(len(rowids), np.diff(indptr))
    impacts = np.empty(len(positions))
    for start in range(0, len(positions), BATCH_TOKENS):  # in parts: bounded temporary memory
        part = slice(start, start + BATCH_TOKENS)
        terms_of = np.searchsorted(indptr, np.arange(start, start + len(impacts[part])),
                                   side="right") - 1
        frequency, length = tf[part].astype(np.float64), lengths[positions[part]]
        # The same operations in the same order as FTS5's fts5Bm25Function, in double precision.
        impacts[part] = idf[terms_of] * ((frequency * (K1 + 1.0))
                                         / (frequency + K1 * (1 - B + B * length / avgdl)))
    return terms, indptr, positions, impacts, rowids


def wait_for_builders(timeout: float | None = None) -> None:
    """Wait for this process's background builds to end (tests, benchmarks)."""
    with _registry:
        running = list(_builders.values())
    for builder in running:
        builder.join(timeout)


def _build_in_background(key: tuple, folder: Path, items_path: Path, tokenizer: str,
                         items_crc32: int | None) -> None:
    """Make and save a version's matrix; kept in memory only where it could not be saved.

    It reads its own read-only connection and writes only through `_save`'s atomic
    rename, so the index being closed, or the version superseded or removed meanwhile,
    costs nothing but the work (the save then fails quietly)."""
    made = None
    try:
        arrays = build_arrays(items_path, show_progress=False)
        _save(folder, arrays, items_crc32)
        if _load(folder, tokenizer, items_crc32) is None and folder.parent.is_dir():
            made = Bm25Impacts(tokenizer, *arrays)
    except (sqlite3.Error, OSError, ValueError, MemoryError):
        with _registry:
            _failed.add(key)
    finally:
        with _registry:
            if made is not None:
                _unsaved[key] = made
                while len(_unsaved) > UNSAVED_KEPT:
                    del _unsaved[next(iter(_unsaved))]
            del _builders[key]


def _save(folder: Path, arrays, items_crc32: int | None) -> None:
    """Write the arrays into `folder` atomically (a temporary folder renamed); skipped quietly
    where the version folder is read-only or another process wrote it first."""
    terms, *numeric = arrays
    _remove_abandoned(folder)
    temporary = folder.with_name(f"{FOLDER}.tmp-{os.getpid()}-{threading.get_ident()}")
    try:
        temporary.mkdir()
        for name, array in zip(_FILES, numeric):
            np.save(temporary / f"{name}.npy", array, allow_pickle=False)
        (temporary / "terms.json").write_text(json.dumps(terms, ensure_ascii=False))
        (temporary / "meta.json").write_text(json.dumps(
            {"format": FORMAT, "items_crc32": items_crc32, "terms": len(terms),
             "postings": int(len(numeric[1])), "items": int(len(numeric[3]))}))
        temporary.rename(folder)
    except OSError:
        shutil.rmtree(temporary, ignore_errors=True)


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


def _load(folder: Path, tokenizer: str, items_crc32: int | None) -> Bm25Impacts | None:
    """The cached matrix, memory-mapped; None if absent, of another format or database, or
    inconsistent (it is then made again)."""
    try:
        meta = json.loads((folder / "meta.json").read_text())
        if meta.get("format") != FORMAT or meta.get("items_crc32") != items_crc32:
            return None
        # Plain arrays over the mapped files: numpy's memmap class costs a little on every slice.
        arrays = {name: np.load(folder / f"{name}.npy", mmap_mode="r",
                                allow_pickle=False).view(np.ndarray) for name in _FILES}
        terms = json.loads((folder / "terms.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    indptr, positions, impacts, rowids = (arrays[name] for name in _FILES)
    if not (isinstance(terms, list) and len(indptr) == len(terms) + 1 == meta["terms"] + 1
            and indptr.dtype == np.int64 and positions.dtype == np.uint32
            and impacts.dtype == np.float64 and rowids.dtype == np.int64
            and len(positions) == len(impacts) == indptr[-1] == meta["postings"]
            and len(rowids) == meta["items"] and indptr[0] == 0
            and bool(np.all(np.diff(indptr) >= 0))):
        return None
    return Bm25Impacts(tokenizer, terms, indptr, positions, impacts, rowids)
