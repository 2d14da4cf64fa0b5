"""The trained attention encoder: a small transformer that turns a text into one vector.

Token embeddings (the compact GPT-2 BPE, or a byte-level BPE trained on the
corpus: `tokenizers.py`) plus learned positions go through a few pre-norm
self-attention layers, then a masked mean and L2 normalisation
(`attention_model.AttentionModel`, sizes in `configs.AttentionConfig`).
Beside it, a lexical channel (`lexical.py`) keeps the rare names and terms a
small dense vector loses; the text's vector mixes the two. Trained
contrastively by `embedsearch.train.attention`, so that chunks of the same
document land close together. How it works and why: docs/encoders.md ("The
trained attention encoder"); figures: docs/encoders-results.md.

The token embeddings may start from word vectors (`word_vector_embeddings`)
or from a teacher's vectors of each token (`teacher_token_embeddings`).
Importing this module does not import torch.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from ..errors import EncoderError
from ..vectors import normalize_rows
from .configs import AttentionConfig
from .lexical import LEXICAL_MAX_TOKENS
from .neural import NeuralEncoder
from .tokenizers import FIRST_TOKEN_ID, PAD_ID, Tokenizer


class AttentionEncoder(NeuralEncoder):
    """The attention model as an `Encoder` (kind "attention")."""

    kind = "attention"
    config_class = AttentionConfig

    @staticmethod
    def build_model(config: AttentionConfig):
        from .attention_model import AttentionModel

        return AttentionModel(config)

    @property
    def dim(self) -> int:
        return self.config.dim + self.config.lexical_dim

    def set_lexical_share(self, share: float) -> None:
        """Mix the two channels anew: 0 is the transformer alone, 1 the hashed bag of tokens alone."""
        if not 0 <= share <= 1 or (share and not self.config.lexical_dim):
            raise EncoderError(f"lexical share {share}: must be in [0, 1], and 0 for an encoder "
                               "without a lexical channel")
        self.config.lexical_share = self.model.lexical_share = share
        self._fingerprint = None  # the share is part of the config, hence of the fingerprint

    @property
    def max_tokens(self) -> int:
        """The transformer reads the first `max_length` tokens, its lexical channel up to
        LEXICAL_MAX_TOKENS (all of them without a lexical channel: `max_length`)."""
        return LEXICAL_MAX_TOKENS if self.config.lexical_dim else self.config.max_length

    def tokenize(self, texts: Sequence[str]) -> list[list[int]]:
        """Unseen tokens marked by their GPT-2 id (negative) when the lexical channel hashes them."""
        if self.config.lexical_dim and self.config.lexical_unseen:
            return self.tokenizer.encode_batch_marking_unseen(texts)
        return self.tokenizer.encode_batch(texts)

    def pool(self, ids, mask):  # ids, mask (B, T); padding is PAD_ID, which the model masks
        return self.model(ids)  # (B, dim)


def word_vector_embeddings(tokenizer: Tokenizer, words: Sequence[str], vectors, dim: int,
                           seed: int = 0):
    """Initial token rows from word vectors: (rows (vocab, dim) float tensor, tokens matched).

    Each token's string, stripped and lower-cased (" King" -> "king"), is
    looked up among `words` (the first occurrence of a word wins). A matched
    row is the word's unit vector carried into `dim` dimensions by a fixed
    random matrix with orthonormal rows, which keeps every cosine between
    words; unmatched rows are random with the same norm on average.
    """
    import torch

    generator = torch.Generator().manual_seed(seed)
    rows = torch.randn(tokenizer.vocab_size, dim, generator=generator) / math.sqrt(dim)
    word_rows: dict[str, int] = {}
    for row, word in enumerate(words):
        word_rows.setdefault(word, row)
    token_ids, vector_rows = [], []
    for token_id, token in enumerate(tokenizer.token_strings(), start=FIRST_TOKEN_ID):
        row = word_rows.get(token.strip().lower())
        if row is not None:
            token_ids.append(token_id)
            vector_rows.append(row)
    if token_ids:
        source = torch.from_numpy(normalize_rows(np.asarray(vectors[np.array(vector_rows)])))
        width = source.shape[1]
        if width > dim:
            raise EncoderError(f"word vectors of dimension {width} cannot initialise a model of "
                               f"dimension {dim}: use a dimension of {width} or more")
        basis, _ = torch.linalg.qr(torch.randn(dim, width, generator=generator))  # (dim, width)
        rows[token_ids] = source @ basis.T
    rows[PAD_ID] = 0.0
    return rows, len(token_ids)


def teacher_token_embeddings(tokenizer: Tokenizer, teacher, dim: int, seed: int = 0):
    """Initial token rows from a teacher encoder: (rows (vocab, dim) float tensor, tokens matched).

    The teacher encodes each token's string on its own (" King" -> "King"),
    the way Model2Vec distils a sentence encoder into static token vectors;
    the rows are centred (the direction every short text shares says
    nothing) and carried into `dim` dimensions by their principal axes (or,
    when the teacher is narrower, by a fixed random matrix with orthonormal
    rows), then scaled to unit norm. A student starting from them starts
    from the teacher's idea of every word, which a corpus of a few hundred
    documents cannot teach it; tokens the teacher cannot encode stay random.
    """
    import torch

    generator = torch.Generator().manual_seed(seed)
    rows = torch.randn(tokenizer.vocab_size, dim, generator=generator) / math.sqrt(dim)
    strings = [token.strip() for token in tokenizer.token_strings()]
    token_ids = [token_id for token_id, string in enumerate(strings, start=FIRST_TOKEN_ID) if string]
    if token_ids:
        vectors, encodable = teacher.encode_batch([strings[i - FIRST_TOKEN_ID] for i in token_ids])
        token_ids = [token_id for token_id, keep in zip(token_ids, encodable) if keep]
        vectors = np.asarray(vectors[encodable], dtype=np.float64)
    if len(token_ids) > 1:
        centred = vectors - vectors.mean(axis=0)
        if centred.shape[1] >= dim:
            _, _, axes = np.linalg.svd(centred, full_matrices=False)  # axes (width, width)
            reduced = centred @ axes[:dim].T                            # (n, <= dim)
            reduced = np.pad(reduced, ((0, 0), (0, dim - reduced.shape[1])))  # fewer tokens than dim
        else:
            basis, _ = torch.linalg.qr(torch.randn(dim, centred.shape[1], generator=generator,
                                                   dtype=torch.float64))
            reduced = centred @ basis.numpy().T                         # (n, dim)
        rows[token_ids] = torch.from_numpy(normalize_rows(reduced.astype(np.float32)))
    else:
        token_ids = []
    rows[PAD_ID] = 0.0
    return rows, len(token_ids)
