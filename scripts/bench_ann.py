"""ANN benchmark: our index types against every library a user could pick instead.

Each library / phase runs in its own subprocess where peak resident memory
matters, so that its peak (VmHWM) is its own:

glove   GloVe 6B 50d (400,000 x 50, cosine): 1,000 held-out words as queries,
        the other 399,000 as the base. Build time, peak memory and the
        recall@10 / queries-per-second curve (2 threads, one batch of all
        queries) of our types (through the store: IndexWriter, SQLite,
        manifest, `Index.search` with keys) against the peers; QPS at matched
        recall 0.90 / 0.95 / 0.99 and single-query p50 at 0.95 / 0.99; a PNG.
peers   glove over every peer: ScaNN, hnswlib, usearch, voyager, NGT, FAISS HNSW.
pair    ours against one peer in one process, alternating rounds at matched
        recall: median and range of the QPS ratio, single-query p50. ScaNN and
        our scann type sweep (leaves, reorder) pairs and each runs at its
        fastest pair reaching the target.
filtered  our ScaNN type's `where` search against FAISS HNSW with an
        IDSelector at 1 %, 10 %, 50 % selectivity, alternating rounds.
ivfpq   A synthetic clustered set (default 2,000,000 x 128, unit vectors):
        peak memory of building an IVF-PQ index through the store (streamed in
        chunks, trained on a sample, tuned to recall 0.9 at build) and of
        querying it with exact reranking from the raw vectors on disk, against
        the raw float32 size; recall@10 of 1,000 held-out queries vs exact.

    nice -n 5 .venv/bin/python scripts/bench_ann.py peers --png bench_ann.png
    nice -n 5 .venv/bin/python scripts/bench_ann.py pair --ours ours-scann --peer scann --rounds 8
    nice -n 5 .venv/bin/python scripts/bench_ann.py filtered --rounds 3
    nice -n 5 .venv/bin/python scripts/bench_ann.py ivfpq --rows 2000000
    .venv/bin/python scripts/bench_ann.py ivfpq --rows 200000   # quick
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

THREADS = 2
K = 10
TARGETS = (0.90, 0.95, 0.99)
EF_SWEEP = (10, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768)
NPROBE_SWEEP = (1, 2, 4, 8, 16, 32, 48, 64, 96, 128, 192, 256)
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 100
TIE = 1e-5


def peak_rss_mb() -> float:
    """This process's peak resident memory (VmHWM; ru_maxrss would carry the parent's over exec)."""
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def current_rss_mb() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def recall_at_k(base, queries, found, exact_scores) -> float:
    """Fraction of the exact top-k found; ties with the k-th exact score count as found."""
    found = np.asarray(found, dtype=np.int64)
    valid = found >= 0
    true = np.einsum("qkd,qd->qk", base[np.where(valid, found, 0)], queries)
    hits = ((true >= exact_scores[:, -1:] - TIE) & valid).sum(axis=1)
    return float(np.minimum(hits, K).mean() / K)


def timed_qps(search, queries, rounds: int = 5, min_seconds: float = 0.25) -> tuple[float, np.ndarray]:
    """Queries per second of batch calls (best of `rounds`, each at least `min_seconds` long:
    the machine is shared, so the best round is the least disturbed), and the result ids."""
    best, ids = 0.0, None
    for _ in range(rounds):
        started, answered = time.perf_counter(), 0
        while answered == 0 or time.perf_counter() - started < min_seconds:
            ids = search(queries)
            answered += len(queries)
        best = max(best, answered / (time.perf_counter() - started))
    return best, ids


# -- glove: one subprocess per library ------------------------------------------------


def glove_data(work: Path, n_queries: int, rows: int | None = None, seed: int = 0) -> None:
    """Base, queries and exact ground truth, saved for the library subprocesses."""
    import faiss

    from embedsearch.encoders import load_encoder

    _, vectors = load_encoder("glove-6b-50d").vocabulary()
    vectors = np.ascontiguousarray(vectors[:rows], dtype=np.float32)
    rng = np.random.default_rng(seed)
    held_out = rng.choice(len(vectors), size=n_queries, replace=False)
    mask = np.ones(len(vectors), dtype=bool)
    mask[held_out] = False
    base, queries = vectors[mask], vectors[held_out]
    exact = faiss.IndexFlatIP(base.shape[1])
    exact.add(base)
    scores, _ = exact.search(queries, K)
    np.save(work / "base.npy", base)
    np.save(work / "queries.npy", queries)
    np.save(work / "exact_scores.npy", scores)


# -- the contenders: each library's build, its search knob and its batch / single search -----


class Contender:
    """One library (or one of our index types through the store) with a search knob to sweep."""

    knob = "ef"
    sweep = EF_SWEEP

    def search(self, batch: np.ndarray, value: int) -> np.ndarray:
        raise NotImplementedError

    def single(self, query: np.ndarray, value: int):
        return self.search(query[None, :], value)


class Ours(Contender):
    """An index type through the store: IndexWriter, SQLite, manifest; batches searched with
    `Index.search_arrays` (ids, keys and scores as arrays), or `Index.search` (a `Hit` per
    result) with `hits`; single queries with `Index.search`, as the CLI and the server ask."""

    def __init__(self, base, kind: str, work: Path, hits: bool = False):
        import faiss

        from embedsearch.corpus import Item
        from embedsearch.index import EncoderInfo, Index, IndexWriter

        faiss.omp_set_num_threads(THREADS)
        params = {"M": HNSW_M, "efConstruction": HNSW_EF_CONSTRUCTION} if kind == "hnsw" else {}
        path = work / f"ours-{kind}"
        info = EncoderInfo("glove-6b-50d", "word2vec", "glove-6b-50d", "bench")
        started = time.perf_counter()
        with IndexWriter.create(path, info, base.shape[1], content="vocabulary", index_type=kind,
                                index_params=params, overwrite=True) as writer:
            for start in range(0, len(base), 50_000):
                chunk = base[start:start + 50_000]
                writer.add([Item(str(start + i), "") for i in range(len(chunk))], chunk)
        self.build_seconds = time.perf_counter() - started  # through the commit: files written
        started = time.perf_counter()
        self.index = Index.open(path, in_memory=True)
        self.open_seconds = time.perf_counter() - started
        self.batch_search = self.index.search if hits else self.index.search_arrays
        self.knob = {"hnsw": "efSearch", "scann": "leaves_to_search,reorder"}.get(kind, "nprobe")
        self.sweep = {"hnsw": EF_SWEEP, "scann": OURS_SCANN_SWEEP}.get(kind, NPROBE_SWEEP)

    def search(self, batch, value):
        self.set_knob(value)
        return self.batch_search(batch, K)  # keys returned: what a user gets

    def single(self, query, value):
        self.set_knob(value)
        return self.index.search(query, K)

    def set_knob(self, value):
        params = self.index.manifest.index_params
        if isinstance(value, (tuple, list)):  # scann: (leaves_to_search, reorder)
            params["leaves_to_search"], params["reorder"] = value
        else:
            params[self.knob] = value

    @staticmethod
    def ids(result) -> np.ndarray:
        if hasattr(result, "ids"):  # SearchArrays
            return result.ids
        return np.array([[h.id for h in row] + [-1] * (K - len(row)) for row in result])


class Scann(Contender):
    """ScaNN as ann-benchmarks configures it for GloVe: 2,000 leaves, anisotropic 4-bit
    codes for 2 dimensions, the best 100 reordered exactly (deeper when a target needs it)."""

    knob = "leaves_to_search,reorder"

    def __init__(self, base):
        import scann

        builder = scann.scann_ops_pybind.builder(base, K, "dot_product")
        builder = builder.tree(num_leaves=2000, num_leaves_to_search=100,
                               training_sample_size=min(len(base), 250_000))
        self.searcher = builder.score_ah(2, anisotropic_quantization_threshold=0.2).reorder(100).build()
        self.searcher.set_num_threads(THREADS)
        self.sweep = SCANN_SWEEP

    def search(self, batch, value):
        leaves, reorder = value
        return self.searcher.search_batched_parallel(batch, K, reorder, leaves)[0]

    def single(self, query, value):
        leaves, reorder = value
        return self.searcher.search(query, K, reorder, leaves)[0]


class Hnswlib(Contender):
    def __init__(self, base):
        import hnswlib

        self.index = hnswlib.Index(space="ip", dim=base.shape[1])
        self.index.init_index(max_elements=len(base), M=HNSW_M, ef_construction=HNSW_EF_CONSTRUCTION,
                              random_seed=0)
        self.index.add_items(base, np.arange(len(base)), num_threads=THREADS)

    def search(self, batch, value):
        self.index.set_ef(max(value, K))
        return self.index.knn_query(batch, k=K, num_threads=THREADS if len(batch) > 1 else 1)[0]


class Usearch(Contender):
    def __init__(self, base):
        from usearch.index import Index as UIndex

        self.index = UIndex(ndim=base.shape[1], metric="ip", dtype="f32", connectivity=HNSW_M,
                            expansion_add=HNSW_EF_CONSTRUCTION)
        self.index.add(np.arange(len(base)), base, threads=THREADS)

    def search(self, batch, value):
        self.index.expansion_search = max(value, K)
        found = self.index.search(batch, K, threads=THREADS if len(batch) > 1 else 1)
        return np.atleast_2d(found.keys.astype(np.int64))


class Voyager(Contender):
    def __init__(self, base):
        from voyager import Index as VIndex, Space

        self.index = VIndex(Space.InnerProduct, num_dimensions=base.shape[1], M=HNSW_M,
                            ef_construction=HNSW_EF_CONSTRUCTION, random_seed=0)
        self.index.add_items(base, num_threads=THREADS)

    def search(self, batch, value):
        return self.index.query(batch, k=K, num_threads=THREADS if len(batch) > 1 else 1,
                                query_ef=max(value, K))[0].astype(np.int64)


class Ngt(Contender):
    """NGT's graph (ANNG); its Python search takes one query at a time."""

    knob = "epsilon_x1000"
    sweep = (0, 20, 50, 80, 100, 120, 150, 200, 300)

    def __init__(self, base, work: Path):
        import ngtpy

        path = str(work / "ngt")
        ngtpy.create(path, base.shape[1], distance_type="Inner Product", object_type="Float",
                     edge_size_for_creation=HNSW_EF_CONSTRUCTION)
        self.index = ngtpy.Index(path)
        self.index.batch_insert(base, num_threads=THREADS)

    def search(self, batch, value):
        return np.array([self.single(query, value) for query in batch])

    def single(self, query, value):
        return [row[0] for row in self.index.search(query, size=K, epsilon=value / 1000)]


class FaissHnsw(Contender):
    knob = "efSearch"

    def __init__(self, base):
        import faiss

        faiss.omp_set_num_threads(THREADS)
        self.index = faiss.IndexHNSWFlat(base.shape[1], 48, faiss.METRIC_INNER_PRODUCT)
        self.index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        self.index.add(base)

    def search(self, batch, value, selector=None):
        import faiss

        params = faiss.SearchParametersHNSW(efSearch=max(value, K), sel=selector)
        return self.index.search(batch, K, params=params)[1]


LEAVES_SWEEP = (4, 6, 8, 10, 12, 14, 16, 20, 24, 28, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160,
                192, 256, 320, 400)
REORDER_DEPTHS = (100, 200, 400)  # ScaNN's exact reorder: deeper only where the leaves stop helping
SCANN_SWEEP = tuple((leaves, depth) for depth in REORDER_DEPTHS for leaves in LEAVES_SWEEP)
# Our scann type (SOAR) reaches a recall with a few leaves, where the peer's steps are coarse
# for it: every even count up to 64, then the peer's steps.
OURS_LEAVES_SWEEP = tuple(range(4, 64, 2)) + tuple(v for v in LEAVES_SWEEP if v >= 64)
OURS_SCANN_SWEEP = tuple((leaves, depth) for depth in REORDER_DEPTHS for leaves in OURS_LEAVES_SWEEP)
PEERS = ("scann", "hnswlib", "usearch", "voyager", "ngt", "faiss-hnsw")


def make_contender(library: str, base: np.ndarray, work: Path) -> Contender:
    if library.startswith("ours-"):  # ours-TYPE, or ours-TYPE+hits for `Index.search` batches
        kind, _, api = library.split("-", 1)[1].partition("+")
        return Ours(base, kind, work, hits=api == "hits")
    makers = {"scann": Scann, "hnswlib": Hnswlib, "usearch": Usearch, "voyager": Voyager,
              "faiss-hnsw": FaissHnsw, "ngt": lambda b: Ngt(b, work)}
    if library not in makers:
        raise SystemExit(f"unknown library {library}: use ours-TYPE or one of {', '.join(PEERS)}")
    return makers[library](base)


def found_ids(contender: Contender, result) -> np.ndarray:
    return Ours.ids(result) if isinstance(contender, Ours) else np.asarray(result, dtype=np.int64)


def single_p50_us(contender: Contender, queries: np.ndarray, value: int, count: int = 300) -> float:
    """Median latency of one query at a time (what the CLI and the server ask), microseconds,
    after 50 untimed single queries: a library's search threads keep spinning for a while
    after a batch, and a single query timed in that wake is slowed by them."""
    for query in queries[-50:]:
        contender.single(query, value)
    times = []
    for query in queries[:count]:
        started = time.perf_counter()
        contender.single(query, value)
        times.append(time.perf_counter() - started)
    return float(np.median(times) * 1e6)


def run_library(library: str, work: Path) -> dict:
    """Build and sweep one library (runs in its own process)."""
    base = np.load(work / "base.npy")
    queries = np.load(work / "queries.npy")
    exact_scores = np.load(work / "exact_scores.npy")
    baseline = current_rss_mb()
    started = time.perf_counter()
    contender = make_contender(library, base, work)
    build_seconds = getattr(contender, "build_seconds", time.perf_counter() - started)
    curve = []
    for value in contender.sweep:
        qps, result = timed_qps(lambda batch: contender.search(batch, value), queries, rounds=3,
                                min_seconds=0.2)
        point = {contender.knob: value, "value": value, "qps": qps,
                 "recall": recall_at_k(base, queries, found_ids(contender, result), exact_scores)}
        curve.append(point)
        if point["recall"] >= 0.995:
            break
    for target in TARGETS[1:]:
        point = qps_at(curve, target)
        if point is not None:
            point["single_p50_us"] = single_p50_us(contender, queries, point["value"])
    extra = {}
    if isinstance(contender, Ours):
        extra = {"params": contender.index.manifest.index_params, "open_seconds": contender.open_seconds,
                 "serving": json.loads(subprocess.run(
                     [sys.executable, __file__, "_serving", str(contender.index.directory),
                      str(work / "queries.npy")], check=True, capture_output=True, text=True
                 ).stdout.strip().splitlines()[-1])}
    return {"library": library, "build_seconds": build_seconds, "curve": curve,
            "rss_before_mb": baseline, "peak_rss_mb": peak_rss_mb(), **extra}


def serving_memory(path: Path, queries_path: Path) -> dict:
    """Memory a process adds by opening a built index and answering a batch and 100 single
    queries (what the CLI and the server hold), over the interpreter with the libraries
    imported; against issue 26's budget, 1.5x the raw vectors plus the index's codes (its
    file less the float copy a ScaNN index keeps for reordering, which is the raw vectors again)."""
    import faiss  # noqa: F401

    from embedsearch.index import Index
    from embedsearch.index.faiss_types import FAISS_FILE
    from embedsearch.index.scann_index import scann_available

    if scann_available():
        import scann  # noqa: F401
    queries = np.load(queries_path)
    before = current_rss_mb()
    index = Index.open(path, in_memory=True)
    opened = current_rss_mb()
    index.search_arrays(queries, K)
    for query in queries[:100]:
        index.search(query, K)
    raw = index.manifest.rows * index.manifest.dim * 4 / 2**20
    index_file = (index.version_dir / FAISS_FILE).stat().st_size / 2**20
    codes = index_file - raw if index.manifest.index_type == "scann" else index_file
    return {"rss_over_imports_mb": round(current_rss_mb() - before, 1),
            "peak_over_imports_mb": round(peak_rss_mb() - before, 1),
            "after_open_mb": round(opened - before, 1), "raw_vectors_mb": round(raw, 1),
            "codes_mb": round(codes, 1), "budget_mb": round(1.5 * raw + codes, 1)}


def lowest_reaching(contender: Contender, base, queries, exact_scores, target: float):
    """(setting, recall): the fastest setting reaching `target`: for a plain knob its lowest
    value; for ScaNN's (leaves, reorder), the lowest leaves at each reorder depth, timed
    against each other (a deeper reorder pays off when it needs far fewer leaves)."""
    reaching, depth_done = [], set()
    for value in contender.sweep:
        depth = value[1] if isinstance(value, tuple) else None
        if depth in depth_done:
            continue
        measured = recall_at_k(base, queries, found_ids(contender, contender.search(queries, value)),
                               exact_scores)
        if measured >= target:
            reaching.append((value, measured))
            depth_done.add(depth)
            if depth is None:
                break
    if not reaching:
        return None, None
    if len(reaching) == 1:
        return reaching[0]
    speed = {value: timed_qps(lambda batch: contender.search(batch, value), queries, rounds=3,
                              min_seconds=0.2)[0] for value, _ in reaching}
    return max(reaching, key=lambda row: speed[row[0]])


def paired(args) -> dict:
    """Ours and one peer in one process, QPS in alternating rounds at matched recall (each at
    the lowest setting of its sweep reaching the target), so both see the same load on a
    shared machine; also single-query p50 in the same alternation."""
    if args.workdir:
        Path(args.workdir).mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="bench-pair-", dir=args.workdir))
    try:
        glove_data(work, args.queries, args.glove_rows)
        base, queries = np.load(work / "base.npy"), np.load(work / "queries.npy")
        exact_scores = np.load(work / "exact_scores.npy")
        contenders = {}
        for name in (args.ours, args.peer):
            started = time.perf_counter()
            contenders[name] = make_contender(name, base, work)
            built = getattr(contenders[name], "build_seconds", time.perf_counter() - started)
            opened = getattr(contenders[name], "open_seconds", None)
            print(f"{name}: built in {built:.1f} s" + (f", opened in {opened:.2f} s" if opened else ""),
                  file=sys.stderr)
        peer_ids = np.array([str(i) for i in range(len(base))], dtype=object)
        rows = []
        for target in args.targets:
            settings = {name: lowest_reaching(c, base, queries, exact_scores, target)
                        for name, c in contenders.items()}
            if any(value is None for value, _ in settings.values()):
                rows.append({"target": target, "not_reached": [n for n, (v, _) in settings.items() if v is None]})
                continue

            def batch(name):
                contender, value = contenders[name], settings[name][0]
                if name == args.peer:  # its ids turned into keys, as the store does
                    return lambda b: [peer_ids[row].tolist() for row in contender.search(b, value)]
                return lambda b: contender.search(b, value)

            qps = {name: [] for name in contenders}
            p50 = {name: [] for name in contenders}
            for _ in range(args.rounds):
                for name, contender in contenders.items():
                    qps[name].append(timed_qps(batch(name), queries, rounds=1, min_seconds=0.5)[0])
                    p50[name].append(single_p50_us(contender, queries, settings[name][0], count=100))
            ratio = np.array(qps[args.ours]) / np.array(qps[args.peer])
            latency = np.array(p50[args.ours]) / np.array(p50[args.peer])
            row = {"target": target,
                   **{f"{n}_setting": settings[n][0] for n in contenders},
                   **{f"{n}_recall": round(settings[n][1], 4) for n in contenders},
                   **{f"{n}_qps_median": round(float(np.median(qps[n]))) for n in contenders},
                   **{f"{n}_single_p50_us": round(float(np.median(p50[n])), 1) for n in contenders},
                   "qps_ratio_median": round(float(np.median(ratio)), 3),
                   "qps_ratio_range": [round(float(ratio.min()), 3), round(float(ratio.max()), 3)],
                   "p50_ratio_median": round(float(np.median(latency)), 3)}
            rows.append(row)
            print(json.dumps(row), file=sys.stderr)
        return {"rows": len(base), "ours": args.ours, "peer": args.peer, "rounds": args.rounds,
                "pairs": rows}
    finally:
        shutil.rmtree(work, ignore_errors=True)


def qps_at(curve: list[dict], target: float) -> dict | None:
    """The fastest point whose recall reaches `target` (None if none does)."""
    reaching = [p for p in curve if p["recall"] >= target]
    return max(reaching, key=lambda p: p["qps"]) if reaching else None


def plot(results: list[dict], png: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(8, 5.5))
    for result in results:
        curve = result["curve"]  # in sweep order: the search parameter grows along the line
        axes.plot([p["recall"] for p in curve], [p["qps"] for p in curve], marker="o",
                  markersize=3, label=result["library"])
    for target in TARGETS:
        axes.axvline(target, color="grey", linewidth=0.6, linestyle=":")
    axes.set_yscale("log")
    axes.set_xlim(0.6, 1.001)
    axes.set_xlabel("recall@10 (vs exact)")
    axes.set_ylabel(f"queries per second ({THREADS} threads, log scale)")
    axes.set_title("GloVe 6B 50d, 399,000 base x 1,000 held-out queries, cosine")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend()
    figure.tight_layout()
    figure.savefig(png, dpi=110)


def filtered(args) -> dict:
    """Filtered search at 1 %, 10 % and 50 % selectivity: our ScaNN type through the store
    (`where`) against FAISS HNSW with an IDSelectorBatch of the same ids, alternating rounds.
    Recall is against exact search among the allowed vectors."""
    import faiss

    work = Path(tempfile.mkdtemp(prefix="bench-filtered-", dir=args.workdir))
    try:
        glove_data(work, args.queries, args.glove_rows)
        base, queries = np.load(work / "base.npy"), np.load(work / "queries.npy")
        ours, theirs = Ours(base, "scann", work), FaissHnsw(base)
        rows = []
        for modulus, share in ((100, "1%"), (10, "10%"), (2, "50%")):
            allowed = np.arange(0, len(base), modulus, dtype=np.int64)
            exact = faiss.IndexFlatIP(base.shape[1])
            exact.add(base[allowed])
            exact_scores = exact.search(queries, K)[0]
            where = f"id % {modulus} = 0"
            selector = faiss.IDSelectorBatch(len(allowed), faiss.swig_ptr(allowed))
            contenders = {
                "ours-scann": lambda b: ours.index.search_arrays(b, K, where=where).ids,
                "faiss-hnsw": lambda b: theirs.search(b, 64, selector=selector)}
            qps = {name: [] for name in contenders}
            row = {"selectivity": share}
            for _ in range(args.rounds):
                for name, search in contenders.items():
                    value, found = timed_qps(search, queries, rounds=1, min_seconds=0.4)
                    qps[name].append(value)
                    row[f"{name}_recall"] = round(recall_at_k(base, queries, found, exact_scores), 4)
            for name in contenders:
                row[f"{name}_qps_median"] = round(float(np.median(qps[name])))
            ratio = np.array(qps["ours-scann"]) / np.array(qps["faiss-hnsw"])
            row["ratio_median"] = round(float(np.median(ratio)), 3)
            rows.append(row)
            print(json.dumps(row), file=sys.stderr)
        return {"rows": len(base), "faiss_hnsw": "M 48, efSearch 64", "ours_params":
                ours.index.manifest.index_params, "filtered": rows}
    finally:
        shutil.rmtree(work, ignore_errors=True)


def glove(args) -> dict:
    work = Path(tempfile.mkdtemp(prefix="bench-ann-", dir=args.workdir))
    try:
        glove_data(work, args.queries, args.glove_rows)
        results = []
        for library in args.libraries:
            output = subprocess.run(
                [sys.executable, __file__, "_library", library, str(work)],
                check=True, capture_output=True, text=True).stdout
            result = json.loads(output.strip().splitlines()[-1])
            results.append(result)
            matched = {t: qps_at(result["curve"], t) for t in TARGETS}
            serving = f"; serving: {json.dumps(result['serving'])}" if "serving" in result else ""
            print(f"{library}: built in {result['build_seconds']:.1f} s, peak RSS "
                  f"{result['peak_rss_mb']:.0f} MB (data loaded: {result['rss_before_mb']:.0f} MB); "
                  + json.dumps(matched) + serving, file=sys.stderr, flush=True)
        summary = {"results": results, "matched": {}}
        for target in TARGETS:
            summary["matched"][str(target)] = {r["library"]: qps_at(r["curve"], target) for r in results}
        if args.png:
            plot(results, Path(args.png))
        return summary
    finally:
        shutil.rmtree(work, ignore_errors=True)


# -- ivfpq: synthetic set, build and query phases in subprocesses ----------------------------


def synthetic_chunk(chunk: int, rows: int, dim: int, seed: int, centres: int = 1000) -> np.ndarray:
    """Rows of a clustered set (Gaussian blobs around random centres), unit length."""
    centre_vectors = np.random.default_rng(seed).standard_normal((centres, dim), dtype=np.float32)
    rng = np.random.default_rng((seed, chunk))
    vectors = rng.standard_normal((rows, dim), dtype=np.float32)
    vectors *= 0.6
    vectors += centre_vectors[rng.integers(0, centres, size=rows)]
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors


CHUNK = 20_000


def ivfpq_build(path: Path, rows: int, dim: int, recall: float) -> dict:
    from embedsearch.corpus import Item
    from embedsearch.index import EncoderInfo, IndexWriter

    baseline = current_rss_mb()
    started = time.perf_counter()
    info = EncoderInfo("synthetic", "synthetic", "synthetic", "bench")
    with IndexWriter.create(path, info, dim, index_type="ivfpq", recall=recall,
                            overwrite=True) as writer:
        for chunk, start in enumerate(range(0, rows, CHUNK)):
            count = min(CHUNK, rows - start)
            writer.add([Item(str(start + i), "") for i in range(count)],
                       synthetic_chunk(chunk, count, dim, seed=1))
    return {"build_seconds": time.perf_counter() - started, "rss_after_imports_mb": baseline,
            "peak_rss_mb": peak_rss_mb(), "params": writer.manifest.index_params,
            "tuning": writer.manifest.tuning}


def ivfpq_groundtruth(path: Path, queries: np.ndarray) -> dict:
    """Exact top-10 scores of the queries, scanning the raw vectors in chunks."""
    from embedsearch.index import Index

    with Index.open(path) as index:
        raw = index.raw_vectors
        best = np.full((len(queries), K), -np.inf, dtype=np.float32)
        for start in range(0, raw.rows, CHUNK):
            scores = queries @ raw.read_range(start, min(start + CHUNK, raw.rows)).T
            best = -np.sort(-np.concatenate([best, scores], axis=1), axis=1)[:, :K]
    return {"exact_scores": best.tolist()}


def ivfpq_query(path: Path, queries: np.ndarray, exact_scores: np.ndarray) -> dict:
    import faiss

    from embedsearch.index import Index

    faiss.omp_set_num_threads(THREADS)
    baseline = current_rss_mb()
    with Index.open(path) as index:
        opened = current_rss_mb()
        started = time.perf_counter()
        hits = index.search(queries, K)
        seconds = time.perf_counter() - started
        found = np.array([[h.id for h in row] + [-1] * (K - len(row)) for row in hits])
        rows = index.raw_vectors.read_rows(np.where(found >= 0, found, 0)).reshape(found.shape + (-1,))
        true = np.einsum("qkd,qd->qk", rows, queries)
        recall = float(np.minimum(((true >= exact_scores[:, -1:] - TIE) & (found >= 0)).sum(1), K).mean() / K)
        params = index.manifest.index_params
    return {"recall_at_10": recall, "qps": len(queries) / seconds, "params": params,
            "rss_after_imports_mb": baseline, "rss_after_open_mb": opened,
            "peak_rss_mb": peak_rss_mb()}


def ivfpq(args) -> dict:
    work = Path(tempfile.mkdtemp(prefix="bench-ivfpq-", dir=args.workdir))
    try:
        path = work / "synthetic"
        raw_mb = args.rows * args.dim * 4 / 2**20
        phase = lambda *extra: json.loads(subprocess.run(  # noqa: E731
            [sys.executable, __file__, "_ivfpq", str(path), str(args.rows), str(args.dim),
             str(args.recall), *extra], check=True, capture_output=True, text=True,
        ).stdout.strip().splitlines()[-1])
        build = phase("build")
        print(f"build: {build['build_seconds']:.0f} s, peak RSS {build['peak_rss_mb']:.0f} MB",
              file=sys.stderr)
        truth = phase("groundtruth")
        np.save(work / "exact.npy", np.array(truth["exact_scores"], dtype=np.float32))
        query = phase("query", str(work / "exact.npy"))
        size = sum(f.stat().st_size for f in (path / (path / "CURRENT").read_text().strip()).iterdir())
        return {"rows": args.rows, "dim": args.dim, "raw_float32_mb": raw_mb,
                "limit_mb": raw_mb / 4, "build": build, "query": query,
                "on_disk_mb": size / 2**20}
    finally:
        shutil.rmtree(work, ignore_errors=True)


def internal(argv: list[str]) -> None:
    if argv[0] == "_library":
        print(json.dumps(run_library(argv[1], Path(argv[2]))))
        return
    if argv[0] == "_serving":
        print(json.dumps(serving_memory(Path(argv[1]), Path(argv[2]))))
        return
    path, rows, dim, recall, phase = Path(argv[1]), int(argv[2]), int(argv[3]), float(argv[4]), argv[5]
    queries = synthetic_chunk(10**6, 1000, dim, seed=1)  # a chunk number no build uses
    if phase == "build":
        result = ivfpq_build(path, rows, dim, recall)
    elif phase == "groundtruth":
        result = ivfpq_groundtruth(path, queries)
    else:
        result = ivfpq_query(path, queries, np.load(argv[6]))
    print(json.dumps(result))


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1].startswith("_"):
        internal(sys.argv[1:])
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("part", choices=["glove", "peers", "pair", "filtered", "ivfpq", "all", "plot"],
                        help="peers: every library, each in its own process; pair: ours vs one "
                             "peer in alternating rounds (same load); filtered: selectivity 1/10/50 %%; "
                             "plot: redraw --png from the glove results in --json")
    parser.add_argument("--ours", default="ours-scann", help="pair: our index type (ours-TYPE)")
    parser.add_argument("--peer", default="scann", help=f"pair: one of {', '.join(PEERS)}")
    parser.add_argument("--targets", type=float, nargs="+", default=[0.95, 0.99],
                        help="pair: recall targets to match")
    parser.add_argument("--rounds", type=int, default=8, help="pair/filtered: alternating rounds")
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--glove-rows", type=int, default=None,
                        help="glove: use only the N most frequent words (quick runs)")
    parser.add_argument("--libraries", nargs="+", default=None,
                        help="glove: default ours-scann ours-hnsw hnswlib usearch; peers: ours-scann, "
                             "ours-hnsw and every peer")
    parser.add_argument("--png", default="bench_ann.png")
    parser.add_argument("--rows", type=int, default=2_000_000, help="ivfpq: vectors (quick: 200000)")
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--recall", type=float, default=0.9, help="ivfpq: tuning target at build")
    parser.add_argument("--workdir", default=None, help="where temporary indexes go")
    parser.add_argument("--json", default=None, help="also write the results to this file")
    args = parser.parse_args()
    if args.part == "plot":
        plot(json.loads(Path(args.json).read_text())["glove"]["results"], Path(args.png))
        return
    results = {}
    if args.libraries is None:
        args.libraries = ["ours-scann", "ours-hnsw", *(PEERS if args.part == "peers" else
                                                       ("hnswlib", "usearch"))]
    if args.part in ("glove", "peers", "all"):
        results["glove"] = glove(args)
    if args.part == "pair":
        results["pair"] = paired(args)
    if args.part == "filtered":
        results["filtered"] = filtered(args)
    if args.part in ("ivfpq", "all"):
        results["ivfpq"] = ivfpq(args)
    text = json.dumps(results, indent=1)
    if args.json:
        Path(args.json).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
