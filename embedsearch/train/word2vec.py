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
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..corpus import read_corpus
from ..encoders.word_vectors import WordVectors, load_word2vec_directory, save_word2vec_directory
from ..corpus import tokenize
from ..encoders.configs import check_settings, setting
from ..errors import InputError
from ..progress import progress_bar


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
    """The word2vec model: its dimension, window and architecture (gensim's `Word2Vec`)."""

    dim: int = setting(100, "Vector dimension.", minimum=2)
    window: int = setting(5, "Context window (words each side).", minimum=1)
    skip_gram: bool = setting(True, "Skip-gram (predict the context from the word) or CBOW "
                                    "(the word from its context).")


@dataclass
class Word2VecTraining:
    """Everything that decides a training run: the model's config, then the training options."""

    model: Word2VecConfig = field(default_factory=Word2VecConfig)
    min_count: int = setting(5, "Ignore words rarer than this.", minimum=1)
    negative: int = setting(5, "Negative samples per positive.", minimum=1)
    epochs: int = setting(5, "Passes over the corpus.", minimum=1)
    seed: int = setting(1, "Seed of gensim's initial vectors and sampling.")
    workers: int = setting(0, "Threads (0: all cores).", minimum=0)

    def checked(self) -> "Word2VecTraining":
        check_settings(self.model, InputError)
        check_settings(self, InputError)
        return self


def train_word2vec(corpus: str | Path, out: str | Path, training: Word2VecTraining | None = None, *,
                   unit: str = "line", text_field: str = "text",
                   show_progress: bool = True) -> WordVectors:
    """Train, save to `out` (an encoder directory) and return the word vectors."""
    from gensim.models import Word2Vec
    from gensim.models.callbacks import CallbackAny2Vec

    training = (training or Word2VecTraining()).checked()
    model_config = training.model
    sentences = CorpusSentences(corpus, unit, text_field)
    workers = training.workers or os.cpu_count() or 1
    model = Word2Vec(vector_size=model_config.dim, window=model_config.window,
                     min_count=training.min_count, sg=int(model_config.skip_gram), hs=0,
                     negative=training.negative, seed=training.seed, workers=workers,
                     hashfxn=stable_hash)
    model.build_vocab(sentences)
    if not model.wv.index_to_key:
        raise InputError(f"no word in {corpus} occurs at least {training.min_count} times; "
                         "lower `min_count` or give a larger corpus")

    class EpochBar(CallbackAny2Vec):
        def __init__(self, bar):
            self.bar = bar

        def on_epoch_end(self, model):
            self.bar.update(1)

    started = time.perf_counter()
    with progress_bar(total=training.epochs, unit="epoch", desc="word2vec",
                      disable=not show_progress) as bar:
        model.train(sentences, total_examples=model.corpus_count, epochs=training.epochs,
                    callbacks=[EpochBar(bar)])
    seconds = time.perf_counter() - started
    out = Path(out)
    extra = {"training": {**asdict(training), "workers": workers, "corpus": str(corpus),
                          "seconds": round(seconds, 2), "corpus_words": model.corpus_total_words}}
    save_word2vec_directory(model.wv, out, name=out.name, extra=extra)
    return load_word2vec_directory(out, {"name": out.name})
