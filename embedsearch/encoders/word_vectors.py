"""Word vectors (word2vec, GloVe) as an encoder: a word's vector, or a text's mean.

Vectors are held unit-normalised (float32), in the order of the source file,
which for every standard format is most frequent first. A text is encoded as
the normalised mean of its known words' unit vectors (the same mean gensim's
`most_similar` uses); a text with no known word cannot be encoded.

Formats read, all through gensim: word2vec binary (`.bin`), word2vec text
(a "count dim" header line), GloVe text (no header), and an encoder directory
written by `save` or by `embedsearch train word2vec`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import EncoderError, InputError
from ..corpus import tokenize
from ..vectors import normalize_rows
from .base import CONFIG_FILE, Encoder, fingerprint_bytes, fingerprint_files

VECTORS_FILE = "vectors.bin"
COUNTS_FILE = "counts.txt"
FORMAT_VERSION = 1


class WordVectors(Encoder):
    """Unit word vectors with their words, most frequent first.

    >>> wv = WordVectors(["king", "queen"], np.eye(2, dtype=np.float32), name="toy")
    >>> wv.encode(["King queen"]).round(3)
    array([[0.707, 0.707]], dtype=float32)
    """

    kind = "word2vec"  # the encoder-directory format ("kind" in config.json) and fingerprint tag

    def __init__(self, words, vectors, *, name, spec=None, counts=None, source_files=(),
                 kind: str | None = None):
        """`kind` names where the vectors came from ("glove" for GloVe's files), as an index's
        manifest and `info` report it; the directory format and fingerprints stay word2vec's."""
        if len(words) != len(vectors):
            raise EncoderError(f"{name}: {len(words)} words but {len(vectors)} vectors")
        self.words = list(words)
        self.vectors = normalize_rows(vectors)
        self.counts = counts
        self._name = name
        self._spec = spec or name
        self._source_files = [Path(p) for p in source_files]
        self._rows = None
        self._fingerprint = None
        if kind is not None:
            self.kind = kind

    @property
    def name(self):
        return self._name

    @property
    def spec(self):
        return self._spec

    @property
    def dim(self):
        return int(self.vectors.shape[1])

    @property
    def rows(self) -> dict[str, int]:
        """Word -> row; the first (most frequent) row wins for duplicate words."""
        if self._rows is None:
            rows = {}
            for row, word in enumerate(self.words):
                rows.setdefault(word, row)
            self._rows = rows
        return self._rows

    def fingerprint(self):
        if self._fingerprint is None:
            if self._source_files:
                self._fingerprint = fingerprint_files(self._source_files, extra=WordVectors.kind)
            else:
                self._fingerprint = fingerprint_bytes("\n".join(self.words).encode(),
                                                      self.vectors.tobytes())
        return self._fingerprint

    def rows_of(self, tokens: Sequence[str]) -> list[int]:
        """Rows of the tokens that are in the vocabulary (unknown ones dropped)."""
        return [row for row in map(self.rows.get, tokens) if row is not None]

    def unknown_words(self, text: str) -> list[str]:
        return list(dict.fromkeys(t for t in tokenize(text) if t not in self.rows))

    def encode_batch(self, texts):
        vectors = np.zeros((len(texts), self.dim), dtype=np.float32)
        encodable = np.zeros(len(texts), dtype=bool)
        for i, text in enumerate(texts):
            known = self.rows_of(tokenize(text))
            if known:
                vectors[i] = self.vectors[known].mean(axis=0)
                encodable[i] = True
        return normalize_rows(vectors), encodable

    def vocabulary(self):
        return self.words, self.vectors

    def save(self, directory):
        from gensim.models import KeyedVectors

        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        keyed = KeyedVectors(self.dim)
        keyed.add_vectors(self.words, self.vectors)
        if self.counts is not None:
            for word, count in zip(self.words, self.counts):
                keyed.set_vecattr(word, "count", int(count))
        save_word2vec_directory(keyed, directory, name=self.name)
        return directory


def save_word2vec_directory(keyed, directory: Path, *, name: str, extra: dict | None = None):
    """Write gensim KeyedVectors as an encoder directory: binary vectors, counts, config."""
    directory.mkdir(parents=True, exist_ok=True)
    has_counts = "count" in keyed.expandos
    keyed.save_word2vec_format(
        str(directory / VECTORS_FILE),
        fvocab=str(directory / COUNTS_FILE) if has_counts else None,
        binary=True,
    )
    config = {"kind": WordVectors.kind, "name": name, "dim": keyed.vector_size,
              "format_version": FORMAT_VERSION, **(extra or {})}
    (directory / CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n")


def load_word2vec_directory(directory: Path, config: dict) -> WordVectors:
    """Read an encoder directory written by `save_word2vec_directory`."""
    vectors_path = directory / VECTORS_FILE
    counts_path = directory / COUNTS_FILE
    if not vectors_path.exists():
        raise EncoderError(f"{directory}: {VECTORS_FILE} is missing; re-run the training or save")
    keyed = _read_keyed_vectors(vectors_path, binary=True, no_header=False,
                                counts=counts_path if counts_path.exists() else None)
    counts = None
    if counts_path.exists():
        counts = np.array([keyed.get_vecattr(w, "count") for w in keyed.index_to_key])
    return WordVectors(
        keyed.index_to_key, keyed.vectors, name=config.get("name", directory.name),
        spec=str(directory.resolve()), counts=counts, source_files=[vectors_path],
    )


def load_vectors_file(path: str | Path) -> WordVectors:
    """Word vectors from a word2vec binary, word2vec text or GloVe text file."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"vectors file not found: {path}")
    binary = _looks_binary(path)
    no_header = False if binary else not _has_word2vec_header(path)
    keyed = _read_keyed_vectors(path, binary=binary, no_header=no_header)
    return WordVectors(keyed.index_to_key, keyed.vectors, name=path.stem,
                       spec=str(path.resolve()), source_files=[path],
                       kind="glove" if no_header else None)


def _read_keyed_vectors(path: Path, *, binary: bool, no_header: bool, counts=None):
    from gensim.models import KeyedVectors

    if not no_header:
        _check_header_fits(path, binary=binary)
    try:
        return KeyedVectors.load_word2vec_format(
            str(path), binary=binary, no_header=no_header,
            fvocab=str(counts) if counts else None, unicode_errors="replace",
        )
    except (ValueError, EOFError, UnicodeDecodeError, IndexError) as error:
        kind = "word2vec binary" if binary else ("GloVe text" if no_header else "word2vec text")
        raise InputError(f"cannot read {path} as {kind} vectors: {error}") from None


def _check_header_fits(path: Path, *, binary: bool) -> None:
    """Refuse a "count dim" header that the file is too small to hold, before gensim allocates
    count x dim for it: each row takes at least a one-byte word, a space and `dim` numbers
    (4 bytes each in binary; a space and a digit each in text)."""
    with open(path, "rb") as handle:
        header = handle.readline(200)
    parts = header.split()
    if len(parts) != 2 or not all(part.isdigit() for part in parts):
        raise InputError(f"cannot read {path}: its first line should be \"count dim\", "
                         f"not {header[:60]!r}")
    count, dim = int(parts[0]), int(parts[1])
    smallest_row = 2 + 4 * dim if binary else 1 + 2 * dim
    if dim == 0 or count * smallest_row > path.stat().st_size - len(header):
        raise InputError(f"cannot read {path}: its header claims {count:,} vectors of dimension "
                         f"{dim:,}, more than its {path.stat().st_size:,} bytes can hold")


def _looks_binary(path: Path) -> bool:
    with open(path, "rb") as handle:
        head = handle.readline(200)
        body = handle.read(4096)
    if path.suffix == ".bin":
        return True
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        # A binary file's header line is text; its body is raw float32 bytes.
        return bool(head.strip().split()) and all(p.isdigit() for p in head.split())
    return False


def _has_word2vec_header(path: Path) -> bool:
    with open(path, "rb") as handle:
        parts = handle.readline().split()
    return len(parts) == 2 and all(p.isdigit() for p in parts)
