"""Train word2vec on a user's corpus with gensim: skip-gram or CBOW, negative sampling.

The corpus is streamed from disk on every pass (a restartable iterable over
the corpus readers), tokenised with the same tokeniser that encodes texts and
queries, and trained on all cores. The result is an encoder directory: the
vectors in word2vec binary format with a counts file, and a config.
"""

from __future__ import annotations

import os
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

from ..corpus import read_corpus
from ..encoders.word_vectors import WordVectors, load_word2vec_directory, save_word2vec_directory
from ..errors import InputError
from ..progress import progress_bar
from ..corpus import tokenize


def stable_hash(text: str) -> int:
    """A hash that is the same in every process (Python's `hash` of str is salted),
    so that gensim's seeded initial vectors, and so training, are reproducible."""
    return zlib.crc32(text.encode("utf-8"))


class CorpusSentences:
    """A restartable stream of token lists, read from disk on every iteration."""

    def __init__(self, corpus: str | Path, unit: str = "line", text_field: str = "text"):
        self.corpus, self.unit, self.text_field = corpus, unit, text_field

    def __iter__(self):
        for item in read_corpus(self.corpus, unit=self.unit, text_field=self.text_field):
            tokens = tokenize(item.text)
            if tokens:
                yield tokens


@dataclass
class Word2VecConfig:
    dim: int = 100
    window: int = 5
    min_count: int = 5
    skip_gram: bool = True
    negative: int = 5
    epochs: int = 5
    seed: int = 1
    workers: int = 0  # 0: all cores


def train_word2vec(corpus: str | Path, out: str | Path, config: Word2VecConfig = Word2VecConfig(), *,
                   unit: str = "line", text_field: str = "text",
                   show_progress: bool = True) -> WordVectors:
    """Train, save to `out` (an encoder directory) and return the word vectors."""
    from gensim.models import Word2Vec
    from gensim.models.callbacks import CallbackAny2Vec

    sentences = CorpusSentences(corpus, unit, text_field)
    workers = config.workers or os.cpu_count() or 1
    model = Word2Vec(vector_size=config.dim, window=config.window, min_count=config.min_count,
                     sg=int(config.skip_gram), hs=0, negative=config.negative, seed=config.seed,
                     workers=workers, hashfxn=stable_hash)
    model.build_vocab(sentences)
    if not model.wv.index_to_key:
        raise InputError(f"no word in {corpus} occurs at least {config.min_count} times; "
                         "lower `min_count` or give a larger corpus")

    class EpochBar(CallbackAny2Vec):
        def __init__(self, bar):
            self.bar = bar

        def on_epoch_end(self, model):
            self.bar.update(1)

    started = time.perf_counter()
    with progress_bar(total=config.epochs, unit="epoch", desc="word2vec",
                      disable=not show_progress) as bar:
        model.train(sentences, total_examples=model.corpus_count, epochs=config.epochs,
                    callbacks=[EpochBar(bar)])
    seconds = time.perf_counter() - started
    out = Path(out)
    extra = {"training": {**config.__dict__, "workers": workers, "corpus": str(corpus),
                          "seconds": round(seconds, 2), "corpus_words": model.corpus_total_words}}
    save_word2vec_directory(model.wv, out, name=out.name, extra=extra)
    return load_word2vec_directory(out, {"name": out.name})
