"""The index store: a FAISS index, SQLite item rows and a manifest, as one unit.

`Index.open` reads the live version of an index directory: the manifest, the
FAISS index (memory-mapped where the type allows), the raw unit vectors
(`vectors.f32`, memory-mapped; row = item id) and the items database. It
checks that the three agree on the item count before answering anything.

`IndexWriter` is the only way to change an index: it takes the write lock,
works on a private copy, and publishes it atomically on `commit` (see
`versions`). FAISS ids and SQLite ids are the same integers, allocated as
rows of `vectors.f32`; a deleted id leaves its row unused.

New rows go to the vector file and SQLite at once and into FAISS at commit,
read back in chunks: the FAISS index is then created for the final count
(`auto` picks its type there, IVF trains on a sample of the rows), and a
build never holds more than one chunk of vectors beside the index. Index
types that cannot remove ids (HNSW) keep deleted ids as tombstones, filtered
inside every search, until `compact` rebuilds them away. An HNSW graph is
renumbered at commit when it has doubled since it was last renumbered, so that
neighbours in space are neighbours in memory (`reorder`).

    with IndexWriter.create("indexes/demo", encoder_info, dim=50) as writer:
        writer.add(items, vectors)
    Index.open("demo").search(vectors[:1], k=5)
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from ..corpus import Item
from ..errors import IndexCorruptError, InputError
from ..progress import progress_bar
from . import checksums, faiss_types, versions
from .ann import ann_search
from .huge_pages import use_huge_pages
from .items import ITEMS_FILE, ItemsReader, ItemsWriter, content_hash
from .manifest import EncoderInfo, Manifest
from .paths import resolve_index_path
from .reorder import reorder_if_due
from .threads import search_threads
from .vector_file import VectorFile, vector_file_name

VECTORS_FILE = "vectors.f32"
TOMBSTONES_FILE = "tombstones.npy"
FLUSH_CHUNK = 16384  # rows read back from the vector file per FAISS add (8 MB at 128-d)


@dataclass
class Hit:
    """One search result: the item id, its key and its cosine similarity to the query."""

    id: int
    key: str
    score: float


class Index:
    """A read-only view of the live version of an index."""

    def __init__(self, directory: Path, version_dir: Path, in_memory: bool = False):
        self.directory = directory
        self.version_dir = version_dir
        self.manifest = Manifest.read(version_dir)
        self.vector_path = version_dir / vector_file_name(self.manifest.vector_dtype)
        checksums.verify(version_dir, self.manifest.files,
                         (ITEMS_FILE, self.vector_path.name, faiss_types.FAISS_FILE))
        self.items = ItemsReader(version_dir / ITEMS_FILE)
        self.vectors = _map_vectors(self.vector_path, self.manifest)
        self.tombstones = _read_tombstones(version_dir, self.manifest)
        # Opened now, not at first use: a reader keeps its version's files even after a
        # writer has published two newer versions and removed this one.
        self.raw_vectors = VectorFile(self.vector_path, self.dim, self.manifest.vector_dtype)
        self._live_selector = None
        try:
            # Memory-mapped where the type allows (opens in milliseconds). A long-lived
            # process may read it into memory instead, so that no query waits on a page
            # fault; once the file is in the page cache both scan at the same speed
            # (scripts/bench_queries.py measures both).
            self.faiss = faiss_types.read_faiss_index(
                version_dir / faiss_types.FAISS_FILE, self.manifest.index_type, writable=in_memory)
        except RuntimeError as error:
            raise IndexCorruptError(f"{version_dir}: cannot read the FAISS index ({_first_line(error)})") from None
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
        for attempt in range(3):
            version_dir = versions.current_version(directory)
            try:
                return cls(directory, version_dir, in_memory)
            except (IndexCorruptError, sqlite3.Error, OSError) as error:
                # A writer may have just replaced and removed this version: look again.
                if attempt == 2 or versions.current_version(directory) == version_dir:
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
        queries = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        if queries.shape[1] != self.dim:
            raise InputError(f"query has dimension {queries.shape[1]}, index {self.name} has {self.dim}")
        exclude = exclude or [set()] * len(queries)
        if k <= 0 or self.count == 0:
            return [[] for _ in queries]
        selector = None
        if where:
            # Only live ids have rows, so the filter also keeps tombstones out.
            allowed = self.ids_where(where)
            if len(allowed) == 0:
                return [[] for _ in queries]
            selector = faiss_types.id_selector(allowed)
        elif self.tombstones is not None:
            if self._live_selector is None:
                self._live_selector = faiss_types.excluding(self.tombstones)
            selector = self._live_selector
        wanted = min(k + max(len(e) for e in exclude), self.count)
        with search_threads(len(queries)):
            scores, ids = ann_search(self.faiss, queries, wanted, params=self.manifest.index_params,
                                     selector=selector, vectors=self.raw_vectors)
        keys = self.keys_of(np.unique(ids[ids >= 0]).tolist())
        results = []
        # Python ints and floats in one conversion each, not one numpy scalar per hit.
        for row_scores, row_ids, skip in zip(scores.tolist(), ids.tolist(), exclude):
            hits = [Hit(i, keys[i], s) for s, i in zip(row_scores, row_ids) if i >= 0 and i not in skip]
            results.append(hits[:k])
        return results


def _first_line(error: Exception) -> str:
    return str(error).strip().splitlines()[-1] if str(error).strip() else type(error).__name__


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


def _read_tombstones(version_dir: Path, manifest: Manifest) -> np.ndarray | None:
    """The deleted ids FAISS still holds, or None when there are none."""
    if manifest.tombstones == 0:
        return None
    try:
        tombstones = np.load(version_dir / TOMBSTONES_FILE)
    except (FileNotFoundError, ValueError):
        raise IndexCorruptError(f"{version_dir / TOMBSTONES_FILE} is missing or unreadable; "
                                "rebuild the index") from None
    if len(tombstones) != manifest.tombstones:
        raise IndexCorruptError(f"{version_dir}: {len(tombstones)} tombstones, the manifest "
                                f"says {manifest.tombstones}; rebuild the index")
    return tombstones.astype(np.int64)


class IndexWriter:
    """The one writer of an index: changes go to a private copy, published on commit.

    Use as a context manager: leaving the block normally commits; an exception
    (Ctrl-C included) discards the copy and leaves the live version untouched.
    Ids below `pending_from` are in the FAISS index already; those above are
    added at commit.
    """

    def __init__(self, directory: Path, manifest: Manifest, base_version: Path | None, *,
                 reindex_from: Manifest | None = None, tuning=None):
        self.directory = directory
        self.lock = versions.WriteLock(directory)
        try:
            versions.remove_stale_tmp(directory)
            self.tmp_dir, self.final_dir = versions.next_version_dir(directory)
            self.tmp_dir.mkdir()
            self.manifest = manifest
            self.tuning = tuning
            self.faiss = None
            self.removable = False
            self.tombstones: set[int] = set()
            self.pending_from = 0
            vector_path = self.tmp_dir / vector_file_name(manifest.vector_dtype)
            if base_version is not None:
                shutil.copyfile(base_version / ITEMS_FILE, self.tmp_dir / ITEMS_FILE)
                source = reindex_from or manifest
                _copy_vectors(base_version / vector_file_name(source.vector_dtype), source,
                              vector_path, manifest.vector_dtype)
                if reindex_from is None:
                    self.faiss = faiss_types.read_faiss_index(
                        base_version / faiss_types.FAISS_FILE, manifest.index_type, writable=True)
                    self.removable = faiss_types.supports_removal(self.faiss)
                    found = _read_tombstones(base_version, manifest)
                    self.tombstones = set() if found is None else set(found.tolist())
                    self.pending_from = manifest.rows
            self.items = ItemsWriter(self.tmp_dir / ITEMS_FILE)
            self.vector_file = VectorFile(vector_path, manifest.dim, manifest.vector_dtype,
                                          writable=True)
        except BaseException:
            self._discard()
            raise

    @classmethod
    def create(cls, name_or_path: str | Path, encoder: EncoderInfo, dim: int, *,
               content: str = "corpus", index_type: str = "flat", index_params: dict | None = None,
               overwrite: bool = False, recall: float | None = None,
               max_memory: int | None = None, vector_dtype: str = "float32") -> "IndexWriter":
        """A writer for a new index (or a full replacement with `overwrite`).

        `index_type` is a name from `faiss_types`, `auto` (chosen at commit for
        the final size within `max_memory` bytes) or `factory:STRING`; with
        `recall` (default 0.95 for auto) the search parameter is tuned at
        commit until recall@10 against exact search reaches it.
        """
        from .tuning import TuningRequest

        directory = resolve_index_path(name_or_path)
        versions.check_writable(directory, overwrite)
        name, parsed = faiss_types.parse_index_type(index_type)
        index_params = faiss_types.check_params(index_type, index_params)
        vector_file_name(vector_dtype)
        manifest = Manifest(encoder=encoder, dim=dim, index_type=name,
                            index_params={**parsed, **(index_params or {})}, content=content,
                            vector_dtype=vector_dtype)
        return cls(directory, manifest, None, tuning=TuningRequest.make(name, recall, max_memory))

    @classmethod
    def update(cls, name_or_path: str | Path) -> "IndexWriter":
        """A writer that starts from the live version of an existing index."""
        directory = resolve_index_path(name_or_path)
        base = versions.current_version(directory)
        return cls(directory, Manifest.read(base), base)

    @classmethod
    def reindex(cls, name_or_path: str | Path, *, index_type: str | None = None,
                index_params: dict | None = None, recall: float | None = None,
                max_memory: int | None = None, vector_dtype: str | None = None) -> "IndexWriter":
        """A writer that rebuilds the FAISS index from the stored vectors, without tombstones.

        With `index_type` it changes the type (reindex); without, it keeps type
        and parameters (compact). Nothing is re-encoded; items and ids stay.
        """
        from .tuning import TuningRequest

        directory = resolve_index_path(name_or_path)
        base = versions.current_version(directory)
        previous = Manifest.read(base)
        manifest = Manifest.read(base)
        manifest.tombstones = 0
        if vector_dtype is not None:
            vector_file_name(vector_dtype)
            manifest.vector_dtype = vector_dtype
        tuning = None
        if index_type is not None:
            name, parsed = faiss_types.parse_index_type(index_type)
            manifest.index_type = name
            manifest.index_params = {**parsed, **faiss_types.check_params(index_type, index_params)}
            manifest.tuning = {}
            tuning = TuningRequest.make(name, recall, max_memory)
        elif recall is not None:
            tuning = TuningRequest.make(manifest.index_type, recall, max_memory)
        return cls(directory, manifest, base, reindex_from=previous, tuning=tuning)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, traceback):
        if exc_type is None:
            self.commit()
        else:
            self.abort()

    # -- changes -----------------------------------------------------------

    def add(self, items: Sequence[Item], vectors: np.ndarray) -> np.ndarray:
        """Add new items (their keys must not exist yet); returns their ids."""
        vectors = self._checked(vectors, len(items))
        existing = self.items.ids_for_keys([item.key for item in items])
        if existing:
            raise InputError(f"keys already in the index: {', '.join(list(existing)[:5])} (use upsert)")
        return self._append(items, vectors)

    def _append(self, items: Sequence[Item], vectors: np.ndarray) -> np.ndarray:
        ids = np.arange(self.manifest.rows, self.manifest.rows + len(items), dtype=np.int64)
        self.vector_file.write_rows(self.manifest.rows, vectors)
        self.items.insert([_record(i, item) for i, item in zip(ids, items)])
        self.manifest.rows += len(items)
        self.manifest.count += len(items)
        return ids

    def upsert(self, items: Sequence[Item], vectors: np.ndarray) -> np.ndarray:
        """Add items, or replace text, metadata and vector of those whose key exists.

        A replaced item keeps its id, except in an index that cannot remove
        ids (HNSW) once it is in the graph: there its old id becomes a
        tombstone and it gets a new one.
        """
        vectors = self._checked(vectors, len(items))
        existing = self.items.ids_for_keys([item.key for item in items])
        ids = np.array([existing.get(item.key, -1) for item in items], dtype=np.int64)
        is_new = ids < 0
        if is_new.any():
            ids[is_new] = self.add([it for it, new in zip(items, is_new) if new], vectors[is_new])
        in_place = ~is_new & ((ids >= self.pending_from) | self.removable)
        if in_place.any():
            self.vector_file.write_scattered(ids[in_place], vectors[in_place])
            resident = ids[in_place][ids[in_place] < self.pending_from]
            if len(resident):
                self.faiss.remove_ids(faiss_types.id_selector(resident))
                self.faiss.add_with_ids(vectors[in_place][ids[in_place] < self.pending_from],
                                        resident)
            self.items.update([_record(i, it) for i, it, keep in zip(ids, items, in_place) if keep])
        moved = ~is_new & ~in_place
        if moved.any():
            old_ids = ids[moved]
            self.tombstones.update(old_ids.tolist())
            self.items.delete_ids(old_ids)
            self.manifest.count -= len(old_ids)
            ids[moved] = self._append([it for it, m in zip(items, moved) if m], vectors[moved])
        return ids

    def delete(self, *, keys: Sequence[str] = (), ids: Sequence[int] = ()) -> int:
        """Remove items by key and/or id; returns how many existed and were removed."""
        wanted = set(self.items.ids_for_keys(list(keys)).values()) | {int(i) for i in ids}
        found = self.items.existing_ids(sorted(wanted))
        if not len(found):
            return 0
        resident = found[found < self.pending_from]
        if len(resident) and self.removable:
            self.faiss.remove_ids(faiss_types.id_selector(resident))
        else:
            self.tombstones.update(resident.tolist())
        self.items.delete_ids(found)
        self.manifest.count -= len(found)
        return len(found)

    def _checked(self, vectors: np.ndarray, n: int) -> np.ndarray:
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape != (n, self.manifest.dim):
            raise InputError(
                f"expected {n} vectors of dimension {self.manifest.dim}, got shape {vectors.shape}")
        return vectors

    # -- finishing -----------------------------------------------------------

    def _flush(self) -> None:
        """Create the FAISS index if new, train it on a sample, add the pending rows."""
        self.prepare_faiss()
        manifest = self.manifest
        pending = manifest.rows - self.pending_from
        with progress_bar(total=manifest.count, unit="vectors", desc="indexing",
                          disable=pending < 16 * FLUSH_CHUNK) as bar:
            for ids in self.pending_ids():
                self.faiss.add_with_ids(self.vector_file.read_rows(ids), ids)
                bar.update(len(ids))
        self.pending_from = manifest.rows

    def pending_ids(self, batch_size: int = FLUSH_CHUNK):
        """The ids not yet in FAISS, in order and in batches (deleted ones left out)."""
        return self.items.ids_from(self.pending_from, batch_size)

    def merge_pending(self, parts) -> None:
        """Merge FAISS indexes holding exactly the pending rows (filled elsewhere) into the index.

        A distributed build fills copies of the trained empty index from
        `prepare_faiss` with consecutive runs of `pending_ids` and hands them
        back in order, so the inverted lists come out as a sequential add
        would leave them.
        """
        expected = self.faiss.ntotal + self.items.count_from(self.pending_from)
        for part in parts:
            self.faiss.merge_from(part, 0)
        if self.faiss.ntotal != expected:
            raise IndexCorruptError(f"merged FAISS parts hold {self.faiss.ntotal} vectors, "
                                    f"expected {expected}")
        self.pending_from = self.manifest.rows

    def prepare_faiss(self):
        """The FAISS index, created for the final count and trained if new; pending rows not added.

        Training uses the same sample (`_training_rows` rows, seed 0) whoever
        calls it, so a distributed build trains exactly what a local one does.
        """
        manifest = self.manifest
        if self.faiss is None:
            if manifest.index_type == "auto":
                from .tuning import choose_index_type

                manifest.index_type, manifest.index_params = choose_index_type(
                    manifest.count, manifest.dim, self.tuning.max_memory, manifest.index_params)
            manifest.index_params = faiss_types.resolve_params(
                manifest.index_type, manifest.dim, manifest.count, manifest.index_params)
            self.faiss = faiss_types.create_faiss_index(
                manifest.index_type, manifest.dim, manifest.index_params)
            self.removable = faiss_types.supports_removal(self.faiss)
        if not self.faiss.is_trained and manifest.count > 0:
            sample = self.vector_file.sample(_training_rows(self.faiss, manifest.rows))
            try:
                self.faiss.train(sample)
            except RuntimeError as error:
                raise InputError(f"cannot train a {manifest.index_type} index on {len(sample):,} "
                                 f"vectors ({_first_line(error)}): use fewer lists or another "
                                 "index type") from None
            del sample
        return self.faiss

    def commit(self) -> Path:
        """Write everything, check it agrees, and publish it atomically."""
        import faiss

        try:
            fresh = self.faiss is None
            self._flush()
            if self.manifest.index_type == "hnsw":
                self.manifest.index_params = reorder_if_due(self.faiss, self.manifest.index_params,
                                                            fresh=fresh)
            if self.tuning is not None and self.tuning.recall is not None and self.manifest.count:
                from .tuning import tune

                self.manifest.index_params, self.manifest.tuning = tune(
                    self.faiss, self.manifest.index_params, self.vector_file, self.items,
                    self.tombstones, self.tuning)
            rows_in_db = self.items.count()
            self.items.close()
            self.vector_file.close()
            if not (self.faiss.ntotal - len(self.tombstones) == rows_in_db == self.manifest.count):
                raise IndexCorruptError(
                    f"refusing to publish {self.directory}: FAISS {self.faiss.ntotal} "
                    f"(-{len(self.tombstones)} tombstones), SQLite {rows_in_db}, "
                    f"expected {self.manifest.count} items")
            faiss.write_index(self.faiss, str(self.tmp_dir / faiss_types.FAISS_FILE))
            self.manifest.tombstones = len(self.tombstones)
            if self.tombstones:
                np.save(self.tmp_dir / TOMBSTONES_FILE,
                        np.array(sorted(self.tombstones), dtype=np.int64))
            self.manifest.updated_at = time.time()
            self.manifest.files = checksums.record(self.tmp_dir)
            self.manifest.write(self.tmp_dir)
            versions.publish(self.directory, self.tmp_dir, self.final_dir)
        except BaseException:
            self._discard()
            raise
        self.lock.release()
        self.faiss = None  # published; a caller that keeps the writer should not keep the index
        return self.final_dir

    def abort(self) -> None:
        """Discard every change; the live version stays as it was."""
        self._discard()

    def _discard(self) -> None:
        for closer in ("vector_file", "items"):
            handle = getattr(self, closer, None)
            if handle is not None:
                try:
                    handle.close()
                except Exception:
                    pass
        if getattr(self, "tmp_dir", None) is not None:
            shutil.rmtree(self.tmp_dir, ignore_errors=True)
        self.lock.release()


def _training_rows(index, rows: int) -> int:
    """A training sample: 40 points per IVF list (at least 10,000 for PQ codebooks), capped."""
    import faiss

    ivf = faiss.try_extract_index_ivf(index)
    wanted = max(40 * ivf.nlist, 10_000) if ivf is not None else 65_536
    return min(rows, wanted, 262_144)


def _copy_vectors(source: Path, source_manifest: Manifest, target: Path, dtype: str) -> None:
    """Copy the vector file, converting float32 <-> float16 in chunks when asked."""
    if source_manifest.vector_dtype == dtype:
        shutil.copyfile(source, target)
        return
    reader = VectorFile(source, source_manifest.dim, source_manifest.vector_dtype)
    writer = VectorFile(target, source_manifest.dim, dtype, writable=True)
    try:
        for start in range(0, source_manifest.rows, FLUSH_CHUNK):
            stop = min(start + FLUSH_CHUNK, source_manifest.rows)
            writer.write_rows(start, reader.read_range(start, stop))
    finally:
        reader.close()
        writer.close()


def _record(item_id: int, item: Item) -> dict:
    return {
        "id": int(item_id), "key": item.key, "text": item.text, "source": item.source,
        "position": item.position,
        "metadata": json.dumps(item.metadata, ensure_ascii=False) if item.metadata else None,
        "content_hash": content_hash(item.text, item.metadata),
    }
