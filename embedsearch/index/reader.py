"""Reading an index: the live version's FAISS index, item rows and vectors, checked to agree.

`Index.open` reads the live version of an index directory: the manifest, the
FAISS index (memory-mapped where the type allows), the raw unit vectors
(`vectors.f32` or `vectors.f16`, memory-mapped; row = item id), the
tombstones and the items database. It checks the files against the sizes and
checksums in the manifest and that the parts agree on the item count before
answering anything. Changes go through `writer.IndexWriter`.

    with Index.open("demo") as index:
        index.search(vectors[:1], k=5)   # [[Hit(id=0, key="item0", score=1.0), ...]]
        index.search_arrays(vectors, k=5).keys   # (rows, 5) keys, no object per hit
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import IndexCorruptError, InputError
from . import checksums, faiss_types, versions
from .ann import ann_search
from .huge_pages import use_huge_pages
from .items import ITEMS_FILE, ItemsReader
from .keys import KeyCache
from .manifest import Manifest
from .paths import resolve_index_path
from .tombstones import TOMBSTONES_FILE, read_tombstones
from .vector_file import VectorFile, vector_file_name

# Opening reads CURRENT, then the version it names; a writer may publish a newer version and
# remove that one in between. The open is tried this many times before the error is final.
OPEN_ATTEMPTS = 3
FILTERS_KEPT = 16  # `where` filters whose selectors an open index keeps


@dataclass(slots=True)
class Hit:
    """One search result: the item id, its key and its cosine similarity to the query."""

    id: int
    key: str
    score: float


@dataclass(frozen=True, slots=True)
class SearchArrays:
    """A batch's top-k as arrays, one row per query, best first (`Index.search_arrays`).

    For callers that take many results at once (evaluation, export, a service
    answering thousands of queries): no Python object per hit. Where a query
    has fewer than k results the row ends with id -1, key None, score -inf.
    """

    ids: np.ndarray  # (queries, k) int64
    keys: np.ndarray  # (queries, k) object: str or None
    scores: np.ndarray  # (queries, k) float32 cosine similarity


class Index:
    """A read-only view of the live version of an index."""

    def __init__(self, directory: Path, version_dir: Path, in_memory: bool = False):
        self.directory = directory
        self.version_dir = version_dir
        self.manifest = Manifest.read(version_dir)
        self.vector_path = version_dir / vector_file_name(self.manifest.vector_dtype)
        checksums.verify(version_dir, self.manifest.files, files_read(self.manifest))
        self.items = ItemsReader(version_dir / ITEMS_FILE)
        self.key_cache = KeyCache(self.items, self.manifest.rows)
        self.vectors = _map_vectors(self.vector_path, self.manifest)
        self.tombstones = read_tombstones(version_dir, self.manifest)
        # Opened now, not at first use: a reader keeps its version's files even after a
        # writer has published two newer versions and removed this one.
        self.raw_vectors = VectorFile(self.vector_path, self.dim, self.manifest.vector_dtype)
        self._live_selector = None
        self._filters: dict[str, object] = {}  # where -> selector, oldest first
        try:
            # Memory-mapped where the type allows; a long-lived process reads it whole
            # instead, so that no query waits on a page fault.
            self.faiss = faiss_types.read_faiss_index(
                version_dir / faiss_types.FAISS_FILE, self.manifest.index_type, writable=in_memory)
        except RuntimeError as error:
            raise IndexCorruptError(f"{version_dir}: cannot read the FAISS index "
                                    f"({faiss_message(error)})") from None
        except MemoryError:  # FAISS allocates what its headers claim before reading it
            raise IndexCorruptError(f"{version_dir}: the FAISS index claims more memory than "
                                    "there is (a damaged header?); rebuild the index") from None
        self._check_agreement()
        if in_memory:  # a long-lived process: worth 2 MB pages for the graph (a hint)
            use_huge_pages(self.faiss)

    @classmethod
    def open(cls, name_or_path: str | Path, *, in_memory: bool = False) -> "Index":
        """Open an index by name (under indexes/) or path.

        `in_memory` is for processes that answer many queries: FAISS is read whole
        (not memory-mapped) and an HNSW graph is put on 2 MB pages (`huge_pages`).
        """
        directory = resolve_index_path(name_or_path)
        for attempt in range(1, OPEN_ATTEMPTS + 1):
            version_dir = versions.current_version(directory)
            try:
                return cls(directory, version_dir, in_memory)
            except (IndexCorruptError, sqlite3.Error, OSError) as error:
                # A writer may have just replaced and removed this version: look again.
                if attempt == OPEN_ATTEMPTS or versions.current_version(directory) == version_dir:
                    if isinstance(error, IndexCorruptError):
                        raise
                    raise IndexCorruptError(f"cannot read {version_dir}: {error}") from None
        raise AssertionError("unreachable")

    def _check_agreement(self) -> None:
        manifest = self.manifest
        try:
            rows_in_db = self.items.count()
        except sqlite3.DatabaseError as error:
            raise IndexCorruptError(f"{self.version_dir / ITEMS_FILE} is not a readable items "
                                    f"database ({error}); rebuild the index") from None
        if not (self.faiss.ntotal - manifest.tombstones == rows_in_db == manifest.count):
            raise IndexCorruptError(
                f"{self.directory} is inconsistent: manifest says {manifest.count} items, "
                f"FAISS holds {self.faiss.ntotal}, SQLite holds {rows_in_db}"
                + (f" (FAISS also holds {manifest.tombstones} tombstones)" if manifest.tombstones else "")
                + "; rebuild it"
            )
        if self.faiss.d != manifest.dim:
            raise IndexCorruptError(
                f"{self.directory}: FAISS dimension {self.faiss.d} != manifest {manifest.dim}")

    @property
    def name(self) -> str:
        return self.directory.name

    @property
    def count(self) -> int:
        return self.manifest.count

    @property
    def dim(self) -> int:
        return self.manifest.dim

    def close(self) -> None:
        self.items.close()
        self.raw_vectors.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- lookups -----------------------------------------------------------

    def ids_for_keys(self, keys: Sequence[str]) -> dict[str, int]:
        return self.items.ids_for_keys(keys)

    def get(self, *, key: str | None = None, id: int | None = None) -> dict | None:
        """The item row (with its vector) for a key or an id; None if absent."""
        if key is not None:
            id = self.ids_for_keys([key]).get(key)
            if id is None:
                return None
        row = self.items.rows([id]).get(int(id))
        if row is not None:
            row["vector"] = np.array(self.vectors[row["id"]], dtype=np.float32)
        return row

    def vectors_of(self, ids: Sequence[int]) -> np.ndarray:
        """Unit vectors (float32) of item ids, in order."""
        return np.asarray(self.vectors[np.asarray(ids, dtype=np.int64)], dtype=np.float32)

    def keys_of(self, ids: Sequence[int]) -> dict[int, str]:
        return self.items.keys(ids)

    def ids_where(self, where: str) -> np.ndarray:
        return self.items.ids_where(where)

    # -- search ------------------------------------------------------------

    def search(self, queries: np.ndarray, k: int = 10, *, where: str | None = None,
               exclude: Sequence[set[int]] | None = None) -> list[list[Hit]]:
        """Top-k hits per query row, best first; `where` filters inside FAISS.

        Many queries in one call are answered together (FAISS spreads them
        over its threads). `exclude` gives, per query, ids that must not be
        returned (the query's own words): the search asks FAISS for that many
        more and drops them.
        """
        extra = max(map(len, exclude), default=0) if exclude else 0
        scores, ids = self._nearest(queries, k, where, extra)
        return self.key_cache.hits(scores, ids, k, Hit, exclude)

    def search_arrays(self, queries: np.ndarray, k: int = 10, *,
                      where: str | None = None) -> SearchArrays:
        """The same search as `search`, its results as arrays with k columns (`SearchArrays`)."""
        scores, ids = self._nearest(queries, k, where, 0)
        if ids.shape[1] < k:
            missing = ((0, 0), (0, k - ids.shape[1]))
            scores = np.pad(scores, missing, constant_values=-np.inf)
            ids = np.pad(ids, missing, constant_values=-1)
        scores = np.where(ids >= 0, scores, np.float32(-np.inf)).astype(np.float32, copy=False)
        return SearchArrays(ids, self.key_cache.key_array(ids), scores)

    def _nearest(self, queries: np.ndarray, k: int, where: str | None,
                 extra: int) -> tuple[np.ndarray, np.ndarray]:
        """(scores, ids) of the k + extra nearest allowed items per query, -1 where none."""
        if (isinstance(queries, np.ndarray) and queries.ndim == 1 and queries.dtype == np.float32
                and queries.flags.c_contiguous):
            queries = queries[None]  # one query, as the CLI and the server ask: no copy
        else:
            queries = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        if queries.shape[1] != self.dim:
            raise InputError(f"query has dimension {queries.shape[1]}, index {self.name} has {self.dim}")
        selector = self._selector(where) if k > 0 and self.count else None
        if k <= 0 or self.count == 0 or (where and selector is None):
            return np.zeros((len(queries), 0), np.float32), np.zeros((len(queries), 0), np.int64)
        return ann_search(self.faiss, queries, min(k + extra, self.count),
                          params=self.manifest.index_params, selector=selector, vectors=self.raw_vectors)

    def _selector(self, where: str | None):
        """The id selector of a filter (None: no filter; or no item matches `where`).

        Only live ids have rows, so a filter also keeps tombstones out. A version
        never changes, so each filter's selector is made once per open index.
        """
        if not where:
            if self.tombstones is not None and self._live_selector is None:
                self._live_selector = faiss_types.excluding(self.tombstones)
            return self._live_selector
        selector = self._filters.get(where)
        if selector is None and where not in self._filters:
            allowed = self.ids_where(where)
            selector = faiss_types.id_selector(allowed) if len(allowed) else None
            if len(self._filters) >= FILTERS_KEPT:
                self._filters.pop(next(iter(self._filters)), None)
            self._filters[where] = selector
        return selector


def files_read(manifest: Manifest) -> tuple[str, ...]:
    """The names of the files a version with this manifest is read from (besides the manifest)."""
    names = (ITEMS_FILE, vector_file_name(manifest.vector_dtype), faiss_types.FAISS_FILE)
    return names + (TOMBSTONES_FILE,) if manifest.tombstones else names


def faiss_message(error: Exception) -> str:
    """The message of a FAISS error: its last line (the C++ context comes before it)."""
    text = str(error).strip()
    return text.splitlines()[-1] if text else type(error).__name__


def _map_vectors(path: Path, manifest: Manifest) -> np.ndarray:
    itemsize = np.dtype(manifest.vector_dtype).itemsize
    expected = manifest.rows * manifest.dim * itemsize
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise IndexCorruptError(f"{path} is missing; rebuild the index") from None
    if size != expected:
        raise IndexCorruptError(
            f"{path} holds {size} bytes, the manifest expects {expected} "
            f"({manifest.rows} x {manifest.dim} {manifest.vector_dtype}); rebuild the index")
    if manifest.rows == 0:
        return np.zeros((0, manifest.dim), dtype=manifest.vector_dtype)
    return np.memmap(path, dtype=manifest.vector_dtype, mode="r", shape=(manifest.rows, manifest.dim))
