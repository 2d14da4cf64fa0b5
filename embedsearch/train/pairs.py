"""Positive pairs for contrastive training, from a corpus with no labels.

Two kinds of pair come out of a document cut into chunks (`embedsearch.corpus.chunks`):
- neighbouring chunks: two chunks at most `window` apart in the same document
  (the same topic in different words);
- two views of one chunk: each a random span crop of the words followed by
  word dropout (the same words, differently cut).
Both sides of every pair are augmented, so the model never sees the exact same
text twice. A batch takes each pair from a different document, so that no
in-batch negative is secretly a positive. An optional list of labelled pairs
(`read_labelled_pairs`: TSV or JSON Lines) is mixed in.

>>> sampler = PairSampler([["a b c", "d e f"], ["g h i"]], seed=0)
>>> anchors, positives = sampler.batch(2)
>>> len(anchors), len(positives)
(2, 2)
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import InputError


@dataclass
class PairConfig:
    """How pairs are drawn and augmented."""

    window: int = 2               # neighbouring chunks: at most this many chunks apart
    neighbour_share: float = 0.7  # share of a document's pairs that are neighbours (2+ chunks)
    min_crop: float = 0.6         # a span crop keeps at least this share of the words
    word_dropout: float = 0.1     # each word of a view is dropped with this probability
    labelled_share: float = 0.5   # share of each batch taken from labelled pairs, if any


class PairSampler:
    """Draws batches of (anchor, positive) texts; seeded, so runs repeat exactly."""

    def __init__(self, documents: Sequence[Sequence[str]], *, config: PairConfig = PairConfig(),
                 labelled: Sequence[tuple[str, str]] = (), seed: int = 0):
        self.documents = [list(chunks) for chunks in documents if chunks]
        if not self.documents and not labelled:
            raise InputError("no text to draw training pairs from")
        self.config = config
        self.labelled = list(labelled)
        self.random = np.random.default_rng(seed)
        sizes = np.array([len(chunks) for chunks in self.documents], dtype=float)
        # Long documents are drawn more often, but less than in proportion to their length.
        self.weights = np.sqrt(sizes) / np.sqrt(sizes).sum() if len(sizes) else sizes

    def batch(self, size: int) -> tuple[list[str], list[str]]:
        """`size` pairs, each corpus pair from a distinct document while documents last."""
        labelled_count = round(size * self.config.labelled_share) if self.labelled else 0
        if not self.documents:
            labelled_count = size
        anchors, positives = [], []
        for row in self.random.choice(len(self.labelled), labelled_count,
                                      replace=labelled_count > len(self.labelled)) \
                if labelled_count else []:
            anchors.append(self.labelled[row][0])
            positives.append(self.labelled[row][1])
        corpus_count = size - labelled_count
        if corpus_count:
            replace = corpus_count > len(self.documents)
            for document in self.random.choice(len(self.documents), corpus_count,
                                               replace=replace, p=self.weights):
                anchor, positive = self.pair(self.documents[document])
                anchors.append(anchor)
                positives.append(positive)
        return anchors, positives

    def pair(self, chunks: Sequence[str]) -> tuple[str, str]:
        """One positive pair from one document's chunks, both sides augmented."""
        first = int(self.random.integers(len(chunks)))
        if len(chunks) > 1 and self.random.random() < self.config.neighbour_share:
            low, high = max(0, first - self.config.window), min(len(chunks), first + self.config.window + 1)
            others = [i for i in range(low, high) if i != first]
            second = others[int(self.random.integers(len(others)))]
        else:
            second = first
        return self.view(chunks[first]), self.view(chunks[second])

    def view(self, text: str) -> str:
        """A random span crop of `text`'s words, then word dropout (never empty)."""
        words = text.split()
        if len(words) < 2:
            return text
        length = max(1, int(round(len(words) * self.random.uniform(self.config.min_crop, 1.0))))
        start = int(self.random.integers(len(words) - length + 1))
        words = words[start:start + length]
        kept = [w for w in words if self.random.random() >= self.config.word_dropout]
        return " ".join(kept or words[:1])


def read_labelled_pairs(path: str | Path) -> list[tuple[str, str]]:
    """Pairs of texts that belong together, from TSV (two columns) or JSON Lines.

    JSON Lines records give the pair as `anchor`/`positive` or `text1`/`text2`
    (or `query`/`text`). Blank lines are skipped; a malformed line is an error
    naming its number.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"pairs file not found: {path}")
    pairs = []
    as_json = path.suffix.lower() in {".jsonl", ".ndjson", ".json"}
    with open(path, encoding="utf-8", errors="replace") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            pair = _json_pair(line) if as_json else _tsv_pair(line)
            if pair is None:
                shape = ("a JSON object with anchor/positive, text1/text2 or query/text"
                         if as_json else "two tab-separated texts")
                raise InputError(f"{path}:{number}: expected {shape}")
            pairs.append(pair)
    if not pairs:
        raise InputError(f"no pairs in {path}")
    return pairs


def _tsv_pair(line: str) -> tuple[str, str] | None:
    columns = [column.strip() for column in line.rstrip("\r\n").split("\t")]
    return (columns[0], columns[1]) if len(columns) == 2 and all(columns) else None


_JSON_KEYS = (("anchor", "positive"), ("text1", "text2"), ("query", "text"))


def _json_pair(line: str) -> tuple[str, str] | None:
    try:
        record = json.loads(line)
    except json.JSONDecodeError:
        return None
    if not isinstance(record, dict):
        return None
    for first, second in _JSON_KEYS:
        a, b = record.get(first), record.get(second)
        if isinstance(a, str) and isinstance(b, str) and a.strip() and b.strip():
            return a.strip(), b.strip()
    return None
