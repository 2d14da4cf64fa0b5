"""Search quality on a queries file: MRR@k, recall@k and nDCG@k of each search mode.

A queries file is JSON Lines, one query per line with the keys of the
documents that answer it: `{"query": "how to reset a password", "relevant":
["faq/accounts.md"]}`. Every query is searched in each mode (vector,
keyword, hybrid), answered as documents, and scored against its relevant
keys with binary relevance:

- MRR@k: 1 / rank of the first relevant document in the top k (0 if none);
- recall@k: the share of the relevant documents found in the top k;
- nDCG@k: sum of 1 / log2(rank + 1) over relevant documents in the top k,
  over the same sum for a perfect ranking.

>>> scores = ModeScores("hybrid", k=2)
>>> scores.add(["a", "b"], {"b"})        # relevant at rank 2
>>> scores.add(["c", "d"], {"c", "x"})    # one of two relevant at rank 1
>>> scores.result()["mrr"], scores.result()["recall"], scores.result()["ndcg"]
(0.75, 0.75, 0.622)
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from ..errors import InputError
from ..progress import progress_bar

MAX_QUERIES = 1_000_000
BLOCK = 256  # queries searched together


@dataclass
class ModeScores:
    """Per-query MRR, recall and nDCG at `k` for one mode."""

    mode: str
    k: int = 10
    reciprocal_ranks: list[float] = field(default_factory=list)
    recalls: list[float] = field(default_factory=list)
    ndcgs: list[float] = field(default_factory=list)

    def add(self, ranked_keys: Sequence[str], relevant: set[str]) -> None:
        top = list(ranked_keys)[:self.k]
        gains = [1.0 if key in relevant else 0.0 for key in top]
        first = next((rank for rank, gain in enumerate(gains, start=1) if gain), None)
        self.reciprocal_ranks.append(1.0 / first if first else 0.0)
        self.recalls.append(sum(gains) / len(relevant))
        ideal = sum(1 / math.log2(rank + 1) for rank in range(1, min(len(relevant), self.k) + 1))
        self.ndcgs.append(sum(g / math.log2(rank + 1) for rank, g in enumerate(gains, start=1))
                          / ideal)

    def result(self) -> dict:
        count = len(self.recalls)

        def mean(values):
            return round(sum(values) / count, 4) if count else 0.0

        return {"mode": self.mode, "queries": count, "k": self.k,
                "mrr": mean(self.reciprocal_ranks), "recall": mean(self.recalls),
                "ndcg": mean(self.ndcgs)}


def read_queries(path: str | Path) -> list[tuple[str, set[str]]]:
    """(query, relevant keys) of each line of a JSON Lines queries file; an error names a bad line."""
    queries = []
    try:
        handle = open(path, encoding="utf-8")
    except OSError as error:
        raise InputError(f"cannot read queries file {path}: {error.strerror}") from None
    with handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                raise InputError(f"{path}:{number}: not a JSON line") from None
            query = record.get("query") if isinstance(record, dict) else None
            relevant = record.get("relevant") if isinstance(record, dict) else None
            if (not isinstance(query, str) or not query.strip() or not isinstance(relevant, list)
                    or not relevant or not all(isinstance(key, str) for key in relevant)):
                raise InputError(f'{path}:{number}: each line needs {{"query": text, "relevant": '
                                 f'[document keys]}} with at least one key')
            queries.append((query, set(relevant)))
            if len(queries) > MAX_QUERIES:
                raise InputError(f"{path} has more than {MAX_QUERIES:,} queries")
    if not queries:
        raise InputError(f"{path} holds no query")
    return queries


def evaluate_search(index, queries: Sequence[tuple[str, set[str]]],
                    modes: Sequence[str] = ("vector", "keyword", "hybrid"), *, k: int = 10,
                    show_progress: bool = True, **search_options) -> list[dict]:
    """One result dict per mode (mode, queries, k, mrr, recall, ndcg) for an opened corpus index.

    `search_options` (fusion, depth, chunks, where) go to `query.search.search_batch`.
    """
    from ..query.search import check_mode, search_batch

    for mode in modes:
        check_mode(mode)
    results = []
    texts = [query for query, _ in queries]
    with progress_bar(total=len(queries) * len(modes), unit="queries", desc="retrieval",
                      disable=not show_progress) as bar:
        for mode in modes:
            scores = ModeScores(mode, k)
            for start in range(0, len(texts), BLOCK):
                answers = search_batch(index, texts[start:start + BLOCK], k=k, mode=mode,
                                       **search_options)
                for hits, (_, relevant) in zip(answers, queries[start:start + BLOCK]):
                    scores.add([hit.key for hit in hits], relevant)
                bar.update(len(answers))
            results.append(scores.result())
    return results
