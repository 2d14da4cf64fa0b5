"""Writing an index: one writer at a time, on a private copy, published atomically.

`IndexWriter` is the only way to change an index: it takes the write lock,
works on a private copy, and publishes it atomically on `commit` (see
`versions`). FAISS ids and SQLite ids are the same integers, allocated as
rows of the vector file; a deleted id leaves its row unused.

New rows go to the vector file and SQLite at once and into FAISS at commit,
read back in chunks: the FAISS index is then created for the final count
(`auto` picks its type there, IVF trains on a sample of the rows), and a
build never holds more than one chunk of vectors beside the index. Index
types that cannot remove ids (HNSW) keep deleted ids as tombstones, filtered
inside every search, until `compact` rebuilds them away. An HNSW graph is
renumbered at commit when it has doubled since it was last renumbered, so that
neighbours in space are neighbours in memory (`reorder`).

Every item row is written by `_write_items` and removed by `_delete_items`:
anything kept beside the rows hooks in there (the ids they touch are what the
keyword matrix of the published version makes again: `bm25_impacts`).

    with IndexWriter.create("indexes/demo", encoder_info, dim=50) as writer:
        writer.add(items, vectors)
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Sequence

import numpy as np

from ..corpus import Item
from ..errors import IndexCorruptError, InputError
from ..progress import progress_bar
from . import checksums, faiss_types, versions
from .bm25_impacts import VersionMatrixMaker
from .fulltext import ensure_fulltext
from .items import ITEMS_FILE, ItemsWriter, content_hash
from .manifest import EncoderInfo, Manifest
from .paths import resolve_index_path
from .confine import version_file
from .reader import faiss_message, files_read
from .reorder import reorder_if_due
from .tombstones import read_tombstones, write_tombstones
from .vector_file import VectorFile, check_vector_dtype, vector_file_name

FLUSH_CHUNK = 16384  # rows read back from the vector file per FAISS add (8 MB at 128-d)
PROGRESS_MIN_ROWS = 16 * FLUSH_CHUNK  # fewer pending rows than this are added without a bar
# The IVF training sample: this many rows per inverted list, at least PQ_TRAINING_ROWS
# (a product quantizer's codebooks need them whatever the list count), at most
# MAX_TRAINING_ROWS; other trained types get DEFAULT_TRAINING_ROWS.
TRAINING_ROWS_PER_LIST = 40
PQ_TRAINING_ROWS = 10_000
DEFAULT_TRAINING_ROWS = 65_536
MAX_TRAINING_ROWS = 262_144
TRAINING_SEED = 0


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
            self.base_version = base_version
            self.base_items_crc32 = manifest.files.get(ITEMS_FILE, {}).get("crc32")
            # Ids whose rows this writer added, replaced or deleted: the keyword matrix of the
            # version it publishes is the base's with only these made again (a new index's is
            # made whole).
            self.changed_ids: set[int] | None = set() if base_version is not None else None
            self.keyword_maker: VersionMatrixMaker | None = None
            vector_path = self.tmp_dir / vector_file_name(manifest.vector_dtype)
            if base_version is not None:
                for name in files_read(reindex_from or manifest):
                    version_file(base_version, name)
                shutil.copyfile(base_version / ITEMS_FILE, self.tmp_dir / ITEMS_FILE)
                source = reindex_from or manifest
                _copy_vectors(base_version / vector_file_name(source.vector_dtype), source,
                              vector_path, manifest.vector_dtype)
                if reindex_from is None:
                    self.faiss = faiss_types.read_faiss_index(
                        base_version / faiss_types.FAISS_FILE, manifest.index_type, writable=True)
                    self.removable = faiss_types.supports_removal(self.faiss)
                    found = read_tombstones(base_version, manifest)
                    self.tombstones = set() if found is None else set(found.tolist())
                    self.pending_from = manifest.rows
            self.items = ItemsWriter(self.tmp_dir / ITEMS_FILE)
            if manifest.content == "corpus" and base_version is not None:
                # Triggers keep it exact through every change to the copied rows; a new
                # index gets it at commit, in one pass over its rows (faster than triggers).
                ensure_fulltext(self.items.db.conn)
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
        check_vector_dtype(vector_dtype)
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
            check_vector_dtype(vector_dtype)
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
            self._write_items(ids[in_place], [it for it, keep in zip(items, in_place) if keep],
                              replacing=True)
        moved = ~is_new & ~in_place
        if moved.any():
            old_ids = ids[moved]
            self.tombstones.update(old_ids.tolist())
            self._delete_items(old_ids)
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
        self._delete_items(found)
        return len(found)

    def _append(self, items: Sequence[Item], vectors: np.ndarray) -> np.ndarray:
        """New rows at the end of the vector file, with fresh ids; returns the ids."""
        ids = np.arange(self.manifest.rows, self.manifest.rows + len(items), dtype=np.int64)
        self.vector_file.write_rows(self.manifest.rows, vectors)
        self.manifest.rows += len(items)
        self._write_items(ids, items, replacing=False)
        return ids

    def _write_items(self, ids: np.ndarray, items: Sequence[Item], *, replacing: bool) -> None:
        """Every item row is written here: new ids inserted, or existing ones replaced."""
        records = [_record(item_id, item) for item_id, item in zip(ids, items)]
        self._note_changed(ids)
        if replacing:
            self.items.update(records)
        else:
            self.items.insert(records)
            self.manifest.count += len(records)

    def _delete_items(self, ids: np.ndarray) -> None:
        """Every item row is removed here (its vector row stays, unused)."""
        self.items.delete_ids(ids)
        self._note_changed(ids)
        self.manifest.count -= len(ids)

    def _note_changed(self, ids: np.ndarray) -> None:
        if self.changed_ids is not None:
            self.changed_ids.update(int(item_id) for item_id in ids)

    def _checked(self, vectors: np.ndarray, n: int) -> np.ndarray:
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape != (n, self.manifest.dim):
            raise InputError(
                f"expected {n} vectors of dimension {self.manifest.dim}, got shape {vectors.shape}")
        return vectors

    # -- finishing -----------------------------------------------------------

    def flush(self) -> None:
        """Create the FAISS index if new, train it on a sample, add the pending rows."""
        self.prepare_faiss()
        manifest = self.manifest
        pending = manifest.rows - self.pending_from
        with progress_bar(total=manifest.count, unit="vectors", desc="indexing",
                          disable=pending < PROGRESS_MIN_ROWS) as bar:
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

        Training uses the same sample (`training_rows` rows, `TRAINING_SEED`)
        whoever calls it, so a distributed build trains exactly what a local one does.
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
            sample = self.vector_file.sample(training_rows(self.faiss, manifest.rows),
                                             seed=TRAINING_SEED)
            try:
                self.faiss.train(sample)
            except RuntimeError as error:
                raise InputError(f"cannot train a {manifest.index_type} index on {len(sample):,} "
                                 f"vectors ({faiss_message(error)}): use fewer lists or another "
                                 "index type") from None
            del sample
        return self.faiss

    def commit(self) -> Path:
        """Write everything, check it agrees, and publish it atomically."""
        try:
            fresh = self.faiss is None
            if self.manifest.content == "corpus":
                # The rows are final: the full-text index is completed, committed to the file,
                # and its BM25 matrix made from it in the background while FAISS is filled.
                ensure_fulltext(self.items.db.conn)
                self.items.db.conn.commit()
                self.keyword_maker = VersionMatrixMaker(
                    self.tmp_dir, self.base_version, self.base_items_crc32, self.changed_ids,
                    show_progress=self.manifest.count >= PROGRESS_MIN_ROWS)
            self.flush()
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
            faiss_types.write_index(self.faiss, self.tmp_dir / faiss_types.FAISS_FILE)
            self.manifest.tombstones = len(self.tombstones)
            write_tombstones(self.tmp_dir, self.tombstones)
            self.manifest.updated_at = time.time()
            self.manifest.files = checksums.record(self.tmp_dir)
            if self.keyword_maker is not None:
                self.keyword_maker.save(self.manifest.files[ITEMS_FILE]["crc32"])
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


def training_rows(index, rows: int) -> int:
    """How many of `rows` vectors to train `index` on (see the TRAINING_* constants)."""
    import faiss

    ivf = faiss.try_extract_index_ivf(index)
    if ivf is None:
        wanted = DEFAULT_TRAINING_ROWS
    else:
        wanted = max(TRAINING_ROWS_PER_LIST * ivf.nlist, PQ_TRAINING_ROWS)
    return min(rows, wanted, MAX_TRAINING_ROWS)


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


def _record(item_id: int, item: Item) -> tuple:
    """An item's row, its values in the order of `items.COLUMNS` (a tuple: hundreds of
    thousands are made in a build, and `executemany` takes them as they are)."""
    metadata = item.metadata
    return (int(item_id), item.key, item.text, item.source, item.position,
            json.dumps(metadata, ensure_ascii=False) if metadata else None,
            content_hash(item.text, metadata))
