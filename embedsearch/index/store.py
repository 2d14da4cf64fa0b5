"""The index store: a FAISS index, SQLite item rows and a manifest, as one unit.

`Index.open` reads the live version of an index directory: the manifest, the
FAISS index (memory-mapped where the type allows), the raw unit vectors
(`vectors.f32`, memory-mapped; row = item id) and the items database. It
checks that the three agree on the item count before answering anything.

`IndexWriter` is the only way to change an index: it takes the write lock,
works on a private copy, and publishes it atomically on `commit` (see
`versions`). FAISS ids and SQLite ids are the same integers, allocated as
rows of `vectors.f32`; a deleted id leaves its row unused.

>>> with IndexWriter.create("indexes/demo", encoder_info, dim=50) as writer:  # doctest: +SKIP
...     writer.add(items, vectors)
>>> Index.open("demo").search(vectors[:1], k=5)                              # doctest: +SKIP
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from ..corpus import Item
from ..errors import IndexCorruptError, InputError
from . import faiss_types, versions
from .items import ITEMS_FILE, ItemsReader, ItemsWriter, content_hash
from .manifest import EncoderInfo, Manifest
from .paths import resolve_index_path
from .threads import search_threads

VECTORS_FILE = "vectors.f32"


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
        self.items = ItemsReader(version_dir / ITEMS_FILE)
        self.vectors = _map_vectors(version_dir / VECTORS_FILE, self.manifest)
        try:
            # Memory-mapped by default (opens in milliseconds); a long-lived process
            # may read it into memory instead, which scans about twice as fast.
            self.faiss = faiss_types.read_faiss_index(
                version_dir / faiss_types.FAISS_FILE, self.manifest.index_type, writable=in_memory)
        except RuntimeError as error:
            raise IndexCorruptError(f"{version_dir}: cannot read the FAISS index ({_first_line(error)})") from None
        self._check_agreement()

    @classmethod
    def open(cls, name_or_path: str | Path, *, in_memory: bool = False) -> "Index":
        """Open an index by name (under indexes/) or path; `in_memory` reads FAISS whole."""
        directory = resolve_index_path(name_or_path)
        for attempt in range(3):
            version_dir = versions.current_version(directory)
            try:
                return cls(directory, version_dir, in_memory)
            except IndexCorruptError:
                # A writer may have just replaced and removed this version: look again.
                if attempt == 2 or versions.current_version(directory) == version_dir:
                    raise
        raise AssertionError("unreachable")

    def _check_agreement(self) -> None:
        manifest = self.manifest
        rows_in_db = self.items.count()
        if not (self.faiss.ntotal == rows_in_db == manifest.count):
            raise IndexCorruptError(
                f"{self.directory} is inconsistent: manifest says {manifest.count} items, "
                f"FAISS holds {self.faiss.ntotal}, SQLite holds {rows_in_db}; rebuild it"
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
            row["vector"] = np.array(self.vectors[row["id"]])
        return row

    def vectors_of(self, ids: Sequence[int]) -> np.ndarray:
        """Unit vectors (float32) of item ids, in order."""
        return np.asarray(self.vectors[np.asarray(ids, dtype=np.int64)], dtype=np.float32)

    def keys_of(self, ids: Sequence[int]) -> dict[int, str]:
        return {i: row["key"] for i, row in self.items.rows(ids).items()}

    def ids_where(self, where: str) -> np.ndarray:
        return self.items.ids_where(where)

    # -- search ------------------------------------------------------------

    def search(self, queries: np.ndarray, k: int = 10, *, where: str | None = None,
               exclude: Sequence[set[int]] | None = None) -> list[list[Hit]]:
        """Top-k hits per query row, best first; `where` filters inside FAISS.

        `exclude` gives, per query, ids that must not be returned (the query's
        own words): the search asks FAISS for that many more and drops them.
        """
        queries = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        if queries.shape[1] != self.dim:
            raise InputError(f"query has dimension {queries.shape[1]}, index {self.name} has {self.dim}")
        exclude = exclude or [set()] * len(queries)
        if k <= 0 or self.count == 0:
            return [[] for _ in queries]
        selector = None
        if where:
            allowed = self.ids_where(where)
            if len(allowed) == 0:
                return [[] for _ in queries]
            selector = faiss_types.id_selector(allowed)
        wanted = min(k + max(len(e) for e in exclude), self.count)
        params = faiss_types.search_parameters(selector, self.manifest.index_params)
        with search_threads(len(queries)):
            scores, ids = self.faiss.search(queries, wanted, params=params)
        keys = self.keys_of(np.unique(ids[ids >= 0]))
        results = []
        for row_scores, row_ids, skip in zip(scores, ids, exclude):
            hits = [Hit(int(i), keys[int(i)], float(s))
                    for s, i in zip(row_scores, row_ids) if i >= 0 and int(i) not in skip]
            results.append(hits[:k])
        return results


def _first_line(error: Exception) -> str:
    return str(error).strip().splitlines()[-1] if str(error).strip() else type(error).__name__


def _map_vectors(path: Path, manifest: Manifest) -> np.ndarray:
    expected = manifest.rows * manifest.dim * 4
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise IndexCorruptError(f"{path} is missing; rebuild the index") from None
    if size != expected:
        raise IndexCorruptError(
            f"{path} holds {size} bytes, the manifest expects {expected} "
            f"({manifest.rows} x {manifest.dim} float32); rebuild the index")
    if manifest.rows == 0:
        return np.zeros((0, manifest.dim), dtype=np.float32)
    return np.memmap(path, dtype=np.float32, mode="r", shape=(manifest.rows, manifest.dim))


class IndexWriter:
    """The one writer of an index: changes go to a private copy, published on commit.

    Use as a context manager: leaving the block normally commits; an exception
    (Ctrl-C included) discards the copy and leaves the live version untouched.
    """

    def __init__(self, directory: Path, manifest: Manifest, base_version: Path | None):
        self.directory = directory
        self.lock = versions.WriteLock(directory)
        try:
            versions.remove_stale_tmp(directory)
            self.tmp_dir, self.final_dir = versions.next_version_dir(directory)
            self.tmp_dir.mkdir()
            self.manifest = manifest
            faiss_path = self.tmp_dir / faiss_types.FAISS_FILE
            if base_version is None:
                self.faiss = faiss_types.create_faiss_index(
                    manifest.index_type, manifest.dim, manifest.index_params)
            else:
                shutil.copyfile(base_version / ITEMS_FILE, self.tmp_dir / ITEMS_FILE)
                shutil.copyfile(base_version / VECTORS_FILE, self.tmp_dir / VECTORS_FILE)
                self.faiss = faiss_types.read_faiss_index(
                    base_version / faiss_types.FAISS_FILE, manifest.index_type, writable=True)
            self.faiss_path = faiss_path
            self.items = ItemsWriter(self.tmp_dir / ITEMS_FILE)
            self.vectors_file = open(self.tmp_dir / VECTORS_FILE, "ab")
        except BaseException:
            self._discard()
            raise

    @classmethod
    def create(cls, name_or_path: str | Path, encoder: EncoderInfo, dim: int, *,
               content: str = "corpus", index_type: str = "flat", index_params: dict | None = None,
               overwrite: bool = False) -> "IndexWriter":
        """A writer for a new index (or a full replacement with `overwrite`)."""
        directory = resolve_index_path(name_or_path)
        if not overwrite and (directory / versions.CURRENT_FILE).exists():
            raise InputError(f"index {directory} already exists: pass --overwrite to replace it")
        faiss_types.index_type(index_type)
        manifest = Manifest(encoder=encoder, dim=dim, index_type=index_type,
                            index_params=index_params or {}, content=content)
        return cls(directory, manifest, None)

    @classmethod
    def update(cls, name_or_path: str | Path) -> "IndexWriter":
        """A writer that starts from the live version of an existing index."""
        directory = resolve_index_path(name_or_path)
        base = versions.current_version(directory)
        return cls(directory, Manifest.read(base), base)

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
        ids = np.arange(self.manifest.rows, self.manifest.rows + len(items), dtype=np.int64)
        self.vectors_file.write(vectors.tobytes())
        self.faiss.add_with_ids(vectors, ids)
        self.items.insert([_record(i, item) for i, item in zip(ids, items)])
        self.manifest.rows += len(items)
        self.manifest.count += len(items)
        return ids

    def upsert(self, items: Sequence[Item], vectors: np.ndarray) -> np.ndarray:
        """Add items, or replace text, metadata and vector of those whose key exists (same id)."""
        vectors = self._checked(vectors, len(items))
        existing = self.items.ids_for_keys([item.key for item in items])
        is_new = np.array([item.key not in existing for item in items], dtype=bool)
        ids = np.empty(len(items), dtype=np.int64)
        if is_new.any():
            ids[is_new] = self.add([it for it, new in zip(items, is_new) if new], vectors[is_new])
        if (~is_new).any():
            old_items = [it for it, new in zip(items, is_new) if not new]
            old_ids = np.array([existing[it.key] for it in old_items], dtype=np.int64)
            self.vectors_file.flush()
            with open(self.tmp_dir / VECTORS_FILE, "r+b") as handle:
                for row, vector in zip(old_ids, vectors[~is_new]):
                    handle.seek(int(row) * self.manifest.dim * 4)
                    handle.write(vector.tobytes())
            self.faiss.remove_ids(faiss_types.id_selector(old_ids))
            self.faiss.add_with_ids(vectors[~is_new], old_ids)
            self.items.update([_record(i, item) for i, item in zip(old_ids, old_items)])
            ids[~is_new] = old_ids
        return ids

    def delete(self, *, keys: Sequence[str] = (), ids: Sequence[int] = ()) -> int:
        """Remove items by key and/or id; returns how many existed and were removed."""
        found = set(self.items.ids_for_keys(list(keys)).values())
        found |= {int(i) for i in ids}
        if not found:
            return 0
        id_array = np.fromiter(found, dtype=np.int64)
        removed = int(self.faiss.remove_ids(faiss_types.id_selector(id_array)))
        self.items.delete_ids(id_array)
        self.manifest.count -= removed
        return removed

    def _checked(self, vectors: np.ndarray, n: int) -> np.ndarray:
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape != (n, self.manifest.dim):
            raise InputError(
                f"expected {n} vectors of dimension {self.manifest.dim}, got shape {vectors.shape}")
        return vectors

    # -- finishing -----------------------------------------------------------

    def commit(self) -> Path:
        """Write everything, check it agrees, and publish it atomically."""
        import faiss

        try:
            self.vectors_file.close()
            rows_in_db = self.items.count()
            self.items.close()
            if not (self.faiss.ntotal == rows_in_db == self.manifest.count):
                raise IndexCorruptError(
                    f"refusing to publish {self.directory}: FAISS {self.faiss.ntotal}, "
                    f"SQLite {rows_in_db}, expected {self.manifest.count} items")
            faiss.write_index(self.faiss, str(self.faiss_path))
            self.manifest.updated_at = time.time()
            self.manifest.write(self.tmp_dir)
            versions.publish(self.directory, self.tmp_dir, self.final_dir)
        except BaseException:
            self._discard()
            raise
        self.lock.release()
        return self.final_dir

    def abort(self) -> None:
        """Discard every change; the live version stays as it was."""
        self._discard()

    def _discard(self) -> None:
        for closer in ("vectors_file", "items"):
            handle = getattr(self, closer, None)
            if handle is not None:
                try:
                    handle.close()
                except Exception:
                    pass
        if getattr(self, "tmp_dir", None) is not None:
            shutil.rmtree(self.tmp_dir, ignore_errors=True)
        self.lock.release()


def _record(item_id: int, item: Item) -> dict:
    return {
        "id": int(item_id), "key": item.key, "text": item.text, "source": item.source,
        "position": item.position,
        "metadata": json.dumps(item.metadata, ensure_ascii=False) if item.metadata else None,
        "content_hash": content_hash(item.text, item.metadata),
    }
