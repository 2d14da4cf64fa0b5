"""Search benchmark: what the full-text index costs to build and store, and query latency per mode.

    nice -n 5 .venv/bin/python scripts/bench_search.py --items 1000000 --documents 100000 \\
        --out /tmp/bench-search

Two corpora, both from `scripts/bench_scale.py`'s corpus maker (lines of two real
sentences drawn from the corpora gensim ships, seeded):

- `lines`: `--items` lines, one item each (no chunking needed);
- `documents`: `--documents` JSON Lines records of several hundred words each (200 to 800,
  uniformly; sentences of the same corpora drawn at random, seeded), cut by `build --corpus`'s
  default chunking (200 words, sentence-aligned) into chunk items, answered as documents.

Each is built with the averaged GloVe 50d encoder twice in the same run, with and
without the full-text index (the bench turns the index's hook off for the second;
`--fts-only` skips it), and the build time and disk size of both are printed, with
the time the first keyword query takes to make the BM25 impact matrix and its size.
Queries are `--queries` phrases of 2 to 5 words cut from lines of the corpus (seeded;
ones GloVe can encode); each mode (vector, keyword, hybrid) is timed one query at a
time (p50, p99 of the wall time of one `neighbors` call, and of the process's CPU
time: on a shared machine the wall time also counts other processes' turns) and as
one batch (mean ms per query); keyword and hybrid are also timed on the first
`--baseline-queries` with FTS5's bm25() alone (the impact matrix turned off), the
baseline of the same run. Results are answered as documents with snippets, as the CLI
would give them. `--documents 0` skips the documents corpus.

`--after-write INDEX` times instead what a small write costs keyword search on an index
whose matrix exists: the write of `--write-documents` new documents, the new version's
first keyword query in a fresh process state (as a CLI query), and keyword latency
before and after it.
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
from bench_scale import corpus_sentences, make_corpus  # noqa: E402

MODES = ("vector", "keyword", "hybrid")
DOCUMENT_WORDS = (200, 800)  # a document's length in words is drawn uniformly from this range


def directory_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 2**20


def make_documents(out: Path, documents: int) -> int:
    """Write `documents` JSON Lines records of DOCUMENT_WORDS words (seeded: sentences drawn at
    random, those of at most DOCUMENT_WORDS[0] words, until the length drawn is reached);
    returns how many."""
    sentences = [sentence for sentence in corpus_sentences()
                 if len(sentence.split()) <= DOCUMENT_WORDS[0]]
    lengths = [len(sentence.split()) for sentence in sentences]
    rng = np.random.default_rng(2)
    with open(out, "w") as handle:
        for number in range(documents):
            wanted, words, picked = int(rng.integers(*DOCUMENT_WORDS, endpoint=True)), 0, []
            while words < wanted:
                pick = int(rng.integers(len(sentences)))
                picked.append(sentences[pick])
                words += lengths[pick]
            handle.write(json.dumps({"key": f"doc{number}", "text": " ".join(picked)}) + "\n")
    return documents


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


def make_keyword_index(index_path: Path) -> dict:
    """Time the first keyword query's making of the BM25 impact matrix, and its size."""
    from embedsearch.index import Index
    from embedsearch.index.bm25_impacts import FOLDER
    from embedsearch.query.search import keyword_impacts

    with Index.open(index_path) as index:
        started = time.perf_counter()
        keyword_impacts(index)
        seconds = time.perf_counter() - started
        return {"keyword_index_s": round(seconds, 1),
                "keyword_index_mb": round(directory_mb(index.version_dir / FOLDER), 1)}


def time_mode(index, queries: list[str], mode: str, k: int) -> dict:
    from embedsearch.query import neighbors, neighbors_batch

    single, cpu = [], []
    for query in queries:
        started, started_cpu = time.perf_counter(), time.process_time()
        neighbors(index, query, k=k, mode=mode)
        single.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - started_cpu) * 1000)
    started = time.perf_counter()
    neighbors_batch(index, queries, k=k, mode=mode)
    batched = (time.perf_counter() - started) * 1000 / len(queries)
    return {"p50_ms": round(float(np.percentile(single, 50)), 2),
            "p99_ms": round(float(np.percentile(single, 99)), 2),
            "cpu_p50_ms": round(float(np.percentile(cpu, 50)), 2),
            "cpu_p99_ms": round(float(np.percentile(cpu, 99)), 2),
            "batched_ms_per_query": round(batched, 2), "queries": len(queries)}


def time_queries(index_path: Path, queries: list[str], baseline_queries: int,
                 k: int = 10) -> dict:
    from embedsearch.index import Index
    from embedsearch.query import neighbors_batch
    from embedsearch.query.search import keyword_impacts

    results = {}
    with Index.open(index_path, in_memory=True) as index:
        neighbors_batch(index, queries[:20], k=k)  # warm: encoder loaded, pages cached
        for mode in MODES:
            results[mode] = time_mode(index, queries, mode, k)
        impacts = keyword_impacts(index)
        index._keyword_impacts = False  # FTS5's bm25() alone: the baseline
        try:
            for mode in ("keyword", "hybrid") if baseline_queries else ():
                results[f"{mode} (FTS5 bm25 alone)"] = time_mode(
                    index, queries[:baseline_queries], mode, k)
        finally:
            index._keyword_impacts = impacts
    return results


def matrix_ready(index_path: Path) -> dict:
    """Make sure the live version has its matrix (made by the first query if it has none, or
    in the background and waited for); the seconds that took."""
    from embedsearch.index import Index, bm25_impacts
    from embedsearch.query.search import keyword_impacts

    started = time.perf_counter()
    with Index.open(index_path) as index:
        made = keyword_impacts(index) is not None
        if not made:
            bm25_impacts.wait_for_builders()
    return {"matrix_made_s": round(time.perf_counter() - started, 1),
            "matrix_in_the_first_query": made}


def time_keyword_list(index, queries: list[str], depth: int = 100) -> dict:
    """p50 and p99 ms of the keyword list alone (the `depth` best items, no grouping or
    snippets): the part the BM25 matrix answers."""
    from embedsearch.index.fulltext import keyword_search
    from embedsearch.query.search import keyword_impacts

    single = []
    for query in queries:
        started = time.perf_counter()
        keyword_search(index.items.connection, query, depth, None, keyword_impacts(index))
        single.append((time.perf_counter() - started) * 1000)
    return {"p50_ms": round(float(np.percentile(single, 50)), 2),
            "p99_ms": round(float(np.percentile(single, 99)), 2)}


def time_after_write(index_path: Path, queries: list[str], documents: int,
                     k: int = 10) -> dict:
    """The cost of a small write to an index whose matrix exists: the write itself (adding
    `documents` lines of the corpus, each a document of its own), then the first keyword
    query of the new version (what a CLI user pays) and query latency on it."""
    from embedsearch.corpus import Item
    from embedsearch.index import Index
    from embedsearch.indexing.add import upsert_items
    from embedsearch.query import neighbors

    results = {"before the write": matrix_ready(index_path)}
    with Index.open(index_path, in_memory=True) as index:
        neighbors(index, queries[0], k=k, mode="keyword")
        results["keyword list before the write"] = time_keyword_list(index, queries)
        results["keyword before the write"] = time_mode(index, queries, "keyword", k)
    items = [Item(f"bench-write-{time.time_ns()}-{number}", f"{query} {queries[-1 - number]}")
             for number, query in enumerate(queries[:documents])]
    started = time.perf_counter()
    upsert_items(index_path, items)
    results["write_s"] = round(time.perf_counter() - started, 2)
    started = time.perf_counter()
    with Index.open(index_path) as index:
        neighbors(index, queries[1], k=k, mode="keyword")
    results["first_keyword_query_after_write_s"] = round(time.perf_counter() - started, 2)
    results["after the write"] = matrix_ready(index_path)  # where it was not made: made now
    with Index.open(index_path, in_memory=True) as index:
        neighbors(index, queries[0], k=k, mode="keyword")
        results["keyword list after the write"] = time_keyword_list(index, queries)
        results["keyword after the write"] = time_mode(index, queries, "keyword", k)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--documents", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--baseline-queries", type=int, default=50)
    parser.add_argument("--index-type", default="hnsw")
    parser.add_argument("--fts-only", action="store_true",
                        help="build only with the full-text index (no build cost measured)")
    parser.add_argument("--reuse", action="store_true",
                        help="time queries on the indexes an earlier run left in --out")
    parser.add_argument("--after-write", type=Path, metavar="INDEX",
                        help="only time a write of --write-documents documents to this index "
                             "(its queries cut from --out's lines) and the keyword queries "
                             "before and after it")
    parser.add_argument("--write-documents", type=int, default=10)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    print(f"# {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, load {os.getloadavg()}",
          file=sys.stderr, flush=True)
    lines = args.out / "lines"
    if args.after_write:
        report = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                  "load_before": os.getloadavg()}
        report.update(time_after_write(args.after_write, query_phrases(lines, args.queries),
                                       args.write_documents))
        report["load_after"] = os.getloadavg()
        print(json.dumps(report, indent=1))
        return
    if not (lines / "part0.txt").exists():
        make_corpus(lines, args.items)
    corpora = [("lines", lines, {"unit": "line"})]
    report = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
              "load_before": os.getloadavg(), "index_type": args.index_type}
    if args.documents:
        documents = args.out / "documents.jsonl"
        if not (args.reuse and documents.exists()):
            report["documents_made"] = make_documents(documents, args.documents)
        corpora.append(("documents", documents, {"key_field": "key"}))
    queries = query_phrases(lines, args.queries)
    for name, corpus, options in corpora:
        saved = args.out / f"{name}-builds.json"
        if args.reuse and saved.exists():
            report[name] = json.loads(saved.read_text())
            report[name]["queries"] = time_queries(args.out / f"{name}-fts", queries,
                                                   args.baseline_queries)
            print(json.dumps({name: report[name]}), file=sys.stderr, flush=True)
            continue
        with_fts = build(corpus, args.out / f"{name}-fts", True, args.index_type, **options)
        with_fts.update(make_keyword_index(args.out / f"{name}-fts"))
        report[name] = {"builds": [with_fts], "load_after_build": os.getloadavg()}
        if not args.fts_only:
            plain = build(corpus, args.out / f"{name}-plain", False, args.index_type, **options)
            shutil.rmtree(args.out / f"{name}-plain", ignore_errors=True)
            report[name].update(
                builds=[plain, with_fts],
                fulltext_build_overhead=round(with_fts["build_s"] / plain["build_s"] - 1, 3),
                fulltext_disk_overhead=round(with_fts["disk_mb"] / plain["disk_mb"] - 1, 3))
        saved.write_text(json.dumps(report[name]))
        report[name]["queries"] = time_queries(args.out / f"{name}-fts", queries,
                                               args.baseline_queries)
        print(json.dumps({name: report[name]}), file=sys.stderr, flush=True)
    report["load_after"] = os.getloadavg()
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
