"""How well an index's search finds the true nearest neighbours, and how fast.

`evaluate_ann` draws a seeded sample of the index's own items as queries,
runs them through `Index.search` (whatever FAISS type the index is) and
through exact brute-force search over the raw vectors, and reports recall@k
and queries per second of both. Ties are allowed for, as in FAISS's own
evaluation helpers: a returned item counts as found if its true similarity is
at least the k-th exact one (minus float noise), so equal-scored neighbours
are interchangeable.

>>> evaluate_ann(Index.open("glove"), k=10, sample=1000).recall  # doctest: +SKIP
1.0
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from ..analogy import candidate_items, exact_search
from ..errors import InputError
from ..index import Index

TIE_TOLERANCE = 1e-5  # float32 inner products of unit vectors agree to about this


@dataclass
class AnnReport:
    """Recall@k of an index's search against exact search, and both speeds."""

    index: str
    index_type: str
    k: int
    sample: int
    recall: float
    qps: float
    exact_qps: float

    def to_dict(self) -> dict:
        return {"index": self.index, "index_type": self.index_type, "k": self.k,
                "sample": self.sample, "recall": self.recall, "qps": self.qps,
                "exact_qps": self.exact_qps}


def evaluate_ann(index: Index, k: int = 10, sample: int = 1000, seed: int = 0) -> AnnReport:
    """Recall@k and queries per second of `index.search` on `sample` of its own items."""
    if k <= 0 or sample <= 0:
        raise InputError(f"k and sample must be positive (got k={k}, sample={sample})")
    candidates = candidate_items(index)
    if len(candidates) == 0:
        raise InputError(f"index {index.name} is empty: nothing to evaluate")
    live = np.arange(candidates.limit) if candidates.ids is None else candidates.ids
    rng = np.random.default_rng(seed)
    query_ids = np.sort(rng.choice(live, size=min(sample, len(live)), replace=False))
    queries = index.vectors_of(query_ids)

    started = time.perf_counter()
    found = index.search(queries, k)
    seconds = time.perf_counter() - started
    started = time.perf_counter()
    exact_ids, exact_scores = exact_search(index, queries, k)
    exact_seconds = time.perf_counter() - started

    depth = min(k, len(live))
    recalls = []
    for query, hits, kth_score in zip(queries, found, exact_scores[:, depth - 1]):
        hit_ids = [hit.id for hit in hits[:depth]]
        true_scores = index.vectors_of(hit_ids) @ query if hit_ids else np.empty(0)
        recalls.append(min(int(np.sum(true_scores >= kth_score - TIE_TOLERANCE)), depth) / depth)
    return AnnReport(index.name, index.manifest.index_type, k, len(query_ids),
                     float(np.mean(recalls)), len(query_ids) / max(seconds, 1e-9),
                     len(query_ids) / max(exact_seconds, 1e-9))
