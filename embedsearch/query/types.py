"""The types query functions return: hits, a similarity matrix, the odd one out.

Each also carries the query words the vectors did not know (`ignored`): the
CLI prints them on stderr and in `--json`, the HTTP API returns them, and no
interface has to recompute them. `query.serialize` turns each into a dict.

    hits = neighbors(index, "new york xqzvbn")
    hits[0].key, hits.ignored
    # ('chicago', ['xqzvbn'])
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


class Hits(list):
    """A list of hits, best first, that also says which query words were ignored."""

    def __init__(self, hits=(), ignored=()):
        super().__init__(hits)
        self.ignored = list(ignored)


@dataclass
class Similarities:
    """Cosine similarity of every pair of `terms`, (n, n), and the words that were ignored."""

    terms: list[str]
    matrix: np.ndarray
    ignored: list[str] = field(default_factory=list)


@dataclass
class OddOneOut:
    """The word that does not belong, and the given words the vectors do not know."""

    words: list[str]
    odd_one_out: str
    ignored: list[str] = field(default_factory=list)
