"""How well an index's search finds the true nearest neighbours, and how fast.

`evaluate_ann` draws a seeded sample of the index's own items as queries,
runs them through `Index.search` (whatever FAISS type the index is) and
through exact brute-force search over the raw vectors, and reports recall@k
and queries per second of both. Ties are allowed for, as in FAISS's own
evaluation helpers: a returned item counts as found if its true similarity is
at least the k-th exact one (minus float noise), so equal-scored neighbours
are interchangeable. With `sweep`, an index with a search knob (efSearch for
HNSW, nprobe for IVF) is also measured at other settings of it, which traces
the recall / speed trade-off.

    evaluate_ann(Index.open("glove"), k=10, sample=1000).recall
    # 1.0
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from ..query.ranking import candidate_items, exact_search
from ..errors import InputError
from ..index import Index
from ..index.tuning import recall_with_ties

SWEEP = {"efSearch": (16, 32, 64, 128, 256, 512), "nprobe": (1, 2, 4, 8, 16, 32, 64, 128)}


@dataclass
class AnnPoint:
    """Recall and speed at one setting of the index's search knob (None: as configured)."""

    setting: dict
    recall: float
    qps: float


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
    sweep: list[AnnPoint] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"index": self.index, "index_type": self.index_type, "k": self.k,
                "sample": self.sample, "recall": self.recall, "qps": self.qps,
                "exact_qps": self.exact_qps,
                "sweep": [{**p.setting, "recall": p.recall, "qps": p.qps} for p in self.sweep]}


def evaluate_ann(index: Index, k: int = 10, sample: int = 1000, seed: int = 0, *,
                 sweep: bool = False) -> AnnReport:
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

    index.search(queries[:10], k)  # warm up: first touches of a memory-mapped index are slow
    started = time.perf_counter()
    _, exact_scores = exact_search(index, queries, k)
    exact_qps = len(queries) / max(time.perf_counter() - started, 1e-9)
    depth = min(k, len(live))
    recall, qps = _measure(index, queries, exact_scores[:, depth - 1], k, depth)
    points = []
    knob = _search_knob(index) if sweep else None
    if knob:
        configured = index.manifest.index_params
        try:
            for value in SWEEP[knob]:
                index.manifest.index_params = {**configured, knob: value}
                points.append(AnnPoint({knob: value}, *_measure(
                    index, queries, exact_scores[:, depth - 1], k, depth)))
        finally:
            index.manifest.index_params = configured
    return AnnReport(index.name, index.manifest.index_type, k, len(query_ids), recall, qps,
                     exact_qps, points)


def _measure(index: Index, queries: np.ndarray, kth_scores: np.ndarray, k: int,
             depth: int) -> tuple[float, float]:
    """(recall@k, queries per second) of one batched `index.search` call."""
    started = time.perf_counter()
    found = index.search(queries, k)
    qps = len(queries) / max(time.perf_counter() - started, 1e-9)
    true_scores = np.full((len(queries), depth), -np.inf, dtype=np.float32)
    for row, (query, hits) in enumerate(zip(queries, found)):
        hit_ids = [hit.id for hit in hits[:depth]]
        if hit_ids:
            true_scores[row, :len(hit_ids)] = index.vectors_of(hit_ids) @ query
    return recall_with_ties(true_scores, kth_scores, depth), qps


def _search_knob(index: Index) -> str | None:
    from ..index import faiss_types

    return faiss_types.search_knob(index.faiss)
