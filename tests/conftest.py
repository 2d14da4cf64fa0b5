"""Shared fixtures: a real slice of GloVe 6B 50d, its word index, and gensim on the same vectors."""

from __future__ import annotations

import numpy as np
import pytest

from embedsearch.indexing.build import build_vocabulary_index
from embedsearch.encoders import WordVectors, load_encoder

SLICE = 20000


@pytest.fixture(scope="session")
def glove():
    """The full built-in GloVe 6B 50d (memory-mapped)."""
    return load_encoder("glove-6b-50d")


@pytest.fixture(scope="session")
def glove_slice(glove) -> WordVectors:
    """The 20,000 most frequent GloVe words, as their own encoder."""
    return WordVectors(glove.words[:SLICE], np.array(glove.vectors[:SLICE]), name="glove-slice")


@pytest.fixture(scope="session")
def word_index_path(glove_slice, tmp_path_factory):
    path = tmp_path_factory.mktemp("indexes") / "glove-slice"
    build_vocabulary_index(glove_slice, path, show_progress=False)
    return path


@pytest.fixture(scope="session")
def keyed_vectors(glove_slice):
    """gensim KeyedVectors holding exactly the same vectors, for reference answers."""
    from gensim.models import KeyedVectors

    keyed = KeyedVectors(glove_slice.dim)
    keyed.add_vectors(glove_slice.words, glove_slice.vectors)
    return keyed


@pytest.fixture(scope="session")
def vectors_file(glove_slice, tmp_path_factory):
    """The GloVe slice as a word2vec binary file, the way users bring their own vectors
    (and a corpus encoder that reloads in milliseconds)."""
    from gensim.models import KeyedVectors

    keyed = KeyedVectors(glove_slice.dim)
    keyed.add_vectors(glove_slice.words, glove_slice.vectors)
    path = tmp_path_factory.mktemp("vectors") / "slice.bin"
    keyed.save_word2vec_format(str(path), binary=True)
    return path


@pytest.fixture
def home(tmp_path, monkeypatch):
    """An empty indexes home for CLI tests."""
    monkeypatch.setenv("EMBEDSEARCH_HOME", str(tmp_path / "indexes"))
    return tmp_path / "indexes"


@pytest.fixture(scope="module")
def browser():
    """One headless Chromium per browser test module, its screen and window 1280 x 800
    (modules that need another set-up declare their own `browser`)."""
    from browser import chromium, set_viewport

    with chromium(1280, 800) as driver:
        set_viewport(driver, 1280, 800)
        yield driver
