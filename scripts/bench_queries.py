"""Benchmark: embedsearch queries against gensim KeyedVectors on the same GloVe 400k vectors.

Measures, in one run on this machine:
1. per-query neighbour latency (k=10) of `embedsearch.query.neighbours` against gensim's
   `most_similar`, on the same random words, checking that the answers match;
2. the wall time of a cold CLI neighbours query (a new process: imports, open, query,
   print) against a new process that loads the same vectors into gensim KeyedVectors
   (its fastest form: native format, memory-mapped) and queries once.

Targets (issue 2): per-query at least as fast as gensim; cold CLI at most a third of gensim.

    python scripts/bench_queries.py [--index PATH] [--queries 300] [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from embedsearch import query
from embedsearch.indexing.build import build_vocabulary_index
from embedsearch.encoders import load_encoder
from embedsearch.index import Index


def per_query(index: Index, keyed, words: list[str], rounds: int = 4) -> tuple[list[float], list[float], int]:
    """Latencies (s) of ours and gensim's, and how many answers differ beyond score ties.

    The two run in alternating blocks (ours, gensim, ours, ...), not query by query:
    gensim's BLAS threads keep spinning for a moment after each call and would slow
    whatever runs right after them.
    """
    mismatches = 0
    for word in words:
        hits = query.neighbors(index, word, k=10)
        expected = keyed.most_similar(word, topn=10)
        scores_match = np.allclose([h.score for h in hits], [s for _, s in expected], atol=1e-5)
        if not scores_match or {h.key for h in hits} ^ {k for k, _ in expected} and not _tied(hits, expected):
            mismatches += 1
    ours, theirs = [], []
    for _ in range(rounds):
        for word in words:
            started = time.perf_counter()
            query.neighbors(index, word, k=10)
            ours.append(time.perf_counter() - started)
        for word in words:
            started = time.perf_counter()
            keyed.most_similar(word, topn=10)
            theirs.append(time.perf_counter() - started)
    return ours, theirs, mismatches


def _tied(hits, expected) -> bool:
    """Different keys only at the tail where scores tie."""
    last = expected[-1][1]
    differing = {h.key for h in hits} ^ {k for k, _ in expected}
    scores = {h.key: h.score for h in hits} | dict(expected)
    return all(abs(scores[key] - last) < 1e-5 for key in differing)


def cold(command: list[str], repeats: int, env: dict) -> float:
    """Median wall time of a fresh process running `command`."""
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True, env=env)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", type=Path, help="an existing glove-6b-50d word index (else built in a temp dir)")
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    from gensim.models import KeyedVectors

    workdir = Path(tempfile.mkdtemp(prefix="bench-queries-"))
    glove = load_encoder("glove-6b-50d")
    index_path = args.index
    if index_path is None:
        index_path = workdir / "glove-6b-50d"
        print(f"building the 400k word index in {index_path} ...", flush=True)
        build_vocabulary_index(glove, index_path, show_progress=False)
    keyed = KeyedVectors(glove.dim)
    keyed.add_vectors(glove.words, np.asarray(glove.vectors))
    native = workdir / "glove.kv"
    keyed.save(str(native))

    rng = np.random.default_rng(0)
    words = [glove.words[i] for i in rng.choice(100000, size=args.queries, replace=False)]
    print(f"\nper-query neighbours, k=10, {len(words)} random words of the 100k most frequent "
          f"(machine: {os.cpu_count()} cores)")
    print(f"  {'':34} {'median ms':>10} {'mean ms':>10} {'gensim/ours':>12} {'mismatches':>11}")
    for label, in_memory in (("embedsearch (in memory)", True), ("embedsearch (memory-mapped, as CLI)", False)):
        with Index.open(index_path, in_memory=in_memory) as index:
            ours, theirs, mismatches = per_query(index, keyed, words)
        print(f"  {label:34} {1000 * statistics.median(ours):10.2f} {1000 * statistics.mean(ours):10.2f}"
              f" {statistics.median(theirs) / statistics.median(ours):11.2f}x {mismatches:11d}")
        print(f"  {'gensim most_similar (same words)':34} {1000 * statistics.median(theirs):10.2f}"
              f" {1000 * statistics.mean(theirs):10.2f}")

    env = {**os.environ}
    cli = [sys.executable, "-m", "embedsearch", "neighbors", "computer", "--index", str(index_path),
           "-k", "10", "--json"]
    gensim_native = [sys.executable, "-c",
                     "from gensim.models import KeyedVectors\n"
                     f"kv = KeyedVectors.load({str(native)!r}, mmap='r')\n"
                     "print(kv.most_similar('computer', topn=10))"]
    cold_cli = cold(cli, args.repeats, env)
    cold_gensim = cold(gensim_native, args.repeats, env)
    print(f"\ncold process: one neighbours query from nothing (median of {args.repeats})")
    print(f"  embedsearch CLI                          {cold_cli:6.3f} s")
    print(f"  gensim KeyedVectors.load(mmap) + query   {cold_gensim:6.3f} s")
    print(f"  ratio embedsearch / gensim: {cold_cli / cold_gensim:.2f} (target <= 0.33)")


if __name__ == "__main__":
    main()
