"""ANN benchmark: our FAISS index types against hnswlib and usearch, and IVF-PQ memory.

Two parts, each library / phase in its own subprocess so that its peak
resident memory (ru_maxrss) is its own:

glove   GloVe 6B 50d (400,000 x 50, cosine): 1,000 held-out words as queries,
        the other 399,000 as the base. Build time, peak memory and the
        recall@10 / queries-per-second curve (2 threads, one batch of all
        queries) of our HNSW (through the store: IndexWriter, SQLite, manifest)
        and IVF-SQ8 against hnswlib and usearch with the same M and
        efConstruction; QPS at matched recall 0.90 / 0.95 / 0.99; a PNG.
ivfpq   A synthetic clustered set (default 2,000,000 x 128, unit vectors):
        peak memory of building an IVF-PQ index through the store (streamed in
        chunks, trained on a sample, tuned to recall 0.9 at build) and of
        querying it with exact reranking from the raw vectors on disk, against
        the raw float32 size; recall@10 of 1,000 held-out queries vs exact.

    nice -n 5 .venv/bin/python scripts/bench_ann.py glove --png bench_ann.png
    nice -n 5 .venv/bin/python scripts/bench_ann.py pair --glove-rows 100000   # same-load check
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


def run_library(library: str, work: Path) -> dict:
    """Build and sweep one library (runs in its own process)."""
    base = np.load(work / "base.npy")
    queries = np.load(work / "queries.npy")
    exact_scores = np.load(work / "exact_scores.npy")
    baseline = current_rss_mb()
    curve = []
    started = time.perf_counter()
    if library in ("ours-hnsw", "ours-ivfsq8", "ours-ivfpq"):
        import faiss

        from embedsearch.corpus import Item
        from embedsearch.index import EncoderInfo, Index, IndexWriter
        from embedsearch.index.ann import ann_search

        faiss.omp_set_num_threads(THREADS)
        kind = library.split("-")[1]
        params = {"M": HNSW_M, "efConstruction": HNSW_EF_CONSTRUCTION} if kind == "hnsw" else {}
        path = work / library
        info = EncoderInfo("glove-6b-50d", "word2vec", "glove-6b-50d", "bench")
        with IndexWriter.create(path, info, base.shape[1], content="vocabulary", index_type=kind,
                                index_params=params, overwrite=True) as writer:
            for start in range(0, len(base), 50_000):
                chunk = base[start:start + 50_000]
                writer.add([Item(str(start + i), "") for i in range(len(chunk))], chunk)
        build_seconds = time.perf_counter() - started
        index = Index.open(path, in_memory=True)
        knob, sweep = ("efSearch", EF_SWEEP) if kind == "hnsw" else ("nprobe", NPROBE_SWEEP)
        for value in sweep:
            search_params = {**index.manifest.index_params, knob: value}

            def search(batch):
                return ann_search(index.faiss, batch, K, params=search_params,
                                  vectors=index.raw_vectors)[1]

            qps, found = timed_qps(search, queries)
            curve.append({knob: value, "recall": recall_at_k(base, queries, found, exact_scores),
                          "qps": qps})
        # End to end through Index.search (FAISS + SQLite keys) at the default parameters.
        e2e_qps, _ = timed_qps(lambda batch: index.search(batch, K), queries)
        extra = {"index_search_qps_default_params": e2e_qps,
                 "params": index.manifest.index_params}
    elif library == "hnswlib":
        import hnswlib

        index = hnswlib.Index(space="ip", dim=base.shape[1])
        index.init_index(max_elements=len(base), M=HNSW_M, ef_construction=HNSW_EF_CONSTRUCTION,
                         random_seed=0)
        index.add_items(base, np.arange(len(base)), num_threads=THREADS)
        build_seconds = time.perf_counter() - started
        for ef in EF_SWEEP:
            index.set_ef(max(ef, K))
            qps, found = timed_qps(lambda batch: index.knn_query(batch, k=K, num_threads=THREADS)[0],
                                   queries)
            curve.append({"ef": ef, "recall": recall_at_k(base, queries, found, exact_scores),
                          "qps": qps})
        extra = {}
    elif library == "usearch":
        from usearch.index import Index as UIndex

        index = UIndex(ndim=base.shape[1], metric="ip", dtype="f32", connectivity=HNSW_M,
                       expansion_add=HNSW_EF_CONSTRUCTION)
        index.add(np.arange(len(base)), base, threads=THREADS)
        build_seconds = time.perf_counter() - started
        for ef in EF_SWEEP:
            index.expansion_search = max(ef, K)

            def search(batch):
                return index.search(batch, K, threads=THREADS).keys.astype(np.int64)

            qps, found = timed_qps(search, queries)
            curve.append({"ef": ef, "recall": recall_at_k(base, queries, found, exact_scores),
                          "qps": qps})
        extra = {}
    else:
        raise SystemExit(f"unknown library {library}")
    return {"library": library, "build_seconds": build_seconds, "curve": curve,
            "rss_before_mb": baseline, "peak_rss_mb": peak_rss_mb(), **extra}


def interleaved(args) -> dict:
    """Ours (HNSW through the store) and hnswlib in one process, QPS measured in alternating
    rounds at equal ef, so both see the same load on a shared machine. Ours is also timed
    with its graph numbered in insertion order, to show what the store's reorder gains."""
    import faiss
    import hnswlib

    from embedsearch.corpus import Item
    from embedsearch.index import EncoderInfo, Index, IndexWriter
    from embedsearch.index.ann import ann_search
    from embedsearch.index.reorder import permute

    work = Path(tempfile.mkdtemp(prefix="bench-pair-", dir=args.workdir))
    try:
        glove_data(work, args.queries, args.glove_rows)
        base, queries = np.load(work / "base.npy"), np.load(work / "queries.npy")
        exact_scores = np.load(work / "exact_scores.npy")
        faiss.omp_set_num_threads(THREADS)
        info = EncoderInfo("glove-6b-50d", "word2vec", "glove-6b-50d", "bench")
        with IndexWriter.create(work / "ours", info, base.shape[1], index_type="hnsw",
                                index_params={"M": HNSW_M, "efConstruction": HNSW_EF_CONSTRUCTION}) as writer:
            writer.add([Item(str(i), "") for i in range(len(base))], base)
        ours = Index.open(work / "ours", in_memory=True)
        # The same graph numbered in insertion order (item id order), as before the store
        # reordered it: the baseline for the reorder, timed in the same rounds.
        unordered = faiss.clone_index(ours.faiss)
        permute(unordered, np.argsort(faiss.vector_to_array(unordered.id_map)))
        theirs = hnswlib.Index(space="ip", dim=base.shape[1])
        theirs.init_index(max_elements=len(base), M=HNSW_M, ef_construction=HNSW_EF_CONSTRUCTION,
                          random_seed=0)
        theirs.add_items(base, np.arange(len(base)), num_threads=THREADS)
        contenders = {
            "ours": lambda b, params: ann_search(ours.faiss, b, K, params=params)[1],
            "unordered": lambda b, params: ann_search(unordered, b, K, params=params)[1],
            "hnswlib": lambda b, params: theirs.knn_query(b, k=K, num_threads=THREADS)[0],
        }
        rows = []
        for ef in args.ef:
            params = {**ours.manifest.index_params, "efSearch": ef}
            theirs.set_ef(ef)
            qps = {name: [] for name in contenders}
            row = {"ef": ef}
            for _ in range(args.rounds):
                for name, search in contenders.items():
                    value, found = timed_qps(lambda b: search(b, params), queries, rounds=1,
                                             min_seconds=0.5)
                    qps[name].append(value)
                    row[f"{name}_recall"] = recall_at_k(base, queries, found, exact_scores)
            for name in contenders:
                row[f"{name}_qps_median"] = float(np.median(qps[name]))
            for name in ("ours", "unordered"):
                ratios = np.array(qps[name]) / np.array(qps["hnswlib"])
                row[f"{name}_ratio_median"] = float(np.median(ratios))
                row[f"{name}_ratio_range"] = [float(ratios.min()), float(ratios.max())]
            rows.append(row)
            print(json.dumps(row), file=sys.stderr)
        return {"rows": len(base), "pairs": rows}
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
            print(f"{library}: built in {result['build_seconds']:.1f} s, peak RSS "
                  f"{result['peak_rss_mb']:.0f} MB (data loaded: {result['rss_before_mb']:.0f} MB)",
                  file=sys.stderr)
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
    parser.add_argument("part", choices=["glove", "pair", "ivfpq", "all", "plot"],
                        help="pair: ours vs hnswlib in alternating rounds (same load); "
                             "plot: redraw --png from the glove results in --json")
    parser.add_argument("--ef", type=int, nargs="+", default=[48, 64, 96], help="pair: ef values")
    parser.add_argument("--rounds", type=int, default=8, help="pair: alternating rounds per ef")
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--glove-rows", type=int, default=None,
                        help="glove: use only the N most frequent words (quick runs)")
    parser.add_argument("--libraries", nargs="+",
                        default=["ours-hnsw", "ours-ivfsq8", "hnswlib", "usearch"])
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
    if args.part in ("glove", "all"):
        results["glove"] = glove(args)
    if args.part == "pair":
        results["pair"] = interleaved(args)
    if args.part in ("ivfpq", "all"):
        results["ivfpq"] = ivfpq(args)
    text = json.dumps(results, indent=1)
    if args.json:
        Path(args.json).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
