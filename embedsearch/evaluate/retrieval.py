"""Retrieval quality: given one chunk of a document, find the document's other chunks.

The task needs no labels, only documents. Documents are split once, with a
seed, into a training part (for training encoders) and a held-out part whose
documents are cut into chunks (`write_retrieval_split`). An index built from
the held-out chunks is then asked, for every chunk whose document has other
chunks, for its nearest neighbours (the chunk itself excluded); the relevant
items are the other chunks of the same document, and every chunk of every
other held-out document is a distractor.

Two figures per run, averaged over queries:
- recall@k: the share of a query's relevant items found in its top k (a
  document contributes at most `max_chunks` chunks, so with the default 8 and
  k = 10 every relevant item fits in the top k and 1.0 is reachable);
- MRR: the mean of 1 / rank of the first relevant item (0 if none is within
  the first `depth` results).

>>> scores = RetrievalScores(k=2)
>>> scores.add([5, 7, 9], {7, 9})   # relevant at ranks 2 and 3
>>> scores.add([4, 8], {4})          # relevant at rank 1
>>> scores.result()
RetrievalResult(k=2, queries=2, recall_at_k=0.75, mrr=0.75)
"""

from __future__ import annotations

import json
import random
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from ..corpus import chunk_text
from ..errors import InputError
from ..progress import progress_bar

TRAIN_FILE = "train.txt"
HELDOUT_FILE = "heldout.jsonl"
DOC_FIELD = "doc"
MAX_CHUNKS = 8


@dataclass
class RetrievalResult:
    """Averages over the queries of one evaluation."""

    k: int
    queries: int
    recall_at_k: float
    mrr: float

    def to_dict(self) -> dict:
        return {"k": self.k, "queries": self.queries, f"recall@{self.k}": round(self.recall_at_k, 4),
                "mrr": round(self.mrr, 4)}


class RetrievalScores:
    """Accumulates recall@k and reciprocal rank, one ranked list per query."""

    def __init__(self, k: int = 10):
        self.k = k
        self.recalls: list[float] = []
        self.reciprocal_ranks: list[float] = []

    def add(self, ranked_ids: Sequence[int], relevant: set[int]) -> None:
        """One query: its results best first (the query excluded) and its relevant ids."""
        if not relevant:
            raise ValueError("a query needs at least one relevant item")
        top = ranked_ids[:self.k]
        self.recalls.append(sum(1 for i in top if i in relevant) / len(relevant))
        first = next((rank for rank, i in enumerate(ranked_ids, start=1) if i in relevant), None)
        self.reciprocal_ranks.append(1.0 / first if first else 0.0)

    def result(self) -> RetrievalResult:
        if not self.recalls:
            raise InputError("no query: no document has two or more chunks in the index")
        return RetrievalResult(self.k, len(self.recalls), float(np.mean(self.recalls)),
                               float(np.mean(self.reciprocal_ranks)))


def queries_by_document(documents: Sequence[str]) -> dict[int, set[int]]:
    """query position -> positions of the other items of its document (only documents with 2+)."""
    members: dict[str, list[int]] = defaultdict(list)
    for position, document in enumerate(documents):
        members[document].append(position)
    return {position: set(group) - {position}
            for group in members.values() if len(group) > 1 for position in group}


def evaluate_matrix(vectors, documents: Sequence[str], *, k: int = 10, depth: int = 100,
                    batch_size: int = 512) -> RetrievalResult:
    """Exact (brute-force) evaluation of row vectors: dense unit rows or a scipy sparse matrix.

    Scores are dot products, so rows should be L2-normalised (cosine). Used
    for baselines that are not encoders (TF-IDF) and to check index results.
    """
    if vectors.shape[0] != len(documents):
        raise InputError(f"{vectors.shape[0]} vectors but {len(documents)} document labels")
    relevant = queries_by_document(documents)
    scores = RetrievalScores(k)
    positions = sorted(relevant)
    depth = min(depth, len(documents) - 1)
    for start in range(0, len(positions), batch_size):
        batch = positions[start:start + batch_size]
        similarity = vectors[batch] @ vectors.T
        similarity = similarity.toarray() if hasattr(similarity, "toarray") else np.asarray(similarity)
        similarity[np.arange(len(batch)), batch] = -np.inf  # never the query itself
        # Stable sort on the negated scores: ties keep position order, like FAISS's flat index.
        order = np.argsort(-similarity, axis=1, kind="stable")[:, :depth]
        for query, ranked in zip(batch, order):
            scores.add(ranked.tolist(), relevant[query])
    return scores.result()


def evaluate_index(index_name: str | Path, *, k: int = 10, doc_field: str = DOC_FIELD,
                   depth: int = 100, show_progress: bool = True) -> RetrievalResult:
    """Search an index with each item's own stored vector; relevant = same document.

    `doc_field` names the metadata field that holds an item's document, or
    `source` to use the file an item came from.
    """
    from ..index import Index

    with Index.open(index_name) as index:
        ids, documents = _item_documents(index, doc_field)
        relevant_positions = queries_by_document(documents)
        scores = RetrievalScores(k)
        depth = min(depth, index.count - 1)
        query_positions = sorted(relevant_positions)
        with progress_bar(total=len(query_positions), unit="queries", desc="retrieval",
                          disable=not show_progress) as bar:
            for start in range(0, len(query_positions), 1024):
                batch = query_positions[start:start + 1024]
                query_ids = [int(ids[p]) for p in batch]
                hits = index.search(index.vectors_of(query_ids), k=depth,
                                    exclude=[{i} for i in query_ids])
                for position, row in zip(batch, hits):
                    relevant = {int(ids[p]) for p in relevant_positions[position]}
                    scores.add([hit.id for hit in row], relevant)
                bar.update(len(batch))
    return scores.result()


def _item_documents(index, doc_field: str) -> tuple[np.ndarray, list[str]]:
    ids, documents = [], []
    for rows in index.items.iter_rows():
        for row in rows:
            document = row["source"] if doc_field == "source" else row["metadata"].get(doc_field)
            if document is None:
                raise InputError(
                    f"item {row['key']!r} of {index.name} has no {doc_field!r} metadata field; "
                    "build the index from a JSON Lines file with that field, or use `doc_field='source'`")
            ids.append(row["id"])
            documents.append(str(document))
    return np.array(ids, dtype=np.int64), documents


def spaced_chunks(chunks: Sequence[str], max_chunks: int = MAX_CHUNKS) -> list[str]:
    """At most `max_chunks` of a document's chunks, evenly spaced, so long documents do not
    dominate the queries and every relevant item fits in the top 10."""
    if len(chunks) <= max_chunks:
        return list(chunks)
    return [chunks[i] for i in np.linspace(0, len(chunks) - 1, max_chunks).round().astype(int)]


@dataclass
class SplitReport:
    """What `write_retrieval_split` wrote."""

    train_documents: int
    heldout_documents: int
    heldout_chunks: int
    train_path: Path
    heldout_path: Path


def write_retrieval_split(documents: Iterable[tuple[str, str]], out_dir: str | Path, *,
                          heldout_fraction: float = 0.2, chunk_words: int = 48,
                          max_chunks: int = MAX_CHUNKS, seed: int = 0) -> SplitReport:
    """Split (document id, text) pairs into `train.txt` and `heldout.jsonl` under `out_dir`.

    `train.txt` holds one training document per line (a corpus for every
    trainer); `heldout.jsonl` one chunk per line with `key`, `text` and `doc`,
    ready for `embedsearch build --corpus heldout.jsonl --key-field key`. A
    held-out document longer than `max_chunks` chunks keeps `max_chunks` of
    them, evenly spaced, so that long documents do not dominate the queries.
    """
    if not 0 < heldout_fraction < 1:
        raise InputError("the held-out fraction must be between 0 and 1")
    documents = [(str(doc_id), " ".join(text.split())) for doc_id, text in documents]
    documents = [(doc_id, text) for doc_id, text in documents if text]
    if len(documents) < 2:
        raise InputError("a retrieval split needs at least two non-empty documents")
    order = list(range(len(documents)))
    random.Random(seed).shuffle(order)
    heldout_count = max(1, round(len(documents) * heldout_fraction))
    heldout = set(order[:heldout_count])
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    train_path, heldout_path = out_dir / TRAIN_FILE, out_dir / HELDOUT_FILE
    chunk_count = 0
    with open(train_path, "w", encoding="utf-8") as train, \
            open(heldout_path, "w", encoding="utf-8") as held:
        for position, (doc_id, text) in enumerate(documents):
            if position not in heldout:
                train.write(text + "\n")
                continue
            chunks = spaced_chunks(chunk_text(text, chunk_words), max_chunks)
            for number, chunk in enumerate(chunks, start=1):
                record = {"key": f"{doc_id}#{number}", "text": chunk, DOC_FIELD: doc_id}
                held.write(json.dumps(record, ensure_ascii=False) + "\n")
            chunk_count += len(chunks)
    return SplitReport(len(documents) - heldout_count, heldout_count, chunk_count,
                       train_path, heldout_path)
