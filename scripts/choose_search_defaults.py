"""Choose the search defaults (chunk size, FTS5 tokenizer, fusion method and weight, candidate
depth) on held-out known-item tasks, and report every mode on a split.

The tasks are those `scripts/known_item_tasks.py` writes (per domain: docs.jsonl with
`key` and `text`; dev.jsonl and test.jsonl of {"query", "relevant"}). For each domain
and chunk size an index is built from docs.jsonl with the given encoder (cached under
--out); each setting is then scored on the split's queries by
`embedsearch.evaluate.search_quality`. A reference BM25 (bm25s, k1 1.2, b 0.75, Robertson's
IDF, FTS5's word tokens, no stemming) over whole documents is scored beside FTS5 over
whole documents, the check that keyword mode is BM25.

    .venv/bin/python scripts/choose_search_defaults.py --tasks /work/wt/tasks --split dev \\
        --encoder all-minilm-l6-v2 --out /tmp/search-defaults
"""

from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
import sys
import time
from pathlib import Path

from embedsearch.encoders import load_encoder
from embedsearch.evaluate.search_quality import ModeScores, evaluate_search, read_queries
from embedsearch.index import Index, checksums
from embedsearch.index.fulltext import FTS_TABLE, ensure_fulltext, keyword_search
from embedsearch.index.manifest import Manifest
from embedsearch.indexing.build import build_corpus_index
from embedsearch.query.fusion import Fusion

TOKENIZERS = {"porter": "porter unicode61 remove_diacritics 2",
              "unicode61": "unicode61 remove_diacritics 2"}


def cached_encoder(encoder):
    """The encoder with its query encodings memoised (settings re-ask the same queries)."""
    memory: dict[str, tuple] = {}
    encode_batch = encoder.encode_batch

    def memoised(texts):
        import numpy as np

        missing = [t for t in dict.fromkeys(texts) if t not in memory]
        if missing:
            vectors, ok = encode_batch(missing)
            memory.update({t: (v, o) for t, v, o in zip(missing, vectors, ok)})
        return (np.stack([memory[t][0] for t in texts]),
                np.array([memory[t][1] for t in texts], dtype=bool))

    encoder.encode_batch = memoised
    return encoder


def build(domain_dir: Path, encoder_name: str, chunk_words: int | None, out: Path) -> Path:
    path = out / f"{domain_dir.name}-{encoder_name.replace('/', '_')}-{chunk_words or 'whole'}"
    if not (path / "CURRENT").exists():
        started = time.perf_counter()
        build_corpus_index(domain_dir / "docs.jsonl", load_encoder(encoder_name), path,
                           key_field="key", chunk_words=chunk_words, overwrite=True,
                           show_progress=False)
        print(f"built {path.name} in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    return path


def with_tokenizer(path: Path, tokenizer: str, out: Path) -> Path:
    """A copy of the index whose full-text index uses `tokenizer`."""
    copy = out / f"{path.name}-{tokenizer.split()[0]}"
    if copy.exists():
        shutil.rmtree(copy)
    shutil.copytree(path, copy)
    with Index.open(copy) as index:
        version = index.version_dir
    connection = sqlite3.connect(version / "items.db")
    connection.executescript(f"DROP TABLE {FTS_TABLE}; DROP TRIGGER items_fts_insert; "
                             "DROP TRIGGER items_fts_delete; DROP TRIGGER items_fts_update;")
    ensure_fulltext(connection, tokenizer)
    connection.commit()
    connection.close()
    manifest = Manifest.read(version)
    manifest.files = checksums.record(version)
    manifest.write(version)
    return copy


def reference_bm25(domain_dir: Path, queries, k: int = 10) -> dict:
    """bm25s (k1 1.2, b 0.75, Lucene IDF) and FTS5 over whole documents, on the same tokens."""
    import bm25s

    documents = [json.loads(line) for line in open(domain_dir / "docs.jsonl")]
    keys = [d["key"] for d in documents]
    texts = [d["text"] for d in documents]
    # FTS5's unicode61 tokens (runs of letters and digits, lower-cased) and its IDF (Robertson's).
    pattern = r"(?u)[^\W_]+"
    retriever = bm25s.BM25(k1=1.2, b=0.75, method="robertson")
    retriever.index(bm25s.tokenize(texts, stopwords=None, token_pattern=pattern,
                                   show_progress=False), show_progress=False)
    reference = ModeScores("bm25s (whole documents)", k)
    results, _ = retriever.retrieve(bm25s.tokenize([q for q, _ in queries], stopwords=None,
                                                   token_pattern=pattern, show_progress=False),
                                    k=min(k, len(texts)), show_progress=False)
    for row, (_, relevant) in zip(results, queries):
        reference.add([keys[i] for i in row], relevant)
    fts = ModeScores("FTS5 unicode61 (whole documents)", k)
    connection = sqlite3.connect(":memory:")
    connection.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, text TEXT)")
    ensure_fulltext(connection, TOKENIZERS["unicode61"])
    connection.executemany("INSERT INTO items VALUES (?, ?)", enumerate(texts))
    for query, relevant in queries:
        fts.add([keys[i] for i, _ in keyword_search(connection, query, k)], relevant)
    return {"reference": reference.result(), "fts5": fts.result()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=Path, required=True)
    parser.add_argument("--split", default="dev", choices=("dev", "test"))
    parser.add_argument("--encoder", default="all-minilm-l6-v2")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--chunk-words", type=int, nargs="+", default=[100, 200, 400])
    parser.add_argument("--domains", nargs="+", default=None)
    parser.add_argument("--quick", action="store_true",
                        help="Only the default settings (the report run on test).")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    domains = [args.tasks / d for d in (args.domains or sorted(
        p.name for p in args.tasks.iterdir() if (p / "docs.jsonl").exists()))]
    report = []
    for domain in domains:
        queries = read_queries(domain / f"{args.split}.jsonl")
        entry = {"domain": domain.name, "queries": len(queries), "bm25": reference_bm25(domain, queries)}
        runs = []
        for chunk_words in args.chunk_words:
            path = build(domain, args.encoder, chunk_words, args.out)
            settings = [("vector", {}), ("keyword", {}), ("hybrid", {})]
            if not args.quick:
                settings += [("hybrid", {"fusion": Fusion("rrf", alpha=a, rrf_k=r)})
                             for r in (10, 60) for a in (0.3, 0.5, 0.7)]
                settings += [("hybrid", {"fusion": Fusion("mix", alpha=a)})
                             for a in (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)]
                settings += [("hybrid", {"depth": d}) for d in (20, 50, 200)]
            with Index.open(path) as index:
                from embedsearch.query.terms import index_encoder

                cached_encoder(index_encoder(index))
                for mode, options in settings:
                    started = time.perf_counter()
                    result = evaluate_search(index, queries, [mode], show_progress=False,
                                             **options)[0]
                    result.update(chunk_words=chunk_words, seconds=round(time.perf_counter() - started, 2),
                                  **{name: (value.as_dict() if hasattr(value, "as_dict") else value)
                                     for name, value in options.items()})
                    runs.append(result)
                    print(json.dumps({"domain": domain.name, **result}), file=sys.stderr)
            if not args.quick:
                unicode_path = with_tokenizer(path, TOKENIZERS["unicode61"], args.out)
                with Index.open(unicode_path) as index:
                    result = evaluate_search(index, queries, ["keyword"], show_progress=False)[0]
                    result.update(chunk_words=chunk_words, tokenizer="unicode61")
                    runs.append(result)
                    print(json.dumps({"domain": domain.name, **result}), file=sys.stderr)
                shutil.rmtree(unicode_path)
        entry["runs"] = runs
        report.append(entry)
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
