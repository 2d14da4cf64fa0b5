"""Search benchmark: what the full-text index costs to build and store, and query latency per mode.

    nice -n 5 .venv/bin/python scripts/bench_search.py --items 1000000 --documents 100000 \\
        --out /tmp/bench-search

Two corpora, both from `scripts/bench_scale.py`'s corpus maker (lines of two real
sentences drawn from the corpora gensim ships, seeded):

- `lines`: `--items` lines, one item each (no chunking needed);
- `documents`: `--documents` JSON Lines records of 30 such lines each (about 600 words),
  cut by `build --corpus`'s default chunking into chunk items.

Each is built with the averaged GloVe 50d encoder twice in the same run, with and
without the full-text index (the bench turns the index's hook off for the second),
and the build time and disk size of both are printed. Queries are `--queries`
phrases of 2 to 5 words cut from lines of the corpus (seeded; ones GloVe can encode); each mode (vector,
keyword, hybrid) is timed one query at a time (p50, p99 of the wall time of one
`neighbors` call) and as one batch (mean ms per query). Results are answered as
documents with snippets, as the CLI would give them.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from bench_scale import make_corpus  # noqa: E402

MODES = ("vector", "keyword", "hybrid")
LINES_PER_DOCUMENT = 30


def directory_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 2**20


def make_documents(lines_folder: Path, out: Path, documents: int) -> None:
    lines = []
    for part in sorted(lines_folder.glob("part*.txt")):
        lines += part.read_text().splitlines()
        if len(lines) >= documents * LINES_PER_DOCUMENT:
            break
    with open(out, "w") as handle:
        for number in range(documents):
            text = " ".join(lines[number * LINES_PER_DOCUMENT:(number + 1) * LINES_PER_DOCUMENT])
            handle.write(json.dumps({"key": f"doc{number}", "text": text}) + "\n")


def build(corpus: Path, out: Path, fulltext: bool, index_type: str, **options) -> dict:
    """Build `corpus` at `out`; with `fulltext` False the store's full-text hook is turned off."""
    from embedsearch.encoders import load_encoder
    from embedsearch.index import writer as store
    from embedsearch.indexing.build import build_corpus_index

    shutil.rmtree(out, ignore_errors=True)
    hook = store.ensure_fulltext
    if not fulltext:
        store.ensure_fulltext = lambda connection: False
    try:
        started = time.perf_counter()
        report = build_corpus_index(corpus, load_encoder("glove-6b-50d"), out, overwrite=True,
                                    index_type=index_type, show_progress=False, **options)
        seconds = time.perf_counter() - started
    finally:
        store.ensure_fulltext = hook
    return {"fulltext": fulltext, "items": report.items, "build_s": round(seconds, 1),
            "disk_mb": round(directory_mb(out), 1)}


def query_phrases(corpus_folder: Path, count: int) -> list[str]:
    """`count` phrases the encoder can encode (the corpus also holds stemmed text it cannot)."""
    from embedsearch.encoders import load_encoder

    rng = np.random.default_rng(1)
    lines = (corpus_folder / "part0.txt").read_text().splitlines()[-5000:]
    phrases = []
    for line in rng.choice(lines, size=4 * count, replace=False):
        words = line.split()
        length = int(rng.integers(2, 6))
        start = int(rng.integers(0, max(1, len(words) - length)))
        phrases.append(" ".join(words[start:start + length]))
    _, encodable = load_encoder("glove-6b-50d").encode_batch(phrases)
    return [phrase for phrase, ok in zip(phrases, encodable) if ok][:count]


def time_queries(index_path: Path, queries: list[str], k: int = 10) -> dict:
    from embedsearch.index import Index
    from embedsearch.query import neighbors, neighbors_batch

    results = {}
    with Index.open(index_path, in_memory=True) as index:
        neighbors_batch(index, queries[:20], k=k)  # warm: encoder loaded, pages cached
        for mode in MODES:
            single = []
            for query in queries:
                started = time.perf_counter()
                neighbors(index, query, k=k, mode=mode)
                single.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            neighbors_batch(index, queries, k=k, mode=mode)
            batched = (time.perf_counter() - started) * 1000 / len(queries)
            results[mode] = {"p50_ms": round(float(np.percentile(single, 50)), 2),
                             "p99_ms": round(float(np.percentile(single, 99)), 2),
                             "batched_ms_per_query": round(batched, 2)}
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--documents", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--index-type", default="hnsw")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    print(f"# {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, load {os.getloadavg()}",
          file=sys.stderr, flush=True)
    lines = args.out / "lines"
    if not (lines / "part0.txt").exists():
        make_corpus(lines, args.items)
    documents = args.out / "documents.jsonl"
    make_documents(lines, documents, args.documents)
    queries = query_phrases(lines, args.queries)
    report = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
              "load_before": os.getloadavg(), "index_type": args.index_type}
    for name, corpus, options in (("lines", lines, {}), ("documents", documents,
                                                        {"key_field": "key"})):
        builds = [build(corpus, args.out / f"{name}-plain", False, args.index_type, **options),
                  build(corpus, args.out / f"{name}-fts", True, args.index_type, **options)]
        plain, with_fts = builds
        report[name] = {"builds": builds,
                        "fulltext_build_overhead": round(with_fts["build_s"] / plain["build_s"] - 1, 3),
                        "fulltext_disk_overhead": round(with_fts["disk_mb"] / plain["disk_mb"] - 1, 3),
                        "queries": time_queries(args.out / f"{name}-fts", queries)}
        shutil.rmtree(args.out / f"{name}-plain", ignore_errors=True)
        print(json.dumps({name: report[name]}), file=sys.stderr, flush=True)
    report["load_after"] = os.getloadavg()
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
