"""A 2-D map of a bounded selection of items: a query's neighbourhood, or a sample of the index.

The explorer draws this map. It is computed here, on the server, over at
most a few thousand vectors (the query, its k neighbours, extra terms such
as an analogy's, or a seeded sample), so a 400,000-item index stays fast and
the browser never receives the whole index. PCA is the default (exact,
deterministic: each axis is signed so that its largest loading is positive);
UMAP is used when asked for and umap-learn is installed; it runs in a worker
process of its own, because numba (UMAP's compiler) holds Python's global lock
while it compiles (tens of seconds on first use) and would stall every other
request of a server meanwhile.

    points = projection(index, "computer", k=20)
    points.coordinates.shape, points.roles[0]
    # ((21, 2), 'query')
"""

from __future__ import annotations

import threading
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..errors import InputError
from ..index import Index
from .layout_umap import umap_installed
from .neighbors import neighbors_batch
from .terms import resolve_terms

METHODS = ("pca", "umap")
SAMPLE_SEED = 0
_umap_worker: ProcessPoolExecutor | None = None
_umap_worker_lock = threading.Lock()


@dataclass
class Projection:
    """Points on the map: item id (-1 for a query that is not an item), label, role, coordinates.

    `roles` are "query", "neighbor", "term" or "sample"; `scores` are each
    point's cosine to the query (None without a query).
    """

    ids: list[int]
    labels: list[str]
    roles: list[str]
    scores: list[float | None]
    coordinates: np.ndarray  # (n, 2)
    method: str


def projection(index: Index, query: str | None = None, *, k: int = 50,
               terms: Sequence[str] = (), sample: int = 0, method: str = "pca",
               where=None) -> Projection:
    """Project the query, its k neighbours and `terms` (or, with no query, `sample` items) to 2-D."""
    if method not in METHODS:
        raise InputError(f"unknown projection method {method!r}: use pca or umap")
    ids: list[int] = []
    labels: list[str] = []
    roles: list[str] = []

    def add(item_id: int, label: str, role: str) -> None:
        ids.append(item_id)
        labels.append(label)
        roles.append(role)

    query_vector = None
    if query is not None:
        term = resolve_terms(index, [query])[0]
        query_vector = term.vector
        add(_own_id(term), query, "query")
        for hit in neighbors_batch(index, [query], k=k, where=where)[0]:
            add(hit.id, hit.key, "neighbor")
    extra = list(dict.fromkeys(t for t in terms if t != query))
    for term, resolved in zip(extra, resolve_terms(index, extra) if extra else []):
        own_id = _own_id(resolved)
        if own_id < 0 or own_id not in ids:
            add(own_id, term, "term")
    if query is None and sample > 0:
        chosen = [item_id for item_id in _sample_ids(index, sample, where) if item_id not in ids]
        keys = index.keys_of(chosen)
        for item_id in chosen:
            add(item_id, keys[item_id], "sample")
    if not ids:
        raise InputError("nothing to project: give a query, terms or a sample size")
    vectors = _vectors(index, ids, labels, query, query_vector)
    scores = [None] * len(ids) if query_vector is None else \
        [round(float(s), 6) for s in vectors @ query_vector]
    fitted = [row for row, role in enumerate(roles) if role in ("neighbor", "sample")]
    return Projection(ids, labels, roles, scores, _reduce(vectors, method, fitted), method)


def _own_id(term) -> int:
    """The item a term is (a word or key), or -1 for a free text."""
    return next(iter(term.ids)) if len(term.ids) == 1 else -1


def _vectors(index: Index, ids, labels, query, query_vector) -> np.ndarray:
    """Each point's unit vector: stored rows for items, resolved vectors for free texts."""
    vectors = np.zeros((len(ids), index.dim), dtype=np.float32)
    stored = [row for row, item_id in enumerate(ids) if item_id >= 0]
    if stored:
        vectors[stored] = index.vectors_of([ids[row] for row in stored])
    for row in (row for row, item_id in enumerate(ids) if item_id < 0):
        vectors[row] = query_vector if labels[row] == query else \
            resolve_terms(index, [labels[row]])[0].vector
    return vectors


def _sample_ids(index: Index, size: int, where) -> list[int]:
    """A seeded sample of live item ids (matching `where`), sorted."""
    if not where and index.count == index.manifest.rows:
        candidates = np.arange(index.manifest.rows, dtype=np.int64)
    else:
        candidates = np.sort(index.ids_where(where or "1"))
    if len(candidates) > size:
        candidates = np.sort(np.random.default_rng(SAMPLE_SEED).choice(candidates, size,
                                                                       replace=False))
    return candidates.tolist()


def _reduce(vectors: np.ndarray, method: str, fitted: list[int]) -> np.ndarray:
    """(n, dim) -> (n, 2) by PCA, or by UMAP when asked for and installed. PCA is fitted on
    the `fitted` rows (the items) when there are at least three, and the query and terms are
    projected onto it: a text query far from every document then no longer takes the first
    axis to itself and squashes the documents into a strip."""
    if len(vectors) < 3:
        return np.column_stack([np.arange(len(vectors), dtype=np.float32),
                                np.zeros(len(vectors), dtype=np.float32)])
    if method == "umap":
        return _umap_in_worker(vectors)
    basis = vectors[fitted] if len(fitted) >= 3 else vectors
    mean = basis.mean(axis=0)
    centred = vectors - mean
    _, _, components = np.linalg.svd(basis - mean, full_matrices=False)
    axes = components[:2]
    signs = np.sign(axes[np.arange(len(axes)), np.abs(axes).argmax(axis=1)])
    coordinates = centred @ (axes * signs[:, None]).T
    if coordinates.shape[1] < 2:
        coordinates = np.column_stack([coordinates, np.zeros(len(coordinates))])
    return coordinates.astype(np.float32)


def _umap_in_worker(vectors: np.ndarray) -> np.ndarray:
    """UMAP's (n, 2) coordinates, computed in the one worker process kept for it (started on
    first use, with umap-learn imported and compiled there once)."""
    import multiprocessing

    global _umap_worker
    if not umap_installed():
        raise InputError("the umap projection needs umap-learn: pip install umap-learn "
                         "(or use pca)")
    with _umap_worker_lock:
        if _umap_worker is None:
            _umap_worker = ProcessPoolExecutor(max_workers=1,
                                               mp_context=multiprocessing.get_context("spawn"))
        worker = _umap_worker
    return worker.submit(umap_coordinates, np.ascontiguousarray(vectors, dtype=np.float32)).result()


def umap_coordinates(vectors: np.ndarray) -> np.ndarray:
    """(n, dim) -> (n, 2) by UMAP, seeded (what the worker process runs)."""
    import umap

    reducer = umap.UMAP(n_components=2, n_neighbors=min(15, len(vectors) - 1),
                        random_state=SAMPLE_SEED)
    return np.asarray(reducer.fit_transform(vectors), dtype=np.float32)
