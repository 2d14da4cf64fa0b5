"""The one serializer per result shape: what `--json` prints and what the HTTP API returns.

Both interfaces call these functions, so a field never means one thing in
the terminal and another over HTTP. Scores are rounded to 6 decimals;
corpus items carry their text, source, position and metadata.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ..index import Hit, Index


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
        payload.append(entry)
    return payload


def similarity_payload(terms: Sequence[str], matrix: np.ndarray) -> dict:
    """Two terms: {"a", "b", "score"}; more: {"terms", "matrix"}."""
    if len(terms) == 2:
        return {"a": terms[0], "b": terms[1], "score": round(float(matrix[0, 1]), 6)}
    return {"terms": list(terms), "matrix": [[round(float(v), 6) for v in row] for row in matrix]}


def odd_one_out_payload(words: Sequence[str], odd: str) -> dict:
    return {"words": list(words), "odd_one_out": odd}


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
