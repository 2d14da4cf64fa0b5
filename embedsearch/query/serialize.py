"""The one serializer per result shape: what `--json` prints and what the HTTP API returns.

Both interfaces call these functions, so a field never means one thing in
the terminal and another over HTTP. Scores are rounded to 6 decimals;
corpus items carry their text, source, position and metadata; every answer
lists the query words that were `ignored` (unknown to the vectors).

Shapes:
  answer      {"query", "hits": [hit...], "ignored"}      neighbors, analogy, most-similar
              (+ "search" {"mode", "documents", "depth", "fusion"} for a text search, whose hits
              also carry document, item_key, chunk, start, end, snippet, highlights, vector
              and keyword {"rank", "score"} or null)
  similarity  {"terms", "matrix", "ignored"} (+ "score" for two terms)
  odd one out {"words", "odd_one_out", "ignored"}
  error line  {"query", "error"}                          a batch line that could not be answered
"""

from __future__ import annotations

from typing import Sequence

from ..index import Hit, Index
from .search import SearchHit, SearchHits, search_hit_fields
from .types import OddOneOut, Similarities


def hits_payload(index: Index, hits: Sequence[Hit]) -> list[dict]:
    """Hits as dicts: rank, key, score, id; corpus items also text, source, position, metadata."""
    rows = index.items.rows([h.id for h in hits]) if index.manifest.content != "vocabulary" else {}
    payload = []
    for rank, hit in enumerate(hits, start=1):
        entry = {"rank": rank, "key": hit.key, "score": round(hit.score, 6), "id": hit.id}
        row = rows.get(hit.id)
        if row:
            entry.update(text=row["text"], source=row["source"], position=row["position"],
                         metadata=row["metadata"])
        if isinstance(hit, SearchHit):
            entry.update(search_hit_fields(hit))
        payload.append(entry)
    return payload


def answer_payload(index: Index, query, hits: Sequence[Hit]) -> dict:
    """One query's answer: the query as given, its hits, and the words it ignored
    (a text search also says how it searched: mode, fusion, documents or chunks)."""
    answer = {"query": query, "hits": hits_payload(index, hits),
              "ignored": list(getattr(hits, "ignored", []))}
    if isinstance(hits, SearchHits):
        answer["search"] = hits.search
    return answer


def similarity_payload(similarities: Similarities) -> dict:
    """Every pair's cosine as a matrix; two terms also get the one `score`."""
    matrix = [[round(float(v), 6) for v in row] for row in similarities.matrix]
    payload = {"terms": list(similarities.terms), "matrix": matrix}
    if len(similarities.terms) == 2:
        payload["score"] = matrix[0][1]
    payload["ignored"] = list(similarities.ignored)
    return payload


def odd_one_out_payload(answer: OddOneOut) -> dict:
    return {"words": list(answer.words), "odd_one_out": answer.odd_one_out,
            "ignored": list(answer.ignored)}


def error_payload(query, message: str) -> dict:
    """A batch line that could not be answered: the others still are."""
    return {"query": query, "error": message}


def projection_payload(index: Index, projection) -> dict:
    """A `query.projection.Projection` as the map's points: key, x, y, role, score, id;
    corpus items also text, source, position, metadata."""
    rows = index.items.rows([i for i in projection.ids if i >= 0]) \
        if index.manifest.content != "vocabulary" else {}
    points = []
    for item_id, label, role, score, (x, y) in zip(projection.ids, projection.labels,
                                                  projection.roles, projection.scores,
                                                  projection.coordinates.tolist()):
        point = {"key": label, "x": round(x, 6), "y": round(y, 6), "role": role,
                 "score": score, "id": item_id if item_id >= 0 else None}
        row = rows.get(item_id)
        if row:
            point.update(text=row["text"], source=row["source"], position=row["position"],
                         metadata=row["metadata"])
        points.append(point)
    return {"method": projection.method, "points": points}
