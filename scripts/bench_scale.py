"""Scale benchmarks: a 10M x 128 IVF-PQ index on one machine, and corpus builds local vs Ray.

    python scripts/bench_scale.py ivfpq --rows 10000000 --out /tmp/scale/ivfpq10m
    python scripts/bench_scale.py corpus --items 1000000 --out /tmp/scale/corpus

`ivfpq`: synthetic but structured vectors (a Gaussian mixture: 4,096 random
unit centres in 128-d, each point a centre plus isotropic noise of norm about
0.6, then normalised; seeded), streamed into an ordinary index through
`IndexWriter` in 100,000-row batches (SQLite rows and float16 raw vectors on
disk), IVF-PQ trained on the writer's usual 262,144-row sample, queried with
exact reranking from the raw vectors. Recall@10 is against an exact scan of
the stored vectors for 200 fresh queries from the same mixture. Prints
build time, VmHWM (peak resident memory), disk, recall@10 and QPS as JSON.

`corpus`: a corpus of `--items` lines made of real sentences of the corpora
gensim ships (lee_background.cor, lee.cor, head500.noblanks.cor), split at
sentence ends, each line two sentences drawn with a seeded generator and
joined (so lines are real English, not repeated verbatim), written as 8
text files; then built single-process (with 1 thread, the budget of one Ray
worker, and with 2) and on Ray with 1 and 2 workers, for the averaged-GloVe
encoder and (with --attention DIR) an attention encoder, whose corpus may be
smaller (--attention-items).
Prints items/s, wall time and peak memory of the driver and of the workers;
each build's fixed cost (Ray and its actors starting, the encoder loading) is
timed on a 200-line corpus, and items/s past it is also given.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

DIM = 128
CENTRES = 4096
SWEEP = "64:10,128:20,256:40,256:100,512:100"  # nprobe:rerank factor, tried on the built index
STARTUP_LINES = 200  # the corpus whose build times a build's fixed cost


def vm_hwm_mb(pid: str = "self") -> float:
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def mixture(rows: int, seed: int, centres: np.ndarray):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, len(centres), rows)
    points = centres[labels] + rng.normal(scale=0.6 / np.sqrt(DIM), size=(rows, DIM))
    points /= np.linalg.norm(points, axis=1, keepdims=True)
    return points.astype(np.float32)


def build_ivfpq(args, out: Path, centres: np.ndarray) -> dict:
    """Stream `args.rows` mixture vectors into an IVF-PQ index at `out`; time, memory, disk."""
    from embedsearch.corpus import Item
    from embedsearch.index import EncoderInfo, IndexWriter

    params = {"nlist": args.nlist, "m": 16, "nbits": 8, "nprobe": args.nprobe,
              "rerank": args.rerank}
    shutil.rmtree(out, ignore_errors=True)
    started = time.perf_counter()
    writer = IndexWriter.create(out, EncoderInfo("mixture", "synthetic", "mixture", "seed-0"), DIM,
                                index_type="ivfpq", index_params=params,
                                vector_dtype=args.vector_dtype)
    with writer:
        for batch, start in enumerate(range(0, args.rows, 100_000)):
            count = min(100_000, args.rows - start)
            writer.add([Item(f"v{start + i}", "") for i in range(count)],
                       mixture(count, 1000 + batch, centres))
        written = time.perf_counter() - started
    build_seconds = time.perf_counter() - started
    build_hwm = vm_hwm_mb()  # before bench_ivfpq's exact scan, which holds a 1M-row block
    disk = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
    return {"write_seconds": round(written, 1), "build_seconds": round(build_seconds, 1),
            "build_vm_hwm_mb": round(build_hwm), "raw_float32_mb": round(args.rows * DIM * 4 / 2**20),
            "disk_mb": round(disk / 2**20)}


def bench_ivfpq(args) -> dict:
    """Build (unless --reuse) and query the IVF-PQ index: recall@10 and QPS per sweep point."""
    from embedsearch.index import Index

    out = Path(args.out)
    centres = np.random.default_rng(0).normal(size=(CENTRES, DIM))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    build = {} if args.reuse else build_ivfpq(args, out, centres)
    queries = mixture(200, 7, centres)
    with Index.open(out) as index:
        exact_scores = np.full((len(queries), 10), -np.inf, dtype=np.float32)
        exact_ids = np.zeros((len(queries), 10), dtype=np.int64)
        for start in range(0, index.manifest.rows, 1_000_000):
            stop = min(start + 1_000_000, index.manifest.rows)
            scores = queries @ index.raw_vectors.read_range(start, stop).T
            ids = np.argpartition(-scores, 10, axis=1)[:, :10] + start
            both_scores = np.hstack([exact_scores, np.take_along_axis(scores, ids - start, 1)])
            both_ids = np.hstack([exact_ids, ids])
            best = np.argsort(-both_scores, axis=1)[:, :10]
            exact_scores = np.take_along_axis(both_scores, best, 1)
            exact_ids = np.take_along_axis(both_ids, best, 1)
        searches = []
        for point in args.sweep.split(","):
            nprobe, rerank = map(int, point.split(":"))
            index.manifest.index_params.update(nprobe=nprobe, rerank=rerank)
            index.search(queries[:10], k=10)  # warm the inverted lists
            t0 = time.perf_counter()
            hits = [index.search(query, k=10)[0] for query in queries]
            single = time.perf_counter() - t0
            t0 = time.perf_counter()
            index.search(queries, k=10)
            batched = time.perf_counter() - t0
            found = [{h.id for h in row} for row in hits]
            recall = float(np.mean([len(f & set(e.tolist())) / 10
                                    for f, e in zip(found, exact_ids)]))
            searches.append({"nprobe": nprobe, "rerank": rerank, "recall_at_10": recall,
                             "qps_one_at_a_time": round(len(queries) / single, 1),
                             "qps_batch_of_200": round(len(queries) / batched, 1)})
        manifest = index.manifest
    return {"rows": manifest.rows, "dim": DIM, "params": manifest.index_params,
            "vector_dtype": manifest.vector_dtype, **build, "searches": searches}


# -- corpus builds ---------------------------------------------------------

SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def corpus_sentences() -> list[str]:
    """The sentences (of 4 words or more) of the corpora gensim ships, in file order."""
    from gensim.test.utils import datapath

    sentences = []
    for name in ("lee_background.cor", "lee.cor", "head500.noblanks.cor"):
        for line in open(datapath(name), encoding="utf-8", errors="replace"):
            sentences += [s.strip() for s in SENTENCE_END.split(line) if len(s.split()) >= 4]
    return sentences


def make_corpus(folder: Path, items: int, files: int = 8) -> None:
    sentences = corpus_sentences()
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    per_file = -(-items // files)
    for number in range(files):
        count = min(per_file, items - number * per_file)
        picks = rng.integers(0, len(sentences), size=(count, 2))
        with open(folder / f"part{number}.txt", "w") as handle:
            handle.writelines(f"{sentences[a]} {sentences[b]}\n" for a, b in picks)


class WorkerWatch:
    """Peak VmHWM (MB) of each Ray encoder actor, sampled every 0.5 s in a thread during a build.

    The actors end with the build, so their peaks cannot be read after it.
    """

    def __init__(self):
        import threading

        self.found, self.stop = {}, threading.Event()
        self.thread = threading.Thread(target=self.sample, daemon=True)
        self.thread.start()

    def sample(self) -> None:
        while not self.stop.wait(0.5):
            for pid in filter(str.isdigit, os.listdir("/proc")):
                try:
                    title = open(f"/proc/{pid}/cmdline", "rb").read()
                    if title.startswith(b"ray::") and b"EncodeBatches" in title:
                        self.found[pid] = max(self.found.get(pid, 0), round(vm_hwm_mb(pid)))
                except OSError:  # the process ended between listing and reading
                    pass

    def peaks(self) -> list[int]:
        self.stop.set()
        self.thread.join()
        return sorted(self.found.values())


def build_child(corpus: str, spec: str, out: str, mode: str, workers: int) -> None:
    """One corpus build in this (fresh) process; prints its JSON figures on the last line."""
    from embedsearch.encoders import load_encoder
    from embedsearch.indexing import build_corpus_index

    encoder = load_encoder(spec)
    started = time.perf_counter()
    if mode == "local":
        import faiss
        import torch  # the same thread budget as that many Ray workers (each pins 1 thread)

        faiss.omp_set_num_threads(workers)
        torch.set_num_threads(workers)
        report = build_corpus_index(corpus, encoder, out, overwrite=True, show_progress=False)
        workers_mb = []
    else:
        import ray

        from embedsearch.distributed import RayEngine

        # The object store Ray sizes for itself, as `build --ray` leaves it: a store made too
        # small spills the encoded batches to disk and reads them back, on the same 2 cores.
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
        watch = WorkerWatch()
        with RayEngine(workers=workers) as engine:
            report = build_corpus_index(corpus, encoder, out, overwrite=True, show_progress=False,
                                        engine=engine)
        workers_mb = watch.peaks()
        ray.shutdown()
    seconds = time.perf_counter() - started
    print(json.dumps({"items": report.items, "seconds": seconds, "workers_mb": workers_mb,
                      "driver_mb": round(vm_hwm_mb())}))


def bench_corpus(args) -> list[dict]:
    out = Path(args.out)
    corpus = out / "corpus"
    if not corpus.exists():
        make_corpus(corpus, args.items)
    encoders = [("glove-6b-50d", "glove-6b-50d", corpus)]
    if args.attention:
        # The attention encoder is ~10x slower per item: it may get a smaller corpus of the same
        # kind (--attention-items), so that its three builds fit one run.
        attention_corpus = corpus
        if args.attention_items and args.attention_items < args.items:
            attention_corpus = out / f"corpus-{args.attention_items}"
            if not attention_corpus.exists():
                make_corpus(attention_corpus, args.attention_items)
        encoders.append(("attention", args.attention, attention_corpus))
    # The fixed cost of a build (starting Ray and its actors, loading the encoder, publishing)
    # is timed on the first STARTUP_LINES lines, so the rate past it can be told apart.
    startup_corpus = out / "corpus-startup"
    if not startup_corpus.exists():
        startup_corpus.mkdir(parents=True)
        with open(next(corpus.glob("*.txt"))) as lines:
            (startup_corpus / "part0.txt").write_text("".join(next(lines) for _ in range(STARTUP_LINES)))
    results = []
    if args.only:
        encoders = [entry for entry in encoders if entry[0].startswith(args.only)]
    for label, spec, lines in encoders:
        for mode, workers in args.modes:
            name = f"{label}-{mode}{workers}"
            startup = build_in_child(startup_corpus, spec, out / f"{name}-startup", mode, workers)
            result = build_in_child(lines, spec, out / name, mode, workers)
            past_startup = result["seconds"] - startup["seconds"]
            result.update(encoder=label,
                          mode=f"local, {workers} thread(s)" if mode == "local" else f"ray x{workers}",
                          items_per_s=round(result["items"] / result["seconds"]),
                          startup_s=round(startup["seconds"], 1),
                          items_per_s_past_startup=round((result["items"] - startup["items"])
                                                         / past_startup))
            results.append(result)
            print(json.dumps(result), flush=True)
    return results


def build_modes(text: str) -> list[tuple[str, int]]:
    """'local1,ray2' -> [('local', 1), ('ray', 2)]."""
    modes = [(name[:-1], int(name[-1])) for name in text.split(",")
             if name in ("local1", "local2", "ray1", "ray2")]
    if len(modes) != len(text.split(",")):
        raise argparse.ArgumentTypeError(f"{text!r}: use local1, local2, ray1 or ray2, comma-separated")
    return modes


def build_in_child(corpus: Path, spec: str, out: Path, mode: str, workers: int) -> dict:
    """`build_child`'s figures, from a fresh process."""
    run = subprocess.run([sys.executable, __file__, "child", str(corpus), spec, str(out), mode,
                          str(workers)], capture_output=True, text=True)
    if run.returncode:
        raise SystemExit(run.stderr[-2000:])
    return json.loads(run.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    ivfpq = commands.add_parser("ivfpq")
    ivfpq.add_argument("--rows", type=int, default=10_000_000)
    ivfpq.add_argument("--out", required=True)
    ivfpq.add_argument("--nlist", type=int, default=4096)
    ivfpq.add_argument("--nprobe", type=int, default=64)
    ivfpq.add_argument("--rerank", type=int, default=10)
    ivfpq.add_argument("--vector-dtype", default="float16")
    ivfpq.add_argument("--sweep", default=SWEEP, help="nprobe:rerank points to query, comma-separated")
    ivfpq.add_argument("--reuse", action="store_true",
                       help="query the index already at --out instead of building it")
    corpus = commands.add_parser("corpus")
    corpus.add_argument("--items", type=int, default=1_000_000)
    corpus.add_argument("--out", required=True)
    corpus.add_argument("--attention", help="an attention encoder directory")
    corpus.add_argument("--attention-items", type=int,
                        help="items of the attention encoder's corpus (default: --items)")
    corpus.add_argument("--only", choices=["glove", "attention"],
                        help="run one encoder's builds only")
    corpus.add_argument("--modes", type=build_modes, default=build_modes("local1,local2,ray1,ray2"),
                        help="builds to run, comma-separated: local1, local2 (threads), ray1, ray2 "
                             "(workers)")
    child = commands.add_parser("child", help="(internal) one build in a fresh process")
    for name in ("corpus", "spec", "out", "mode"):
        child.add_argument(name)
    child.add_argument("workers", type=int)
    args = parser.parse_args()
    if args.command == "child":
        return build_child(args.corpus, args.spec, args.out, args.mode, args.workers)
    print(f"# {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, load {os.getloadavg()}",
          flush=True)
    result = bench_ivfpq(args) if args.command == "ivfpq" else bench_corpus(args)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
