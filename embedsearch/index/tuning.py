"""`--index-type auto` and `--recall`: pick an index type, then tune its search knob.

`choose_index_type` picks by size and memory budget: exact search while it is
cheap (up to 50,000 vectors), else the fastest type at a given recall whose
resident index fits `--max-memory` (ScaNN when installed, then HNSW, IVF-SQ8,
IVF-PQ: the order measured on GloVe in docs/index-types.md; raw vectors stay
on disk and are not counted). Why it picked what it did goes into the tuning
report (`chosen_because`), which `info` shows.

`tune` then measures recall@10 against exact search on a sample of the index's
own vectors used as queries (each query's own item excluded, as `neighbors`
does), raising efSearch (HNSW), nprobe (IVF) or leaves_to_search (ScaNN) until the
target is met, then bisecting between the last two steps for the smallest
value that meets it, so recall lands as close above the target as the knob
allows. For IVF it also tries deeper exact reranking (1, 2, 4, ... 64
candidates per result; ScaNN: 100, 200, ... 800 reordered), each depth with
fewer probes than the last one needed; when several
(nprobe, rerank) pairs reach the target, the fastest on the sample queries is
kept and all of them are listed in the report. A hit counts when its exact score ties or beats the
exact 10th neighbour's, so ties are not misses. What was measured goes into
the manifest's `tuning`. Queries from outside the index can score a little
lower than its own items (GloVe, HNSW efSearch 48: 0.959 on its own words,
0.933 on 1,000 held-out words): ask for a margin when queries are new texts.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

import faiss
import numpy as np

from ..errors import InputError
from . import faiss_types
from .ann import ann_search
from .scann_index import scann_available

DEFAULT_RECALL = 0.95
EXACT_LIMIT = 50_000
AUTO_ORDER = ("scann", "hnsw", "ivfsq8", "ivfpq")  # fastest first at recall .95 and .99
K = 10
SAMPLE_QUERIES = 500
EF_SEARCH = (16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024, 1536, 2048)
NPROBE = (1, 2, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024,
          1536, 2048, 4096, 8192)
LEAVES = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024,
          1536, 2048, 4096, 8192, 16384)
MAX_RERANK = 64
MAX_REORDER = 800
PLATEAU = 0.005  # recall gained over two knob steps below which the knob has stopped helping
SCAN_BLOCK = 4096  # rows per exact-search block: 500 queries x 4,096 floats = 8 MB
TIE_TOLERANCE = 1e-5
TIMING_REPEATS = 3


@dataclass
class TuningRequest:
    """What the user asked for: a recall target (None: keep defaults) and a memory budget."""

    recall: float | None = None
    max_memory: int | None = None
    auto: bool = False

    @classmethod
    def make(cls, index_type: str, recall: float | None, max_memory: int | None):
        if recall is not None and not 0 < recall <= 1:
            raise InputError(f"`recall` must be in (0, 1], got {recall}")
        if index_type == "auto" and recall is None:
            recall = DEFAULT_RECALL
        if recall is None and max_memory is None:
            return None
        return cls(recall, max_memory, index_type == "auto")


def parse_size(text: str | None) -> int | None:
    """'256MB', '1.5G', '300k', '1000000' -> bytes (powers of 1024 for K/M/G/T)."""
    if text is None:
        return None
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([kmgt]?)i?b?\s*", text.lower())
    if not match:
        raise InputError(f"cannot read memory size {text!r}: use e.g. 512MB or 2GB")
    number, unit = match.groups()
    return int(float(number) * 1024 ** " kmgt".index(unit or " "))


def choose_index_type(count: int, dim: int, max_memory: int | None,
                      params: dict | None = None) -> tuple[str, dict]:
    """(type, user parameters) for `count` vectors within `max_memory` bytes of index."""
    name, params, _ = auto_choice(count, dim, max_memory, params)
    return name, params


def auto_choice(count: int, dim: int, max_memory: int | None,
                params: dict | None = None) -> tuple[str, dict, str]:
    """`choose_index_type`, and one line saying why (for `info`)."""
    params = {k: v for k, v in (params or {}).items() if k != "factory"}
    passed = []
    needs = {}
    for name in (("flat",) if count <= EXACT_LIMIT else ()) + AUTO_ORDER:
        if name == "scann" and not scann_available():
            passed.append("scann is not installed (pip install 'embedsearch[scann]')")
            continue
        resolved = faiss_types.resolve_params(name, dim, count, params)
        needs[name] = faiss_types.estimate_bytes(name, dim, count, resolved)
        if max_memory is None or needs[name] <= max_memory:
            fits = f"needs about {needs[name] / 2**20:.0f} MB" + (
                f" of the {max_memory / 2**20:.0f} MB budget" if max_memory else "")
            first = "exact search, cheap for" if name == "flat" else "the fastest type for"
            reason = f"{first} {count:,} vectors ({fits})" if not passed else \
                f"{'; '.join(passed)}; {name} is the next fastest and {fits}"
            return name, params, reason
        passed.append(f"{name} would need about {needs[name] / 2**20:.0f} MB")
    smallest = min(needs.values())
    raise InputError(f"no index type fits {count:,} x {dim} vectors in {max_memory / 2**20:.0f} MB: "
                     f"the smallest (ivfpq) needs about {smallest / 2**20:.0f} MB")


def exact_neighbours(vectors, live_ids: np.ndarray, query_ids: np.ndarray,
                     k: int = K) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-k (scores, ids) of the rows `query_ids` among `live_ids`, each query excluded.

    `vectors` is a `VectorFile`; rows are scanned in blocks and only each
    block's top k is kept, so memory stays at (queries x block) floats.
    """
    queries = vectors.read_rows(query_ids)
    best_scores = np.full((len(queries), k), -np.inf, dtype=np.float32)
    best_ids = np.full((len(queries), k), -1, dtype=np.int64)
    for start in range(0, len(live_ids), SCAN_BLOCK):
        ids = live_ids[start:start + SCAN_BLOCK]
        scores = queries @ vectors.read_rows(ids).T  # (queries, block)
        rows, cols = np.nonzero(query_ids[:, None] == ids[None, :])
        scores[rows, cols] = -np.inf
        if scores.shape[1] > k:
            top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        else:
            top = np.broadcast_to(np.arange(scores.shape[1]), scores.shape)
        all_scores = np.concatenate([best_scores, np.take_along_axis(scores, top, axis=1)], axis=1)
        all_ids = np.concatenate([best_ids, ids[top]], axis=1)
        keep = np.argsort(-all_scores, axis=1, kind="stable")[:, :k]
        best_scores = np.take_along_axis(all_scores, keep, axis=1)
        best_ids = np.take_along_axis(all_ids, keep, axis=1)
    return best_scores, best_ids


def recall_with_ties(true_scores: np.ndarray, kth_scores: np.ndarray, k: int) -> float:
    """Mean fraction of the exact top k found, ties allowed (as FAISS's own evaluation helpers).

    `true_scores` (queries, found) are the exact scores of the items a search
    returned (-inf where it returned none); `kth_scores` (queries,) the exact
    k-th best scores. A found item counts if its score reaches the k-th best
    (minus float noise), so equal-scored neighbours are interchangeable.
    """
    hits = (np.asarray(true_scores) >= np.asarray(kth_scores)[:, None] - TIE_TOLERANCE).sum(axis=1)
    return float(np.minimum(hits, k).mean() / k)


def recall_at_k(queries: np.ndarray, found_ids: np.ndarray, exact_scores: np.ndarray,
                vectors) -> float:
    """`recall_with_ties` of the ids found (-1: none) against the exact top-k scores (queries, k)."""
    valid = found_ids >= 0
    rows = vectors.read_rows(np.where(valid, found_ids, 0)).reshape(found_ids.shape + (-1,))
    true_scores = np.where(valid, np.einsum("qcd,qd->qc", rows, queries), -np.inf)
    return recall_with_ties(true_scores, exact_scores[:, -1], exact_scores.shape[1])


def measure_recall(index, params: dict, vectors, queries: np.ndarray, query_ids: np.ndarray,
                   exact_scores: np.ndarray, selector=None) -> float:
    """recall@k of `index` under `params`, each query's own id excluded."""
    k = exact_scores.shape[1]
    _, ids = ann_search(index, queries, k + 1, params=params, selector=selector, vectors=vectors)
    own = ids == query_ids[:, None]
    # Drop the query's own id (or, if it was not found, the last hit) to keep k per row.
    drop = np.where(own.any(axis=1), own.argmax(axis=1), k)
    keep = np.ones(ids.shape, dtype=bool)
    keep[np.arange(len(ids)), drop] = False
    return recall_at_k(queries, ids[keep].reshape(len(ids), k), exact_scores, vectors)


def tune(index, params: dict, vectors, items, tombstones: set[int],
         request: TuningRequest, seed: int = 0) -> tuple[dict, dict]:
    """(parameters, tuning report): the cheapest setting found that reaches `request.recall`."""
    live_ids = np.concatenate(list(items.ids_from(0)) or [np.empty(0, dtype=np.int64)])
    rng = np.random.default_rng(seed)
    query_ids = np.sort(rng.choice(live_ids, size=min(SAMPLE_QUERIES, len(live_ids)), replace=False))
    k = min(K, len(live_ids) - 1)
    report = {"target_recall": request.recall, "sample_queries": int(len(query_ids)), "k": K}
    if request.max_memory is not None:
        report["max_memory"] = request.max_memory
    if request.auto:
        report["chosen_because"] = auto_choice(len(live_ids), index.d, request.max_memory, params)[2]
    if k < 1:
        return params, {**report, "recall_at_10": 1.0}
    exact_scores, _ = exact_neighbours(vectors, live_ids, query_ids, k)
    queries = vectors.read_rows(query_ids)
    selector = faiss_types.excluding(np.array(sorted(tombstones), dtype=np.int64)) if tombstones else None

    def recall(candidate: dict) -> float:
        return measure_recall(index, candidate, vectors, queries, query_ids, exact_scores, selector)

    knob = faiss_types.search_knob(index)
    params = dict(params)
    if knob is None:
        return params, {**report, "recall_at_10": round(recall(params), 4)}
    limit, ladder = _knob_range(index, knob)
    steps = [v for v in ladder if limit is None or v < limit]
    steps += [limit] if limit is not None else []
    # When the knob alone cannot reach the target (quantised codes), rerank deeper;
    # HNSW scores with the exact vectors, so only its knob matters.
    depth, deepest = {"nprobe": ("rerank", MAX_RERANK),
                      "leaves_to_search": ("reorder", MAX_REORDER)}.get(knob, (None, 0))
    reranks = [int(params.get(depth, 1))] if depth else [1]
    while depth and reranks[-1] * 2 <= deepest:
        reranks.append(max(2, reranks[-1] * 2))
    # The smallest knob value reaching the target at each rerank depth; a deeper rerank is
    # only worth trying with fewer probes than the last depth needed.
    reached: list[tuple[dict, float]] = []
    best = (-1.0, params)
    ceiling = len(steps)
    for rerank in reranks:
        history: list[float] = []
        for position, value in enumerate(steps[:ceiling]):
            candidate = {**params, knob: value}
            if rerank > 1:
                candidate[depth] = rerank
            measured = recall(candidate)
            if measured > best[0] + 1e-9:
                best = (measured, candidate)
            if measured >= request.recall:
                low = steps[position - 1] if position else 0
                candidate, measured = _lowest_reaching(recall, candidate, knob, low, measured,
                                                       request.recall)
                reached.append((candidate, measured))
                ceiling = position
                break
            history.append(measured)
            # A plateau: the codes, not the knob, limit recall; rerank deeper instead.
            if depth and len(history) >= 3 and history[-1] - history[-3] < PLATEAU:
                break
        if ceiling == 0:
            break
    if not reached:
        measured, candidate = best
        return candidate, {**report, "recall_at_10": round(measured, 4), "reached": False}
    if len(reached) == 1:
        candidate, measured = reached[0]
        return candidate, {**report, "recall_at_10": round(measured, 4), "reached": True}
    # Several (nprobe, rerank) pairs reach the target: keep the fastest, timed on the sample.
    timed = [(search_seconds(index, candidate, vectors, queries, k, selector), candidate, measured)
             for candidate, measured in reached]
    _, candidate, measured = min(timed, key=lambda row: row[0])
    report["candidates"] = [{"params": c, "recall_at_10": round(m, 4),
                             "ms_per_query": round(1000 * t / len(queries), 4)} for t, c, m in timed]
    return candidate, {**report, "recall_at_10": round(measured, 4), "reached": True}


def _knob_range(index, knob: str) -> tuple[int | None, tuple[int, ...]]:
    """(the knob's largest useful value or None, the values to try)."""
    if knob == "nprobe":
        return faiss.try_extract_index_ivf(index).nlist, NPROBE
    if knob == "leaves_to_search":
        return index.leaves, LEAVES
    return None, EF_SEARCH


def _lowest_reaching(recall, candidate: dict, knob: str, low: int, measured: float,
                     target: float) -> tuple[dict, float]:
    """Bisect the knob between `low` (short of the target) and the candidate's value (reaching it).

    Recall grows with the knob, so the smallest value in between that reaches
    the target costs the least search work: a .95 target lands at .95x, not at
    whatever the next coarse step gives.
    """
    high = int(candidate[knob])
    while high - low > 1:
        middle = (low + high) // 2
        trial = {**candidate, knob: middle}
        trial_recall = recall(trial)
        if trial_recall >= target:
            high, candidate, measured = middle, trial, trial_recall
        else:
            low = middle
    return candidate, measured


def search_seconds(index, params: dict, vectors, queries: np.ndarray, k: int, selector,
                   repeats: int = TIMING_REPEATS) -> float:
    """The best of `repeats` timings of one batch search (the least disturbed run)."""
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        ann_search(index, queries, k, params=params, selector=selector, vectors=vectors)
        best = min(best, time.perf_counter() - started)
    return best
