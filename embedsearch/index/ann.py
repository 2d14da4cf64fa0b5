"""One approximate search, as the store and the recall tuner both run it.

FAISS returns candidates under the index's search parameters and id
selector; when the parameters ask for `rerank` = r > 1 (IVF-PQ by default),
it returns r times as many and their exact inner products, read from the raw
vectors on disk, decide the order. Quantised codes then only have to find the
neighbours, not rank them. A filter that keeps few items is answered exactly
from their stored vectors, as ScaNN's is: a graph or an inverted list searched
under a narrow selector can stop before it has met k of them.
"""

from __future__ import annotations

import faiss
import numpy as np

from . import faiss_types
from .scann_index import ScannIndex, exact_among
from .threads import search_threads
from .vector_file import VectorFile

RERANK_FLOATS = 2**22  # bound on one (queries, candidates, dim) block: 16 MB
EXACT_FILTER_ROWS = 20_000  # a filter keeping at most this many items is answered exactly


def ann_search(index: faiss.Index, queries: np.ndarray, k: int, *, params: dict,
               selector: faiss.IDSelector | None = None,
               vectors: VectorFile | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(scores, ids), each (n, k), best first; missing results have id -1."""
    allowed = getattr(selector, "allowed_ids", None)
    if allowed is not None and vectors is not None and len(allowed) <= max(EXACT_FILTER_ROWS, k):
        scores, ids = exact_among(queries, allowed, k, vectors, selector)
    elif isinstance(index, ScannIndex):  # its own threads; reorders exactly itself; filters with `vectors`
        scores, ids = index.search(queries, k, params=params, selector=selector, vectors=vectors)
    else:
        scores, ids = _faiss_search(index, queries, k, params, selector, vectors)
    if ids.shape[1] == k:
        return scores, ids
    if ids.shape[1] < k:
        pad = k - ids.shape[1]
        scores = np.pad(scores, ((0, 0), (0, pad)), constant_values=-np.inf)
        ids = np.pad(ids, ((0, 0), (0, pad)), constant_values=-1)
    return scores[:, :k], ids[:, :k]


def _faiss_search(index, queries, k, params, selector, vectors):
    rerank = int(params.get("rerank", 1)) if vectors is not None else 1
    fetch = max(1, min(k * max(rerank, 1), index.ntotal))
    search_params = faiss_types.search_parameters(index, selector, params)
    with search_threads(len(queries)):
        scores, ids = index.search(queries, fetch, params=search_params)
    if rerank > 1:
        scores, ids = exact_rerank(queries, ids, vectors)
    return scores, ids


def exact_rerank(queries: np.ndarray, ids: np.ndarray,
                 vectors: VectorFile) -> tuple[np.ndarray, np.ndarray]:
    """Candidates re-sorted by their exact inner product with the query."""
    out_scores = np.full(ids.shape, -np.inf, dtype=np.float32)
    out_ids = np.full(ids.shape, -1, dtype=np.int64)
    step = max(1, RERANK_FLOATS // max(1, ids.shape[1] * queries.shape[1]))
    for start in range(0, len(ids), step):
        block = ids[start:start + step]
        valid = block >= 0
        rows = vectors.read_rows(np.where(valid, block, 0))
        rows = rows.reshape(block.shape + (rows.shape[-1],))  # (queries, candidates, dim)
        exact = np.einsum("qcd,qd->qc", rows, queries[start:start + step])
        exact[~valid] = -np.inf
        order = np.argsort(-exact, axis=1, kind="stable")
        out_scores[start:start + len(block)] = np.take_along_axis(exact, order, axis=1)
        out_ids[start:start + len(block)] = np.where(
            np.take_along_axis(valid, order, axis=1), np.take_along_axis(block, order, axis=1), -1)
    return out_scores, out_ids
