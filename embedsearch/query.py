"""Queries over an index: neighbours, analogies, similarity and the odd one out.

A query term is a word, a text or an item key. On a vocabulary index (one item
per word) a term is looked up by key, and a text is the normalised mean of its
known words' unit vectors, as gensim's `most_similar(positive=[...])` does. On a
corpus index a term that is an item key uses that item's vector; anything else
is encoded with the index's own encoder. Every function returns the same
shape: hits (id, key, score), best first, the query's own items excluded.

The rules and scores follow gensim's KeyedVectors exactly (`most_similar`,
`most_similar_cosmul`, `similarity`, `doesnt_match`), which the tests check.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from .analogy import ANALOGY_METHODS, hits_of, rank_answers
from .errors import EncoderError, InputError, UnknownWordsError
from .index import Hit, Index
from .text import tokenize


@dataclass
class Term:
    """A resolved query term: its unit vector and the item ids it stands for."""

    text: str
    vector: np.ndarray
    ids: set[int] = field(default_factory=set)


def _unit(vector: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(vector))
    return (vector / norm).astype(np.float32) if norm > 0 else vector.astype(np.float32)


def _encoder_for(index: Index):
    """The encoder an index was built with (cached on the index), checked against it."""
    encoder = getattr(index, "_query_encoder", None)
    if encoder is None:
        from .encoders import load_encoder

        info = index.manifest.encoder
        try:
            encoder = load_encoder(info.spec)
        except EncoderError as error:
            raise EncoderError(f"index {index.name} was built with encoder {info.name}: {error}") from None
        if encoder.dim != index.dim:
            raise InputError(
                f"dimension mismatch: encoder {info.name} gives {encoder.dim}, index {index.name} "
                f"holds {index.dim}; rebuild the index")
        index._query_encoder = encoder
    return encoder


def lookup_word_ids(index: Index, words: Sequence[str]) -> dict[str, int]:
    """word -> id, trying the word as given, then lower-cased (GloVe is lower-case)."""
    found = index.ids_for_keys(list(words))
    missing = [w for w in words if w not in found]
    if missing:
        lowered = index.ids_for_keys([w.lower() for w in missing])
        for word in missing:
            if word.lower() in lowered:
                found[word] = lowered[word.lower()]
    return found


def resolve_terms(index: Index, terms: Sequence[str]) -> list[Term]:
    """Vectors of words, texts or item keys; an error naming those that cannot be resolved."""
    by_key = lookup_word_ids(index, terms)
    resolved: dict[int, Term] = {}
    pending = []
    for position, term in enumerate(terms):
        if term in by_key:
            item_id = by_key[term]
            resolved[position] = Term(term, index.vectors_of([item_id])[0], {item_id})
        else:
            pending.append(position)
    if pending and index.manifest.content == "vocabulary":
        unknown = []
        for position in pending:
            words = tokenize(terms[position])
            ids = lookup_word_ids(index, words)
            if not ids:
                unknown.append(terms[position])
                continue
            vector = _unit(index.vectors_of(list(ids.values())).mean(axis=0))
            resolved[position] = Term(terms[position], vector, set(ids.values()))
        if unknown:
            raise UnknownWordsError(unknown, f"index {index.name}")
    elif pending:
        texts = [terms[p] for p in pending]
        vectors = _encoder_for(index).encode(texts)
        for position, vector in zip(pending, vectors):
            resolved[position] = Term(terms[position], vector)
    return [resolved[p] for p in range(len(terms))]


def neighbours(index: Index, query: str | None = None, *, vector: np.ndarray | None = None,
               k: int = 10, where: str | None = None) -> list[Hit]:
    """The k items nearest a word, text, item key or raw vector (the query's items excluded)."""
    if vector is not None:
        return index.search(_unit(np.asarray(vector, dtype=np.float32)), k, where=where)[0]
    if query is None or not query.strip():
        raise InputError("give a word, a text or an item key to search for")
    term = resolve_terms(index, [query])[0]
    return index.search(term.vector, k, where=where, exclude=[term.ids])[0]


def analogy(index: Index, a: str, b: str, c: str, *, k: int = 10, method: str = "add",
            where: str | None = None) -> list[Hit]:
    """a is to b as c is to ?: 3CosAdd (gensim most_similar) or 3CosMul (most_similar_cosmul)."""
    return most_similar(index, positive=[b, c], negative=[a], k=k, method=method, where=where)


def most_similar(index: Index, positive: Sequence[str], negative: Sequence[str] = (), *,
                 k: int = 10, method: str = "add", where: str | None = None) -> list[Hit]:
    """gensim's `most_similar` (method "add") or `most_similar_cosmul` (method "mul")."""
    if method not in ANALOGY_METHODS:
        raise InputError(f"unknown analogy method {method!r}: use add (3CosAdd) or mul (3CosMul)")
    if not positive:
        raise InputError("give at least one positive term")
    terms = resolve_terms(index, list(positive) + list(negative))
    exclude = set().union(*(t.ids for t in terms))
    signs = [1] * len(positive) + [-1] * len(negative)
    ids, scores = rank_answers(index, np.stack([t.vector for t in terms])[None], signs, [exclude],
                               k=k, method=method, where=where)  # one question of the batch engine
    return hits_of(index, ids, scores)[0]


def similarity(index: Index, first: str, second: str) -> float:
    """Cosine similarity of two words or texts."""
    return float(similarity_matrix(index, [first, second])[0, 1])


def similarity_matrix(index: Index, terms: Sequence[str]) -> np.ndarray:
    """Cosine similarity of every pair of words or texts, (n, n) float32."""
    vectors = np.stack([t.vector for t in resolve_terms(index, terms)])
    return vectors @ vectors.T


def doesnt_match(index: Index, words: Sequence[str]) -> str:
    """The word furthest from the mean of the others (gensim's `doesnt_match`)."""
    found = lookup_word_ids(index, words)
    used = [w for w in words if w in found]
    if len(used) < 2:
        raise InputError("give at least two known words to find the odd one out")
    vectors = index.vectors_of([found[w] for w in used])
    mean = _unit(vectors.mean(axis=0))
    return min(zip(vectors @ mean, used))[1]
