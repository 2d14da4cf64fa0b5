"""The one interface every encoder offers, so nothing else needs to know which it holds.

An encoder turns texts into L2-normalised float32 rows. It has a `kind` (which
class, used by the registry), a `name` (shown to users and written into index
manifests), a `spec` (how to load it again: a built-in name or a path), a
dimension, and a fingerprint of its weights and configuration so that an index
can tell when the encoder it was built with has changed.

Encoders that have a vocabulary of words or tokens (word vectors, the
token+position embedder) also offer `vocabulary()`, the rows a vocabulary
index is built from.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from ..errors import EncoderError

CONFIG_FILE = "config.json"  # in every encoder directory; its "kind" picks the class (`load_encoder`)


def fingerprint_bytes(*chunks: bytes) -> str:
    """A short hex digest of byte strings, stable across processes and machines."""
    digest = hashlib.blake2b(digest_size=12)
    for chunk in chunks:
        digest.update(chunk)
    return digest.hexdigest()


def fingerprint_files(paths: Iterable[Path], extra: str = "") -> str:
    """A short hex digest of the bytes of `paths` (in order) and an `extra` string."""
    digest = hashlib.blake2b(digest_size=12)
    digest.update(extra.encode())
    for path in paths:
        with open(path, "rb") as handle:
            while chunk := handle.read(1 << 22):
                digest.update(chunk)
    return digest.hexdigest()


class Encoder(ABC):
    """Texts in, unit-length float32 vectors out.

    Subclasses implement `encode_batch`; `encode` wraps it and turns texts that
    cannot be encoded (a text with no known word, for word vectors) into an
    error that names them.
    """

    kind: str = "encoder"

    @property
    @abstractmethod
    def name(self) -> str:
        """Short human name, written into index manifests."""

    @property
    @abstractmethod
    def spec(self) -> str:
        """How to load this encoder again with `load_encoder(spec)`."""

    @property
    @abstractmethod
    def dim(self) -> int:
        """Length of every vector."""

    @abstractmethod
    def fingerprint(self) -> str:
        """Digest of weights and configuration: equal fingerprints, equal vectors."""

    @abstractmethod
    def encode_batch(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """(vectors (n, dim) float32 unit rows, encodable (n,) bool).

        Rows of texts that cannot be encoded are zero and flagged False.
        """

    @abstractmethod
    def save(self, directory: str | Path) -> Path:
        """Write the encoder to `directory` so that `load_encoder` reads it back."""

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Vectors of `texts`; an error naming the texts that cannot be encoded."""
        vectors, encodable = self.encode_batch(list(texts))
        if not encodable.all():
            bad = [texts[i] for i in np.flatnonzero(~encodable)[:5]]
            raise EncoderError(
                f"{self.name} cannot encode {', '.join(repr(t) for t in bad)}: "
                "no known word or token in it"
            )
        return vectors

    def unknown_words(self, text: str) -> list[str]:
        """The words of `text` this encoder ignores (a word-vector encoder's out-of-vocabulary words).

        Subword and character encoders ignore nothing: the default is none.
        """
        return []

    def vocabulary(self) -> tuple[list[str], np.ndarray] | None:
        """(keys, unit vectors) of a vocabulary index, most frequent first; None if none."""
        return None
