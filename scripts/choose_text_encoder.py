"""Choose the default text encoder: each candidate alone and fused with BM25, on the known-item tasks.

Tasks are the folders `scripts/known_item_tasks.py` writes (docs.jsonl,
dev.jsonl, test.jsonl). Documents are cut into chunks of `--chunk-words`
words with `--overlap` words of overlap; every method scores chunks, a
document scores as its best chunk, and queries are ranked against
documents. Fusion is done on the documents' lists (top `DEPTH` of each
method):

- `rrf-K`: reciprocal-rank fusion, sum of 1 / (K + rank);
- `mix-A`: A * vector + (1 - A) * BM25, each min-max normalised over its own
  top `DEPTH`, a document missing from one list scoring 0 there.

BM25 is the reference the issue names (k1 1.2, b 0.75, `bm25s`, Lucene's
IDF, lower-cased words). Reported: MRR@10, recall@10, nDCG@10 and the
encoder's speed over chunks (texts/s, torch on 2 threads).

    python scripts/choose_text_encoder.py --tasks /work/wt/tasks --split dev
    python scripts/choose_text_encoder.py --tasks /work/wt/tasks --split test --only bm25,minilm,static

MiniLM's vectors are cached in `--workdir` (they take minutes).
"""

from __future__ import annotations

import argparse
import json
import re
import time
from pathlib import Path

import numpy as np

DEPTH = 100
K = 10
_WORD = re.compile(r"\w+")


def read_jsonl(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]


def chunk_words(text: str, size: int, overlap: int) -> list[str]:
    words = text.split()
    step = max(1, size - overlap)
    return [" ".join(words[start:start + size])
            for start in range(0, max(1, len(words) - overlap), step)] or [""]


class Task:
    def __init__(self, folder: Path, split: str, size: int, overlap: int):
        self.name = folder.name
        docs = read_jsonl(folder / "docs.jsonl")
        self.keys = [doc["key"] for doc in docs]
        self.chunks, owners = [], []
        for number, doc in enumerate(docs):
            for chunk in chunk_words(doc["text"], size, overlap):
                self.chunks.append(chunk)
                owners.append(number)
        self.owners = np.asarray(owners)
        queries = read_jsonl(folder / f"{split}.jsonl")
        row = {key: number for number, key in enumerate(self.keys)}
        self.queries = [q["query"] for q in queries]
        self.relevant = [{row[key] for key in q["relevant"]} for q in queries]

    def documents(self, chunk_scores: np.ndarray) -> np.ndarray:
        """(queries, documents) best-chunk scores."""
        scores = np.full((chunk_scores.shape[0], len(self.keys)), -np.inf, dtype=np.float32)
        np.maximum.at(scores.T, self.owners, chunk_scores.T)
        return scores


def top(scores: np.ndarray, depth: int = DEPTH) -> list[list[int]]:
    order = np.argsort(-scores, axis=1, kind="stable")[:, :depth]
    return [[int(d) for d in row if np.isfinite(scores[i, d])] for i, row in enumerate(order)]


def rrf(lists_a, lists_b, k: int) -> list[list[int]]:
    fused = []
    for a, b in zip(lists_a, lists_b):
        score: dict[int, float] = {}
        for ranked in (a, b):
            for rank, doc in enumerate(ranked):
                score[doc] = score.get(doc, 0.0) + 1.0 / (k + rank + 1)
        fused.append(sorted(score, key=lambda d: -score[d]))
    return fused


def minmax(scores: np.ndarray, ranked: list[int]) -> dict[int, float]:
    values = scores[ranked]
    low, high = float(values.min()), float(values.max())
    span = high - low or 1.0
    return {doc: (float(scores[doc]) - low) / span for doc in ranked}


def mix(vector_scores, vector_lists, bm25_scores, bm25_lists, alpha: float) -> list[list[int]]:
    fused = []
    for i in range(len(vector_lists)):
        v = minmax(vector_scores[i], vector_lists[i]) if vector_lists[i] else {}
        b = minmax(bm25_scores[i], bm25_lists[i]) if bm25_lists[i] else {}
        score = {d: alpha * v.get(d, 0.0) + (1 - alpha) * b.get(d, 0.0) for d in set(v) | set(b)}
        fused.append(sorted(score, key=lambda d: (-score[d], d)))
    return fused


def metrics(ranked_lists, relevant) -> dict:
    mrr = recall = ndcg = 0.0
    for ranked, wanted in zip(ranked_lists, relevant):
        top_k = ranked[:K]
        hits = [rank for rank, doc in enumerate(top_k) if doc in wanted]
        if hits:
            mrr += 1.0 / (hits[0] + 1)
        recall += len(hits) / len(wanted)
        ideal = sum(1 / np.log2(r + 2) for r in range(min(K, len(wanted))))
        ndcg += sum(1 / np.log2(r + 2) for r in hits) / ideal
    n = len(relevant)
    return {"mrr@10": round(mrr / n, 4), "recall@10": round(recall / n, 4), "ndcg@10": round(ndcg / n, 4)}


def bm25_chunk_scores(task: Task) -> np.ndarray:
    import bm25s

    def words(texts):
        return [_WORD.findall(text.lower()) for text in texts]

    retriever = bm25s.BM25(k1=1.2, b=0.75, method="lucene")
    retriever.index(words(task.chunks), show_progress=False)
    return np.stack([retriever.get_scores(q) for q in words(task.queries)]).astype(np.float32)


# ---- candidates: name -> (fit on the chunks, encode) ----------------------------------------------

def minilm_encoder(workdir: Path):
    from embedsearch.encoders import load_encoder

    encoder = load_encoder("all-minilm-l6-v2")
    encoder.show_progress = False
    return encoder.encode


def static_encoder(name: str):
    from embedsearch.encoders import load_encoder

    encoder = load_encoder(name)
    return encoder.encode


class StaticVariant:
    """Scratch static encoder over the teacher's token table, with a choice of weighting."""

    def __init__(self, workdir: Path, source: str, weighting: str, dims: int = 256):
        from tokenizers import Tokenizer

        from embedsearch.encoders.sentence_transformer import minilm_zip, unpack_model_zip

        self.tokenizer = Tokenizer.from_file(str(unpack_model_zip(minilm_zip()) / "tokenizer.json"))
        self.tokenizer.no_truncation()
        self.tokenizer.no_padding()
        table = np.load(workdir / f"teacher_{source}.npy").astype(np.float64)
        table -= table.mean(axis=0)
        _, _, components = np.linalg.svd(table[:: 1], full_matrices=False)
        self.table = (table @ components[:dims].T).astype(np.float32)
        rank = np.arange(len(self.table))
        probability = (1 / (rank + 2)) / (1 / (rank + 2)).sum()
        self.zipf = (1e-4 / (1e-4 + probability)).astype(np.float32)
        self.weighting = weighting
        self.idf = None

    def ids(self, texts):
        return [np.asarray(e.ids, dtype=np.int64) for e in
                self.tokenizer.encode_batch(list(texts), add_special_tokens=False)]

    def fit(self, texts):
        counts = np.zeros(len(self.table))
        for ids in self.ids(texts):
            counts[np.unique(ids)] += 1
        self.idf = np.log((len(texts) + 1) / (counts + 1)).astype(np.float32) + 1.0

    def encode(self, texts):
        from embedsearch.vectors import normalize_rows

        weights = {"zipf": self.zipf, "idf": self.idf, "zipf-idf": None}[self.weighting]
        if self.weighting == "zipf-idf":
            weights = self.zipf * self.idf
        rows = np.zeros((len(texts), self.table.shape[1]), np.float32)
        for i, ids in enumerate(self.ids(texts)):
            if len(ids):
                rows[i] = weights[ids] @ self.table[ids]
        return normalize_rows(rows)


def static_variant(workdir: Path, source: str, weighting: str):
    key = (source, weighting)
    if key not in _VARIANTS:
        _VARIANTS[key] = StaticVariant(workdir, source, weighting)
    return _VARIANTS[key]


_VARIANTS: dict = {}


def candidates(workdir: Path) -> dict:
    return {"minilm": lambda: minilm_encoder(workdir),
            "m2v": lambda: static_variant(workdir, "mean", "zipf"),
            "m2v-token": lambda: static_variant(workdir, "token", "zipf"),
            "m2v-idf": lambda: static_variant(workdir, "mean", "idf"),
            "m2v-zipf-idf": lambda: static_variant(workdir, "mean", "zipf-idf"),
            "static": lambda: static_encoder("minilm-static"),
            "glove": lambda: static_encoder("glove-6b-50d")}


def encode_cached(name, make, texts, cache: Path | None, fit: bool = False) -> tuple[np.ndarray, float]:
    if cache is not None and cache.with_suffix(".npy").is_file():
        meta = json.loads(cache.with_suffix(".json").read_text())
        return np.load(cache.with_suffix(".npy")), meta["texts_per_second"]
    encoder = make()
    started = time.perf_counter()
    if hasattr(encoder, "fit") and fit:
        encoder.fit(texts)
    vectors = np.asarray(encoder.encode(texts) if hasattr(encoder, "encode") else encoder(texts),
                         dtype=np.float32)
    speed = len(texts) / (time.perf_counter() - started)
    if cache is not None:
        np.save(cache.with_suffix(".npy"), vectors)
        cache.with_suffix(".json").write_text(json.dumps({"texts_per_second": speed}))
    return vectors, speed


def main() -> None:
    import torch

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=Path, default=Path("/work/wt/tasks"))
    parser.add_argument("--domains", default="stdlib,wiki,lee")
    parser.add_argument("--split", default="dev", choices=("dev", "test"))
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/choose_text_encoder"))
    parser.add_argument("--only", default="", help="comma-separated candidates (default: all)")
    parser.add_argument("--chunk-words", type=int, default=200)
    parser.add_argument("--overlap", type=int, default=40)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    args.workdir.mkdir(parents=True, exist_ok=True)
    makers = candidates(args.workdir)
    chosen = [name for name in (args.only.split(",") if args.only else makers) if name != "bm25"]
    for domain in args.domains.split(","):
        task = Task(args.tasks / domain, args.split, args.chunk_words, args.overlap)
        started = time.perf_counter()
        bm25_docs = task.documents(bm25_chunk_scores(task))
        bm25_seconds = time.perf_counter() - started
        bm25_lists = top(bm25_docs)
        rows = [{"domain": domain, "method": "bm25", **metrics(bm25_lists, task.relevant),
                 "chunks_per_second": round(len(task.chunks) / bm25_seconds, 1)}]
        for name in chosen:
            cache = args.workdir / f"{domain}-{name}-{args.chunk_words}-{args.overlap}" if name == "minilm" else None
            chunk_vectors, speed = encode_cached(name, makers[name], task.chunks, cache, fit=True)
            query_cache = (args.workdir / f"{domain}-{name}-{args.split}-queries") if cache else None
            query_vectors, _ = encode_cached(name, makers[name], task.queries, query_cache)
            vector_docs = task.documents(query_vectors @ chunk_vectors.T)
            vector_lists = top(vector_docs)
            base = {"domain": domain, "chunks_per_second": round(speed, 1)}
            rows.append({**base, "method": name, **metrics(vector_lists, task.relevant)})
            for k in (10, 60):
                rows.append({**base, "method": f"{name}+bm25 rrf-{k}",
                             **metrics(rrf(bm25_lists, vector_lists, k), task.relevant)})
            for alpha in (0.3, 0.5, 0.7):
                rows.append({**base, "method": f"{name}+bm25 mix-{alpha}",
                             **metrics(mix(vector_docs, vector_lists, bm25_docs, bm25_lists, alpha),
                                       task.relevant)})
        for row in rows:
            print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
