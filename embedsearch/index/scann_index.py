"""ScaNN as an index type (`--index-type scann`, extra `embedsearch[scann]`).

ScaNN partitions the vectors with a k-means tree, puts each vector in a second
leaf too (SOAR: the second leaf is chosen so that its residual is nearly
orthogonal to the first one's, so a neighbour missed in one leaf is likely
found in the other and fewer leaves need searching for a recall), scores the
leaves it searches with anisotropic 4-bit codes (two dimensions a code) and
reorders the best candidates by their exact inner product. On GloVe it answered more
queries per second than any FAISS type at every recall we measured
(docs/index-types.md), so the store offers it behind the same interface as the
FAISS types: `ScannIndex` has the few members the store uses of a
`faiss.Index` (`d`, `ntotal`, `is_trained`, `add_with_ids`, `remove_ids`).

What ScaNN cannot do, and what happens instead:
  filters (`--where`) and tombstones   ScaNN has no id filter. A filter that keeps
      few items never reaches it (the store answers those exactly from the stored
      vectors, for every type: `ann.ann_search`); a broad one searches deeper
      (leaves and reorder / share**0.75: the allowed neighbours lie further out),
      asks ScaNN for more candidates (k / share kept, doubled), keeps the allowed
      ones, and answers exactly any query left with fewer than k.
  removal                              deleted ids stay as tombstones, filtered as
      above, until `compact` rebuilds the index (as for HNSW).
  adding to a built index              ScaNN's own upsert puts new vectors into
      the existing leaves; `compact` or `reindex` retrains the tree.
  the Ray build                        not distributed: the writer builds it in
      one call after the vectors are encoded (the encoding still runs on Ray).

The index is saved as one `.npz` (no pickle): ScaNN's serialized assets as
bytes, plus the item id of each ScaNN row.

    index = ScannIndex(50, {"leaves": 2000, "leaves_to_search": 50, "reorder": 100, "soar_lambda": 1.5})
    index.add_with_ids(vectors, ids)
    scores, ids = index.search(queries, 10, params={"leaves_to_search": 60})
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from ..errors import IndexCorruptError, InputError
from .threads import search_threads

BRUTE_FORCE_BELOW = 1000  # fewer vectors than this: ScaNN scores them all exactly
TRAINING_SAMPLE = 250_000
OVERSAMPLE = 2.0
CACHED_ROWS_BYTES = 2**24  # an exact filter's rows are kept on its selector up to this size
WIDEN = 0.75  # a filter keeping a share s of the items searches (and reorders) leaves / s**WIDEN
UPSERT_BATCH = 256
COPY_BLOCK = 2**22  # bytes read at a time when an asset is copied out of the index file
SOAR_LAMBDA = 1.5  # how strongly the second leaf's residual is pushed away from the first's
# Every file ScaNN 1.4 serializes for a tree (with or without SOAR) + AH + reorder or
# brute-force searcher.
ASSET_FILES = ("scann_assets.pbtxt", "scann_config.pb", "serialized_partitioner.pb",
               "ah_codebook.pb", "hashed_dataset.npy", "hashed_dataset_soar.npy",
               "datapoint_to_token.npy", "dataset.npy",
               "int8_dataset.npy", "int8_multipliers.npy", "dp_norm.npy", "hashed_dataset_by_token.npy")


def scann_available() -> bool:
    try:
        import scann  # noqa: F401
    except ImportError:
        return False
    return True


def _scann():
    try:
        from scann.scann_ops.py import scann_ops_pybind
    except ImportError:
        raise InputError("the scann index type needs ScaNN: pip install 'embedsearch[scann]' "
                         "(or pick another `index_type`)") from None
    return scann_ops_pybind


def default_params(dim: int, count: int) -> dict:
    """About 3 sqrt(n) leaves of at least 40 vectors each, each vector also in a second
    leaf (SOAR), a fortieth of the leaves searched (the spilled copies find what a
    twentieth found without them).

    399,000 vectors -> 1,895 leaves, 47 searched, the best 100 reordered exactly.
    """
    leaves = int(max(1, min(round(3 * math.sqrt(max(count, 1))), count // 40)))
    return {"leaves": leaves, "leaves_to_search": max(1, leaves // 40), "reorder": 100,
            "soar_lambda": SOAR_LAMBDA}


def bytes_per_vector(dim: int, params: dict) -> float:
    """ScaNN's float copy for the reorder, 4-bit codes for two dimensions and its leaf for
    each copy (two with SOAR), our id."""
    copies = 2 if params.get("soar_lambda") else 1
    return dim * 4 + copies * (math.ceil(dim / 2) / 2 + 4) + 8


class ScannIndex:
    """A ScaNN searcher and the item id of each of its rows, built on first use."""

    is_trained = True

    def __init__(self, dim: int, params: dict):
        self.d = int(dim)
        self.params = dict(params)
        self.searcher = None
        self.ids = np.empty(0, dtype=np.int64)
        self.built_count: int | None = None  # vectors the tree was trained on
        self._pending: list[np.ndarray] = []  # vectors added before the first build

    @property
    def ntotal(self) -> int:
        return len(self.ids)

    @property
    def leaves(self) -> int:
        """Leaves of the tree; 0 when there were too few vectors for one (exact scoring)."""
        count = self.ntotal if self.built_count is None else self.built_count
        return 0 if count < BRUTE_FORCE_BELOW else int(min(self.params["leaves"], count))

    # -- writing -------------------------------------------------------------

    def train(self, vectors: np.ndarray) -> None:
        """Nothing to do: ScaNN trains its tree and codes when it is built."""

    def add_with_ids(self, vectors: np.ndarray, ids: np.ndarray) -> None:
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        ids = np.asarray(ids, dtype=np.int64)
        if self.searcher is not None:
            self.searcher.searcher.upsert([None] * len(ids), vectors, UPSERT_BATCH)
        else:
            self._pending.append(vectors)
        self.ids = np.concatenate([self.ids, ids])

    def remove_ids(self, selector) -> int:
        raise RuntimeError("ScaNN indexes keep deleted ids as tombstones until compacted")

    def _built(self):
        """The searcher, built from the vectors added so far if it is not built yet."""
        if self.searcher is None and self._pending:
            vectors = np.concatenate(self._pending)
            self._pending = []
            self.searcher = self._build(vectors)
            self.built_count = len(vectors)
        return self.searcher

    def _build(self, vectors: np.ndarray):
        pybind = _scann()
        count = len(vectors)
        builder = pybind.builder(vectors, 10, "dot_product")
        leaves = self.leaves
        if not leaves:
            builder = builder.score_brute_force()
        else:
            # Spherical k-means: the stored vectors are unit length, and on GloVe the
            # spherical tree reaches a recall with fewer leaves than ScaNN's default one.
            # SOAR when the params ask for it (the defaults do; `soar_lambda` None builds a plain tree).
            soar = self.params.get("soar_lambda")
            builder = builder.tree(num_leaves=leaves,
                                   num_leaves_to_search=min(leaves, int(self.params["leaves_to_search"])),
                                   training_sample_size=min(count, TRAINING_SAMPLE), spherical=True,
                                   soar_lambda=float(soar) if soar else None)
            builder = builder.score_ah(2, anisotropic_quantization_threshold=0.2)
            builder = builder.reorder(int(self.params["reorder"]))
        searcher = builder.build()
        searcher.set_num_threads(os.cpu_count() or 1)
        return searcher

    # -- saving ----------------------------------------------------------------

    def write(self, path: Path) -> None:
        """One `.npz`: the ids and each of ScaNN's serialized files as bytes.

        Written one member at a time (what `np.savez` writes, without holding every
        file in memory at once: the float copy alone is as large as the vectors).
        """
        searcher = self._built()
        header = {"dim": self.d, "params": self.params, "built_count": self.built_count}
        with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
            _put(archive, "ids", self.ids)
            _put(archive, "header", np.frombuffer(json.dumps(header).encode(), np.uint8))
            if searcher is None:
                return
            with tempfile.TemporaryDirectory(prefix="scann-") as folder:
                searcher.serialize(folder, relative_path=True)
                for name in sorted(os.listdir(folder)):
                    if name not in ASSET_FILES:
                        raise RuntimeError(f"ScaNN wrote an unexpected file {name}")
                    _put_file(archive, name, os.path.join(folder, name))

    @classmethod
    def read(cls, path: Path) -> "ScannIndex":
        try:
            with np.load(path, allow_pickle=False) as stored:
                return cls._from_stored(stored, path)
        except (OSError, ValueError, zipfile.BadZipFile) as error:
            raise IndexCorruptError(f"{path}: not a readable ScaNN index ({error})") from None

    @classmethod
    def _from_stored(cls, stored, path: Path) -> "ScannIndex":
        try:
            header = json.loads(stored["header"].tobytes())
            index = cls(int(header["dim"]), dict(header["params"]))
            index.built_count = header["built_count"]
            index.ids = np.asarray(stored["ids"], dtype=np.int64)
        except (KeyError, ValueError, TypeError):
            raise IndexCorruptError(f"{path}: not a ScaNN index saved by embedsearch; rebuild it") from None
        assets = [name for name in stored.files if name in ASSET_FILES]
        if len(index.ids) and "scann_assets.pbtxt" in assets:
            index.searcher = _load_searcher(stored, assets)
        elif len(index.ids):
            raise IndexCorruptError(f"{path}: the ScaNN assets are missing; rebuild the index")
        return index

    # -- searching ---------------------------------------------------------------

    def search(self, queries: np.ndarray, k: int, *, params: dict, selector=None,
               vectors=None) -> tuple[np.ndarray, np.ndarray]:
        """(scores, item ids), each (n, k) best first, -1 where fewer than k exist.

        `selector` is one of `faiss_types.id_selector` / `excluding`: their id
        arrays say which items may be returned.
        """
        if selector is None:
            return self._search(queries, k, params)
        allowed = getattr(selector, "allowed_ids", None)
        keep, kept = self._kept(selector)
        share = max(kept / max(self.ntotal, 1), 1e-6)
        # The allowed neighbours of a query lie further out than its nearest ones: search
        # and reorder 1 / share**WIDEN times as deep, and keep k / share candidates (doubled).
        leaves = int(params.get("leaves_to_search", self.params["leaves_to_search"]))
        reorder = int(params.get("reorder", self.params["reorder"]))
        widened = {"leaves_to_search": min(max(self.leaves, 1), math.ceil(leaves / share ** WIDEN)),
                   "reorder": math.ceil(reorder / share ** WIDEN)}
        fetch = min(self.ntotal, math.ceil(k / share * OVERSAMPLE))
        scores, ids = self._search(queries, fetch, widened)
        valid = ids >= 0
        kept_hits = valid & keep[np.where(valid, ids, 0)]
        order = np.argsort(~kept_hits, axis=1, kind="stable")[:, :k]  # kept hits first, in score order
        ids = np.where(np.take_along_axis(kept_hits, order, axis=1), np.take_along_axis(ids, order, axis=1), -1)
        scores = np.where(ids >= 0, np.take_along_axis(scores, order, axis=1), -np.inf)
        short = (ids >= 0).sum(axis=1) < min(k, kept)
        if short.any():
            among = allowed if allowed is not None else np.flatnonzero(keep)
            scores[short], ids[short] = exact_among(queries[short], among, k, vectors, selector)
        return scores.astype(np.float32), ids

    def _kept(self, selector) -> tuple[np.ndarray, int]:
        """(allowed by id, how many), made once per selector (an open index keeps its filters')."""
        cached = getattr(selector, "scann_kept", None)
        if cached is None:
            keep = np.zeros(int(self.ids.max()) + 1 if len(self.ids) else 0, dtype=bool)
            allowed = getattr(selector, "allowed_ids", None)
            if allowed is not None:
                keep[allowed[allowed < len(keep)]] = True
            else:
                excluded = selector.excluded_ids
                keep[self.ids] = True
                keep[excluded[excluded < len(keep)]] = False
            cached = selector.scann_kept = (keep, int(keep.sum()))
        return cached

    def _search(self, queries: np.ndarray, k: int, params: dict):
        searcher = self._built()
        n = len(queries)
        if searcher is None or k <= 0:
            return np.full((n, max(k, 0)), -np.inf, np.float32), np.full((n, max(k, 0)), -1, np.int64)
        k = min(k, self.ntotal)
        leaves = int(params.get("leaves_to_search", self.params.get("leaves_to_search", 1)))
        reorder = max(k, int(params.get("reorder", self.params.get("reorder", 100))))
        if n == 1:  # ScaNN's pybind searcher itself: its Python wrapper only maps docids we do not give it
            rows, scores = searcher.searcher.search(queries[0], k, reorder, leaves)
            ids, scores = self.ids[rows][None], scores[None]
        else:
            # One batch of all the queries: ScaNN splits it over its threads itself, and its
            # default batches of 256 answered 1.1-1.15x fewer queries per second (docs/benchmarks.md).
            rows, scores = searcher.search_batched_parallel(queries, k, reorder, leaves, batch_size=n)
            ids = self.ids[rows]
        if ids.shape[1] < k:
            pad = k - ids.shape[1]
            ids = np.pad(ids, ((0, 0), (0, pad)), constant_values=-1)
            scores = np.pad(scores, ((0, 0), (0, pad)), constant_values=-np.inf)
        return scores, ids


def exact_among(queries: np.ndarray, ids: np.ndarray, k: int, vectors,
                cache=None) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-k among `ids`, from the stored vectors (a `VectorFile`).

    With `cache` (a selector kept by the open index) their rows are read once
    and kept on it, not gathered again on every search.
    """
    import faiss

    scores = np.full((len(queries), k), -np.inf, dtype=np.float32)
    found = np.full((len(queries), k), -1, dtype=np.int64)
    if len(ids) == 0 or len(queries) == 0:
        return scores, found
    rows = getattr(cache, "exact_rows", None)
    if rows is None:
        rows = vectors.read_rows(ids)
        if cache is not None and rows.nbytes <= CACHED_ROWS_BYTES:
            cache.exact_rows = rows
    with search_threads(len(queries)):
        top_scores, top = faiss.knn(np.ascontiguousarray(queries, dtype=np.float32), rows,
                                    min(k, len(ids)), metric=faiss.METRIC_INNER_PRODUCT)
    width = top.shape[1]
    scores[:, :width] = top_scores
    found[:, :width] = np.where(top >= 0, ids[np.maximum(top, 0)], -1)
    return scores, found


def _copy_member(archive: zipfile.ZipFile, name: str, target: str) -> None:
    """The bytes of the uint8 array `name` in an `.npz` archive, written to `target` as they are."""
    with archive.open(name + ".npy") as member, open(target, "wb") as out:
        version = np.lib.format.read_magic(member)
        shape, _, dtype = (np.lib.format.read_array_header_1_0(member) if version == (1, 0)
                           else np.lib.format.read_array_header_2_0(member))
        if dtype != np.uint8 or len(shape) != 1:
            raise ValueError(f"{name} is not a byte array")
        shutil.copyfileobj(member, out, COPY_BLOCK)
        if out.tell() != shape[0]:
            raise ValueError(f"{name} holds {out.tell()} bytes, its header says {shape[0]}")


def _put(archive: zipfile.ZipFile, name: str, array: np.ndarray) -> None:
    """One array into an `.npz` archive, as `np.savez` stores it."""
    with archive.open(name + ".npy", "w", force_zip64=True) as member:
        np.lib.format.write_array(member, np.asanyarray(array), allow_pickle=False)


def _put_file(archive: zipfile.ZipFile, name: str, source: str) -> None:
    """A file's bytes into an `.npz` archive as a uint8 array, streamed (`_copy_member` reads it back)."""
    size = os.path.getsize(source)
    with archive.open(name + ".npy", "w", force_zip64=True) as member, open(source, "rb") as data:
        np.lib.format.write_array_header_1_0(
            member, {"descr": np.lib.format.dtype_to_descr(np.dtype(np.uint8)),
                     "fortran_order": False, "shape": (size,)})
        shutil.copyfileobj(data, member, COPY_BLOCK)


def _load_searcher(stored, names: list[str]):
    """ScaNN's searcher from its files in `stored` (an open `.npz`), each streamed out to a file
    (reading one whole would hold the float copy twice while ScaNN loads it)."""
    _scann()
    from scann.scann_ops.py.scann_ops_pybind import ScannSearcher, scann_pybind

    with tempfile.TemporaryDirectory(prefix="scann-") as folder:
        for name in names:
            _copy_member(stored.zip, name, os.path.join(folder, name))
        text = stored["scann_assets.pbtxt"].tobytes().decode("utf-8")
        try:
            searcher = ScannSearcher(scann_pybind.ScannNumpy(folder, text))
        except (RuntimeError, ValueError) as error:
            raise IndexCorruptError(f"ScaNN cannot load this index ({error}); rebuild it") from None
    searcher.set_num_threads(os.cpu_count() or 1)
    return searcher
