"""A query's neighbourhood laid out along two directions of one's choosing ("custom axes", as
in TensorFlow's Embedding Projector and whatlies).

Each axis runs from one term to another (a word, a text or an item key): a
point's coordinate is where its unit vector falls along the line from the
first end to the second, (v - start) . (end - start) / |end - start|^2, so the
start sits at 0 and the end at 1 on its own axis. The two axes are not made
orthogonal: each coordinate reads as "how far towards the end" on its own.

    mapped = axes_projection(index, "king", ("man", "woman"), ("poor", "rich"), k=20)
    round(float(mapped.coordinates[mapped.labels.index("woman"), 0]), 3)
    # 1.0
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from ..errors import InputError
from ..index import Index
from .neighbors import neighbors_batch
from .projection import Projection
from .terms import ignored_words, resolve_terms

MIN_AXIS_LENGTH = 1e-6  # two ends closer than this give no direction


@dataclass
class AxesLayout(Projection):
    """A `Projection` whose coordinates are positions along the two axes, and the cosine of
    the axes' directions: near 0 the two coordinates are independent; near 1 or -1 the
    points lie along a diagonal."""

    axes_cosine: float = 0.0
    ignored: list[str] = field(default_factory=list)  # words of the query or ends not known


def axis_coordinates(vectors: np.ndarray, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Where each row of `vectors` falls on the line from `start` (0) to `end` (1)."""
    direction = np.asarray(end, dtype=np.float64) - np.asarray(start, dtype=np.float64)
    return (np.asarray(vectors, dtype=np.float64) - start) @ direction / (direction @ direction)


def axes_projection(index: Index, query: str, x_axis: Sequence[str], y_axis: Sequence[str], *,
                    k: int = 50, where=None) -> AxesLayout:
    """The query, its k neighbours and the four ends of the axes, placed on two axes.

    `scores` are cosines to the query; the ends have role "term" (an end that is
    the query or one of its neighbours keeps that role)."""
    ends = [*x_axis, *y_axis]
    resolved = resolve_terms(index, [query, *ends])
    vectors = {term.text: term.vector for term in resolved}
    directions, unit_directions = [], []
    for name, (start, end) in (("x", x_axis), ("y", y_axis)):
        direction = vectors[end].astype(np.float64) - vectors[start]
        length = float(np.linalg.norm(direction))
        if length < MIN_AXIS_LENGTH:
            raise InputError(f"the {name} axis has no direction: “{start}” and “{end}” have "
                             "the same vector; choose two different terms")
        directions.append((vectors[start], vectors[end]))
        unit_directions.append(direction / length)
    query_term = resolved[0]
    ids = [next(iter(query_term.ids)) if len(query_term.ids) == 1 else -1]
    labels, roles, rows = [query], ["query"], [query_term.vector]
    hits = neighbors_batch(index, [query], k=k, where=where)[0]
    if hits:
        ids.extend(hit.id for hit in hits)
        labels.extend(hit.key for hit in hits)
        roles.extend("neighbor" for _ in hits)
        rows.extend(index.vectors_of([hit.id for hit in hits]))
    for term in resolved[1:]:
        if term.text in labels:
            continue
        own = next(iter(term.ids)) if len(term.ids) == 1 else -1
        ids.append(own)
        labels.append(term.text)
        roles.append("term")
        rows.append(term.vector)
    matrix = np.stack(rows).astype(np.float32)
    coordinates = np.column_stack([axis_coordinates(matrix, start, end)
                                   for start, end in directions]).astype(np.float32)
    scores = [round(float(s), 6) for s in matrix @ query_term.vector]
    cosine = round(float(unit_directions[0] @ unit_directions[1]), 6)
    return AxesLayout(ids, labels, roles, scores, coordinates, "axes", cosine,
                      ignored_words(resolved))

