"""Exploration: which index type could beat ScaNN on GloVe 6B 50d? Paired, in one process.

Builds each candidate on the 399,000 base words (the split of
`bench_ann.py glove`: 1,000 held-out words, seed 0), sweeps its search knob
to find the cheapest setting reaching each recall target, then times every
candidate at that setting in alternating rounds (so all see the same load on a
shared machine) and prints each one's QPS as a ratio of ScaNN's.

Candidates:
  scann         ScaNN: tree (2,000 leaves) + anisotropic 4-bit hashing + exact reorder
  hnsw          our store's HNSW (M 32, efConstruction 100, reordered), bare FAISS search
  ivfpqfs-M     FAISS IVF + 4-bit fast-scan PQ with M sub-quantisers, exact rerank of
                the top candidates from a memory-mapped float32 file
                (`faiss.knn_inner_products_by_idx`, no copy of the vectors)

    nice -n 5 .venv/bin/python scripts/ann_candidates.py --rounds 4
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

K = 10
THREADS = 2
TIE = 1e-5


def load_split(n_queries: int, seed: int = 0):
    from embedsearch.encoders import load_encoder

    _, vectors = load_encoder("glove-6b-50d").vocabulary()
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    rng = np.random.default_rng(seed)
    held_out = rng.choice(len(vectors), size=n_queries, replace=False)
    mask = np.ones(len(vectors), dtype=bool)
    mask[held_out] = False
    return np.ascontiguousarray(vectors[mask]), np.ascontiguousarray(vectors[held_out])


def recall(base, queries, found, kth):
    found = np.asarray(found, dtype=np.int64)
    valid = found >= 0
    true = np.einsum("qkd,qd->qk", base[np.where(valid, found, 0)], queries)
    return float(np.minimum(((true >= kth[:, None] - TIE) & valid).sum(1), K).mean() / K)


def qps(search, queries, min_seconds=0.3):
    started, answered = time.perf_counter(), 0
    while answered == 0 or time.perf_counter() - started < min_seconds:
        found = search(queries)
        answered += len(queries)
    return answered / (time.perf_counter() - started), found


class Scann:
    sweep = (4, 6, 8, 10, 12, 16, 20, 25, 30, 40, 50, 60, 80, 100, 130, 160, 200, 250, 300)

    def __init__(self, base, reorder=100):
        import scann

        self.reorder = reorder
        builder = scann.scann_ops_pybind.builder(base, K, "dot_product")
        builder = builder.tree(num_leaves=2000, num_leaves_to_search=100, training_sample_size=250_000)
        builder = builder.score_ah(2, anisotropic_quantization_threshold=0.2)
        self.searcher = builder.reorder(reorder).build()
        self.searcher.set_num_threads(THREADS)

    def search(self, queries, knob):
        return self.searcher.search_batched_parallel(
            queries, K, leaves_to_search=knob, pre_reorder_num_neighbors=self.reorder)[0]


class OurHnsw:
    sweep = (10, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512)

    def __init__(self, base, workdir):
        from embedsearch.corpus import Item
        from embedsearch.index import EncoderInfo, Index, IndexWriter

        info = EncoderInfo("glove-6b-50d", "word2vec", "glove-6b-50d", "bench")
        path = Path(workdir) / "hnsw"
        with IndexWriter.create(path, info, base.shape[1], index_type="hnsw",
                                index_params={"M": 32, "efConstruction": 100}) as writer:
            writer.add([Item(str(i), "") for i in range(len(base))], base)
        self.index = Index.open(path, in_memory=True)

    def search(self, queries, knob):
        from embedsearch.index.ann import ann_search

        params = {**self.index.manifest.index_params, "efSearch": knob}
        return ann_search(self.index.faiss, queries, K, params=params)[1]


class IvfFastScan:
    """A FAISS IVF fast-scan index (factory string), its top candidates reranked exactly."""

    sweep = (4, 6, 8, 10, 12, 16, 20, 25, 30, 40, 50, 60, 80, 100, 130, 160, 200, 250, 300)

    def __init__(self, base, workdir, factory="IVF2048,PQ25x4fsr", candidates=100):
        import faiss

        self.raw = _memmap_copy(base, Path(workdir) / "vectors.f32")
        self.candidates = candidates
        index = faiss.index_factory(base.shape[1], factory, faiss.METRIC_INNER_PRODUCT)
        ivf = faiss.extract_index_ivf(index)
        ivf.cp.niter = 10
        rng = np.random.default_rng(0)
        index.train(base[rng.choice(len(base), size=min(len(base), 32 * ivf.nlist), replace=False)])
        index.add(base)
        self.index = index

    def search(self, queries, knob):
        import faiss

        params = faiss.SearchParametersIVF(nprobe=knob)
        _, ids = self.index.search(queries, self.candidates, params=params)
        return rerank(queries, ids, self.raw)[1]


def _memmap_copy(base, path):
    base.tofile(path)
    return np.memmap(path, dtype=np.float32, mode="r", shape=base.shape)


def rerank(queries, ids, raw):
    import faiss

    n, fetched = ids.shape
    scores = np.empty((n, K), dtype=np.float32)
    out = np.empty((n, K), dtype=np.int64)
    faiss.knn_inner_products_by_idx(
        faiss.swig_ptr(queries), faiss.swig_ptr(raw), faiss.swig_ptr(ids),
        raw.shape[1], n, raw.shape[0], fetched, K, faiss.swig_ptr(scores), faiss.swig_ptr(out),
        fetched)
    return scores, out


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--targets", type=float, nargs="+", default=[0.95, 0.99])
    parser.add_argument("--candidates", nargs="+",
                        default=["scann", "hnsw", "fs-IVF2048,PQ25x4fsr-100", "fs-IVF2048,PQ50x4fsr-100"])
    args = parser.parse_args()
    import faiss

    faiss.omp_set_num_threads(THREADS)
    base, queries = load_split(args.queries)
    exact = faiss.IndexFlatIP(base.shape[1])
    exact.add(base)
    kth = exact.search(queries, K)[0][:, -1]
    workdir = tempfile.mkdtemp(prefix="ann-candidates-")
    built = {}
    for name in args.candidates:
        started = time.perf_counter()
        if name == "scann":
            built[name] = Scann(base)
        elif name.startswith("scann-"):
            built[name] = Scann(base, reorder=int(name.split("-")[1]))
        elif name == "hnsw":
            built[name] = OurHnsw(base, workdir)
        else:  # fs-FACTORY-CANDIDATES
            _, factory, candidates = name.split("-")
            built[name] = IvfFastScan(base, workdir, factory, int(candidates))
        print(f"{name}: built in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    settings = {target: {} for target in args.targets}
    for name, candidate in built.items():
        for knob in candidate.sweep:
            found = candidate.search(queries, knob)
            measured = recall(base, queries, found, kth)
            for target in args.targets:
                if measured >= target and name not in settings[target]:
                    settings[target][name] = (knob, measured)
            if measured >= max(args.targets):
                break
    rows = []
    for target in args.targets:
        chosen = settings[target]
        times = {name: [] for name in chosen}
        for _ in range(args.rounds):
            for name, (knob, _) in chosen.items():
                value, _ = qps(lambda q: built[name].search(q, knob), queries)
                times[name].append(value)
        reference = np.array(times.get("scann", [np.nan] * args.rounds))
        for name, (knob, measured) in chosen.items():
            ratio = np.array(times[name]) / reference
            rows.append({"target": target, "candidate": name, "knob": knob, "recall": round(measured, 4),
                         "qps_median": round(float(np.median(times[name]))),
                         "vs_scann_median": round(float(np.median(ratio)), 3),
                         "vs_scann_range": [round(float(ratio.min()), 3), round(float(ratio.max()), 3)]})
            print(json.dumps(rows[-1]), file=sys.stderr)
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
