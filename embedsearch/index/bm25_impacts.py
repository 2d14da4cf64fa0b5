"""Top-k BM25 without scoring every match: FTS5's own BM25 terms from a term-by-item matrix.

FTS5's `bm25()` is computed row by row for every row a query matches, so a
phrase of common words over a large index costs as much as scoring a large
share of the index. This module answers from each term's postings (the items
it occurs in, with the term's frequency there: `bm25_segments`, CSR by term
as the `bm25s` library stores them). A query adds its terms' BM25 terms into
one score per item, rarest term first, and stops early in the manner of
MaxScore: once no item that only the remaining (common) terms match could
reach the k-th score so far (no term adds more than idf * (k1 + 1)), those
terms are looked up by binary search only for the items still within reach.
Words in half the rows or more, whose IDF FTS5 floors to 1e-6, are the usual
ones left out this way. A version's postings are in a few segments (see
`bm25_segments`); they are searched as one matrix whose columns are the
segments' items one after another, dead items masked out.

It is exact for its version: the postings are read from FTS5 itself (so the
tokens are FTS5's own), versions are never changed once published, and each
term's score is computed at query time from the version's own item count,
token total and document frequencies with the same floating-point operations
in the same order as FTS5's `bm25()` (`idf * (tf * (k1 + 1)) / (tf + k1 *
(1 - b + b * D / avgdl))`, summed over the query's phrases in order): equal to
FTS5's, not just close; only the order of equal scores may differ.

When the matrix is made: every version a writer publishes gets its matrix at
commit (`VersionMatrixMaker`), from the previous version's segments and a small
segment of the items the write changed, in time proportional to those items
(and, where it replaced or deleted some, to the postings of the segments that
held them, counted out of the document frequencies); an index's first version (or the first write to an index that had none) makes
it whole, a pass over FTS5's postings (minutes at a million items, a share of
the build it ends). Made at write time, a CLI query (one process, one query)
finds it ready, where a matrix made at query time would be abandoned
unfinished at exit. A version without one (an index written before this, a
write that could not save it) never makes a query wait either: `open(wait=False)`
starts making it in a background thread (one per version per process) and
FTS5's `bm25()` answers until it is saved; a small index (under
`INLINE_BUILD_ITEMS` items, about a second's work) makes it inline: its one
wait is short and every later query fast. FTS5 stays the source of truth and
answers whatever this cannot.

    impacts = Bm25Impacts.open(version_dir, version_dir / "items.db", TOKENIZER, crc32)
    impacts.search([["fish"], ["sea"]], k=10)   # [(item id, score), ...] best first
"""

from __future__ import annotations

import math
import sqlite3
import threading
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from .bm25_segments import (FOLDER, Segment, VersionMatrix, load_version, save_version,
                            updated_version, whole_version)
from .items import ITEMS_FILE

K1, B = 1.2, 0.75  # FTS5's bm25() constants
FLOOR_IDF = 1e-6  # FTS5's IDF for a term in half the rows or more
ROUNDING = 1e-9  # far above the rounding of a sum of scores in another order
INLINE_BUILD_ITEMS = 10_000  # below this many items a query makes a missing matrix itself
UNSAVED_KEPT = 2  # matrices made where they could not be saved, kept in memory per process
_building = threading.Lock()  # inline builds, one at a time
_registry = threading.Lock()  # guards the three below
_builders: dict[tuple, threading.Thread] = {}  # (version folder, crc) -> its background builder
_unsaved: dict[tuple, "Bm25Impacts"] = {}
_failed: set[tuple] = set()


def fts5_idf(rows: int, hits: np.ndarray) -> np.ndarray:
    """FTS5's IDF: log((N - n + 0.5) / (n + 0.5)), or 1e-6 where that is not above zero.

    Taken with the C library's `log`, as SQLite takes it (a query has few terms): numpy's
    vectorised log differs from it in the last bit on CPUs with AVX-512, and the scores
    would then differ from FTS5's.
    """
    idf = np.array([math.log((rows - n + 0.5) / (n + 0.5)) for n in np.asarray(hits).tolist()],
                   dtype=np.float64)
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


class _Term:
    """A query term in this version: its row in each segment that has it, and its IDF."""

    __slots__ = ("parts", "idf", "postings")

    def __init__(self, parts: list[tuple[int, int]], postings: int):
        self.parts, self.postings, self.idf = parts, postings, 0.0


class Bm25Impacts:
    """One version's BM25 matrix (term rows, item columns); see the module docstring."""

    def __init__(self, tokenizer: str, version: VersionMatrix):
        self.tokenizer = tokenizer  # the full-text index's: queries are tokenized with it
        self.segments = version.segments
        self.rows = version.rows
        self.avgdl = float(version.tokens) / float(version.rows) if version.rows else 1.0
        self.term_rows = [{term: row for row, term in enumerate(segment.terms)}
                          for segment in self.segments]
        self.dead_postings = [dict(zip(segment.dead_rows.tolist(), segment.dead_counts.tolist()))
                              for segment in self.segments]  # term row -> postings of dead items
        sizes = [len(segment.rowids) for segment in self.segments]
        self.offsets = np.r_[0, np.cumsum(sizes)].astype(np.int64)
        self.rowids = self.segments[0].rowids if len(self.segments) == 1 else \
            np.concatenate([segment.rowids for segment in self.segments])
        self.live = None  # where segments have dead items: False at theirs
        if any(len(segment.dead) for segment in self.segments):
            self.live = np.ones(len(self.rowids), dtype=bool)
            for offset, segment in zip(self.offsets, self.segments):
                self.live[offset + segment.dead.astype(np.int64)] = False
        self._norms = None
        self._local = threading.local()

    @classmethod
    def open(cls, version_dir: Path, items_path: Path, tokenizer: str, items_crc32: int | None,
             show_progress: bool = True, wait: bool = True) -> "Bm25Impacts | None":
        """The matrix saved in `version_dir`, else made whole from the items database (and
        saved there if it can be written). `items_crc32` ties a saved matrix to the database
        it was made from; `tokenizer` is the full-text index's. With `wait` False a missing
        matrix is made in a background thread and None returned meanwhile (and if making it
        failed)."""
        folder = version_dir / FOLDER
        found = load_version(folder, items_crc32)
        if found is not None:
            return cls(tokenizer, found)
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
            found = load_version(folder, items_crc32)
            if found is None:
                made = whole_version(items_path, show_progress)
                save_version(folder, made, items_crc32)
                found = load_version(folder, items_crc32) or made
        return cls(tokenizer, found)

    def search(self, phrases: Sequence[Sequence[str]], k: int,
               allowed_ids: np.ndarray | None = None) -> list[tuple[int, float]]:
        """The k best (item id, BM25 score) for a query given as its phrases' tokens, best first.

        Each phrase must be one token (a longer phrase is FTS5's to score); a token
        not in the index matches nothing. `allowed_ids` restricts the search to those
        items (a mask inside the search, not a post-filter).
        """
        if any(len(tokens) != 1 for tokens in phrases):
            raise ValueError("only one-token phrases are scored from the impact matrix")
        terms = self._terms([tokens[0] for tokens in phrases])
        if not terms or k <= 0:
            return []
        mask = self._mask(allowed_ids)
        bounds = [term.idf * (K1 + 1.0) for term in terms]  # no term adds more than this
        order = sorted(range(len(terms)), key=lambda i: -bounds[i])
        scores, scattered = self._buffer("scores", np.float64), []
        try:
            for step, i in enumerate(order):
                self._scatter(terms[i], scores)
                scattered.append(terms[i])
                candidates, partial = self._candidates(scattered, scores, mask)
                rest = float(sum(bounds[j] for j in order[step + 1:]))
                if len(partial) >= k and rest + ROUNDING < _kth(partial, k):
                    break  # no item that only the rest match can reach the top k
        finally:
            self._clear(scores, scattered)
        remaining = order[len(scattered):]
        candidates = self._within_reach(candidates, partial, [terms[j] for j in remaining],
                                        [float(bounds[j]) for j in remaining], k)
        exact = np.zeros(len(candidates))
        for term in terms:  # FTS5's sum: every phrase, in the query's order
            exact += self._lookup(term, candidates)
        best = np.lexsort((self.rowids[candidates], -exact))[:k]
        return [(int(item), float(score))
                for item, score in zip(self.rowids[candidates[best]], exact[best])]

    def _terms(self, tokens: list[str]) -> list[_Term]:
        """The tokens' terms with their IDF from this version's document frequencies (postings
        less those of dead items), in the query's order; tokens that match nothing left out."""
        terms = []
        for token in tokens:
            parts, postings = [], 0
            for number, (segment, rows) in enumerate(zip(self.segments, self.term_rows)):
                row = rows.get(token)
                if row is not None:
                    parts.append((number, row))
                    postings += int(segment.indptr[row + 1] - segment.indptr[row]) \
                        - self.dead_postings[number].get(row, 0)
            if postings:
                terms.append(_Term(parts, postings))
        if terms:
            idf = fts5_idf(self.rows, np.array([term.postings for term in terms]))
            for term, value in zip(terms, idf):
                term.idf = value
        return terms

    def _norms_of(self, slots: np.ndarray) -> np.ndarray:
        """k1 * (1 - b + b * D / avgdl) of the items at `slots`, as FTS5 computes it."""
        if self._norms is None:
            length = np.concatenate([segment.lengths for segment in self.segments]) \
                .astype(np.float64)
            self._norms = K1 * (1 - B + B * length / self.avgdl)
        return self._norms[slots]

    def _impacts(self, idf: float, frequencies: np.ndarray, slots: np.ndarray) -> np.ndarray:
        """The BM25 terms of one term at `slots`: FTS5's operations, in FTS5's order."""
        # idf * ((tf * (k1 + 1)) / (tf + norm)), in place (IEEE sums and products commute).
        frequency = frequencies.astype(np.float64)
        denominator = self._norms_of(slots)
        denominator += frequency
        frequency *= K1 + 1.0
        frequency /= denominator
        frequency *= idf
        return frequency

    def _part(self, number: int, row: int) -> tuple[Segment, int, int, int]:
        segment = self.segments[number]
        return segment, int(self.offsets[number]), segment.indptr[row], segment.indptr[row + 1]

    def _slots(self, number: int, row: int) -> np.ndarray:
        """The columns (segment offset + item position) of a segment row's postings."""
        segment, offset, start, end = self._part(number, row)
        positions = segment.positions[start:end]
        return positions if offset == 0 else positions.astype(np.int64) + offset

    def _scatter(self, term: _Term, scores: np.ndarray) -> None:
        for number, row in term.parts:
            segment, _, start, end = self._part(number, row)
            slots = self._slots(number, row)
            scores[slots] += self._impacts(term.idf, segment.frequencies[start:end], slots)

    def _within_reach(self, candidates: np.ndarray, partial: np.ndarray, terms: list[_Term],
                      bounds: list[float], k: int) -> np.ndarray:
        """The candidates that can still be in the top k once `terms` (those not added yet)
        are: those terms are looked up for the candidates one at a time, and after each a
        candidate whose score so far plus the bounds of the terms left cannot reach the k-th
        score so far is dropped."""
        rest = sum(bounds)
        candidates, partial = _prune(candidates, partial, rest, k)
        ascending = np.argsort(candidates)  # binary searches in order: faster
        candidates, partial = candidates[ascending], partial[ascending]
        for term, bound in zip(terms, bounds):
            partial = partial + self._lookup(term, candidates)
            rest -= bound
            candidates, partial = _prune(candidates, partial, rest, k)
        return candidates

    def _lookup(self, term: _Term, candidates: np.ndarray) -> np.ndarray:
        """The term's BM25 term for each of the (ascending) candidates, 0 where it does not
        occur, each found by binary search in the sorted postings of its segment."""
        found = np.zeros(len(candidates))
        for number, row in term.parts:
            segment, offset, start, end = self._part(number, row)
            postings = segment.positions[start:end]
            first, last = np.searchsorted(candidates, [offset, offset + len(segment.rowids)]) \
                if len(self.segments) > 1 else (0, len(candidates))
            local = candidates[first:last] - offset if offset else candidates[first:last]
            places = np.minimum(np.searchsorted(postings, local), len(postings) - 1)
            hit = np.flatnonzero(postings[places] == local)
            found[first + hit] = self._impacts(
                term.idf, segment.frequencies[start + places[hit]], candidates[first + hit])
        return found

    def _candidates(self, terms: list[_Term], scores: np.ndarray, mask):
        """(columns, partial scores) of the allowed live items the terms occur in."""
        candidates = self._matched(terms)
        if mask is not None:
            candidates = candidates[mask[candidates]]
        return candidates, scores[candidates]

    def _buffer(self, name: str, dtype) -> np.ndarray:
        """This thread's array `name` of one value per column, made once (allocating and
        zeroing a fresh one per query costs as much as a query)."""
        found = getattr(self._local, name, None)
        if found is None:
            found = np.zeros(len(self.rowids), dtype=dtype)
            setattr(self._local, name, found)
        return found

    def _clear(self, scores: np.ndarray, terms: list[_Term]) -> None:
        if sum(term.postings for term in terms) * 8 < len(scores):
            for term in terms:
                for number, row in term.parts:
                    scores[self._slots(number, row)] = 0.0
        else:
            scores.fill(0.0)

    def _matched(self, terms: list[_Term]) -> np.ndarray:
        """Columns of the items the terms occur in, each once, in time proportional to the
        postings (not to the index): a duplicate is told by the last place it was stamped."""
        parts = [self._slots(number, row) for term in terms for number, row in term.parts]
        if len(terms) == 1:  # a term holds each column once
            return np.concatenate(parts).astype(np.int64) if len(parts) > 1 \
                else np.asarray(parts[0], dtype=np.int64)
        found = np.concatenate(parts).astype(np.int64)
        stamps = self._buffer("stamps", np.int64)  # what it held before does not matter
        places = np.arange(len(found))
        stamps[found] = places
        return found[stamps[found] == places]

    def _mask(self, allowed_ids: np.ndarray | None) -> np.ndarray | None:
        """The live columns, of `allowed_ids` only if given (None: every column)."""
        if allowed_ids is None:
            return self.live
        allowed_ids = np.asarray(allowed_ids, dtype=np.int64)
        mask = np.zeros(len(self.rowids), dtype=bool)
        for offset, segment in zip(self.offsets, self.segments):
            places = np.searchsorted(segment.rowids, allowed_ids)
            inside = places < len(segment.rowids)
            places, wanted = places[inside], allowed_ids[inside]
            mask[offset + places[segment.rowids[places] == wanted]] = True
        return mask if self.live is None else mask & self.live


class VersionMatrixMaker:
    """A new version's matrix made at write time in a background thread, started once its
    items database is final (its rows and FTS5 index written) and saved at the end of the
    commit, when the database's checksum is known: the pass over FTS5's postings runs while
    the commit fills and writes the FAISS index, so a build waits for it only as long as it
    outlasts them (on a machine with a free core).

        maker = VersionMatrixMaker(tmp_dir, base_dir, base_crc32, changed_ids)
        ...  # FAISS filled and written, files checksummed
        maker.save(items_crc32)   # False where it could not be made or saved
    """

    def __init__(self, version_dir: Path, base_dir: Path | None = None,
                 base_crc32: int | None = None, changed_ids: Iterable[int] | None = None,
                 show_progress: bool = False):
        self.version_dir = version_dir
        self.version: VersionMatrix | None = None
        self.error: BaseException | None = None
        self._thread = threading.Thread(
            target=self._make, daemon=True, name=f"keyword matrix {version_dir.name}",
            args=(base_dir, base_crc32, None if changed_ids is None else list(changed_ids),
                  show_progress))
        self._thread.start()

    def _make(self, base_dir, base_crc32, changed_ids, show_progress) -> None:
        items_path = self.version_dir / ITEMS_FILE
        base = load_version(base_dir / FOLDER, base_crc32) \
            if base_dir is not None and changed_ids is not None else None
        try:
            try:
                self.version = whole_version(items_path, show_progress) if base is None else \
                    updated_version(items_path, base, changed_ids, show_progress)
            except ValueError:  # the segments disagree with FTS5's totals: made whole instead
                if base is None:
                    raise
                self.version = whole_version(items_path, show_progress)
        except (sqlite3.Error, OSError, ValueError, MemoryError):  # the write stands without it
            pass
        except BaseException as error:  # anything else is the commit's to raise
            self.error = error

    def save(self, items_crc32: int | None) -> bool:
        """Wait for the matrix and save it in the version's folder, tied to `items_crc32`.

        (A commit given up never calls this: the thread only reads, and its work is lost.)"""
        self._thread.join()
        if self.error is not None:
            raise self.error
        return self.version is not None and \
            save_version(self.version_dir / FOLDER, self.version, items_crc32)


def wait_for_builders(timeout: float | None = None) -> None:
    """Wait for this process's background builds to end (tests, benchmarks)."""
    with _registry:
        running = list(_builders.values())
    for builder in running:
        builder.join(timeout)


def _build_in_background(key: tuple, folder: Path, items_path: Path, tokenizer: str,
                         items_crc32: int | None) -> None:
    """Make and save a version's matrix; kept in memory only where it could not be saved.

    It reads its own read-only connection and writes only through `save_version`'s
    atomic rename, so the index being closed, or the version superseded or removed
    meanwhile, costs nothing but the work (the save then fails quietly)."""
    made = None
    try:
        version = whole_version(items_path)
        if not save_version(folder, version, items_crc32) and folder.parent.is_dir() \
                and load_version(folder, items_crc32) is None:
            made = Bm25Impacts(tokenizer, version)
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
