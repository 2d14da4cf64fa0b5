"""Query terms: a word, a text or an item key, turned into a unit vector and the items it stands for.

On a vocabulary index (one item per word) a term is looked up by key, as
given and then lower-cased, and a text is the normalised mean of its known
words' unit vectors, as gensim's `most_similar(positive=[...])` does. On a
corpus index a term that is an item key uses that item's vector; anything
else is encoded with the index's own encoder, loaded once per fingerprint and
checked against the manifest (dimension and fingerprint), so a changed
encoder is an error rather than silently wrong neighbours.

Words of a text that the vectors do not know are left out of its vector and
listed in `Term.ignored`, so every interface can say which words were not
used; with `strict=True` any such word is an error. A term with no known
word at all is always an error. Terms are NFC-normalised before lookup.

    resolve_terms(index, ["new york xqzvbn"])[0].ignored
    # ['xqzvbn']
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from ..corpus import tokenize
from ..corpus.words import normalize_text
from ..errors import UnknownWordsError
from ..index import Index
from ..indexing.encoder_check import load_index_encoder
from ..vectors import normalize_rows


@dataclass
class Term:
    """A resolved query term: its unit vector, the item ids it stands for, the words it ignored."""

    text: str
    vector: np.ndarray
    ids: set[int] = field(default_factory=set)
    ignored: list[str] = field(default_factory=list)


def ignored_words(terms: Sequence[Term]) -> list[str]:
    """The words any of `terms` ignored, each once, in order."""
    return list(dict.fromkeys(word for term in terms for word in term.ignored))


_shared_encoders: "weakref.WeakValueDictionary[tuple, object]" = weakref.WeakValueDictionary()
_encoder_loading = threading.Lock()


def index_encoder(index: Index):
    """The encoder `index` was built with, loaded and checked once per fingerprint.

    Versions of an index (and indexes) built with the same encoder share one
    loaded copy while any of them is open, and concurrent first queries wait for
    one load rather than each loading their own.
    """
    encoder = loaded_encoder(index)
    if encoder is None:
        recorded = index.manifest.encoder
        key = (recorded.spec, recorded.fingerprint, index.manifest.dim)
        with _encoder_loading:
            encoder = _shared_encoders.get(key)
            if encoder is None:
                encoder = load_index_encoder(index.manifest, index.directory)
                _shared_encoders[key] = encoder
        index._query_encoder = encoder
    return encoder


def loaded_encoder(index: Index):
    """The encoder `index` has loaded already, or None."""
    return getattr(index, "_query_encoder", None)


def lookup_word_ids(index: Index, words: Sequence[str]) -> dict[str, int]:
    """word -> id, trying the word as given, then NFC lower-cased (GloVe is lower-case)."""
    found = index.ids_for_keys(list(words))
    missing = [w for w in words if w not in found]
    if missing:
        lowered = index.ids_for_keys([normalize_text(w).lower() for w in missing])
        for word in missing:
            if normalize_text(word).lower() in lowered:
                found[word] = lowered[normalize_text(word).lower()]
    return found


def resolve_terms(index: Index, terms: Sequence[str], *, strict: bool = False,
                  unencodable_as_none: bool = False) -> list[Term | None]:
    """Vectors of words, texts or item keys; an error naming those that cannot be resolved.

    A text's unknown words are listed in its `Term.ignored`; `strict=True`
    makes any of them an error instead. With `unencodable_as_none`, a text the
    index's encoder cannot encode (no known word) is None rather than an error
    (hybrid search answers it from keywords alone); an encoder that cannot load
    or no longer fits the index is an error either way.
    """
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
            vector = normalize_rows(index.vectors_of(list(ids.values())).mean(axis=0))
            ignored = list(dict.fromkeys(word for word in words if word not in ids))
            resolved[position] = Term(terms[position], vector, set(ids.values()), ignored)
        if unknown:
            raise UnknownWordsError(unknown, f"index {index.name}")
    elif pending:
        encoder = index_encoder(index)
        texts = [terms[p] for p in pending]
        if unencodable_as_none:
            vectors, encodable = encoder.encode_batch(texts)
        else:
            vectors, encodable = encoder.encode(texts), [True] * len(texts)
        for position, vector, ok in zip(pending, vectors, encodable):
            resolved[position] = Term(terms[position], vector,
                                      ignored=encoder.unknown_words(terms[position])) if ok else None
    found = [resolved[p] for p in range(len(terms))]
    ignored = ignored_words([term for term in found if term is not None])
    if strict and ignored:
        raise UnknownWordsError(ignored, f"index {index.name} (strict)")
    return found
