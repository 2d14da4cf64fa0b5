"""The trained attention encoder: a small transformer that turns a text into one vector.

Model: token embeddings (a compact GPT-2 BPE vocabulary, see `tokenizers`)
plus learned absolute position embeddings go through a few pre-norm
multi-head self-attention layers (`nn.TransformerEncoderLayer`: torch's own
attention kernels) that ignore padding, then a masked mean over the text's
tokens and L2 normalisation. It is trained contrastively
(`embedsearch.train.attention`) so that chunks of the same document land
close together.

The residual branches start at zero (the output projection of each attention
and feed-forward block), so an untrained model is exactly the mean of its
token (+ position) embeddings; training then adds context. The token
embeddings can start from a word-vector model (`word_vector_embeddings`), so
training starts from averaged word vectors rather than from noise.

A lexical channel (`lexical_dim` > 0) sits beside the transformer: each token
id owns `LEXICAL_HASHES` fixed random +-1 entries among `lexical_dim`
dimensions (feature hashing), weighted by the token's smooth inverse
frequency, summed over the text and L2-normalised, i.e. a random projection
of the text's weighted bag of tokens, what TF-IDF scores. A dense 128-d
vector cannot keep apart the thousands of rare names and terms that tell
two documents apart; this channel keeps them, and the transformer adds what
words alone miss (paraphrase, topic). The text's vector is the concatenation
`[sqrt(1 - s) * semantic, sqrt(s) * lexical]`, s = `lexical_share`, so its
cosine is the s-weighted mix of the two channels' cosines. The channel has no
trained weights; the trainer picks s on its validation documents.

The transformer reads the first `max_length` tokens of a text (the rest is
cut, as sentence-transformers does); the lexical channel counts every token
of it, up to `LEXICAL_MAX_TOKENS`, so a long document's vector keeps the
names and terms of its whole text (on whole newsgroup posts this raised the
graded-similarity Pearson from 0.125 to 0.148, docs/encoders-results.md). A
text with no token seen in training cannot be encoded. Importing this module does not import torch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..errors import EncoderError
from ..vectors import normalize_rows
from .neural import NeuralEncoder
from .tokenizers import FIRST_TOKEN_ID, PAD_ID, Tokenizer


@dataclass
class AttentionConfig:
    """Sizes of an attention encoder; saved as config.json and checked on load."""

    kind: str = "attention"
    name: str = "attention"
    format_version: int = 1
    tokenizer: str = "gpt2"
    vocab_size: int = FIRST_TOKEN_ID + 1
    dim: int = 128
    heads: int = 4
    layers: int = 2
    ff_dim: int = 512
    max_length: int = 128
    dropout: float = 0.0
    lexical_dim: int = 0         # 0: no lexical channel (directories written before it existed)
    lexical_share: float = 0.0   # share of the cosine that comes from the lexical channel


LEXICAL_HASHES = 8  # nonzero entries per token in the lexical channel
LEXICAL_MAX_TOKENS = 8192  # tokens of a text the lexical channel counts


def build_attention_model(config: AttentionConfig):
    """The torch module for `config`: token ids (B, T), PAD_ID-padded, in; unit rows out.

    The rows are (B, dim + lexical_dim): the transformer's channel, then the lexical one.
    """
    import torch
    import torch.nn.functional as F
    from torch import nn

    if min(config.vocab_size, config.dim, config.heads, config.layers, config.ff_dim,
           config.max_length) < 1 or config.dim % config.heads:
        raise EncoderError(f"attention config: sizes must be positive and dim ({config.dim}) "
                           f"a multiple of heads ({config.heads})")
    if (config.lexical_dim < 0 or 0 < config.lexical_dim < LEXICAL_HASHES
            or not 0 <= config.lexical_share <= 1):
        raise EncoderError(f"attention config: lexical_dim ({config.lexical_dim}) must be 0 or at "
                           f"least {LEXICAL_HASHES}, lexical_share ({config.lexical_share}) in [0, 1]")

    class AttentionModel(nn.Module):
        def __init__(self, config: AttentionConfig):
            super().__init__()
            self.token_embedding = nn.Embedding(config.vocab_size, config.dim, padding_idx=PAD_ID)
            self.position_embedding = nn.Embedding(config.max_length, config.dim)
            layer = nn.TransformerEncoderLayer(
                config.dim, config.heads, dim_feedforward=config.ff_dim, dropout=config.dropout,
                activation="gelu", batch_first=True, norm_first=True)
            self.encoder = nn.TransformerEncoder(layer, config.layers, enable_nested_tensor=False)
            with torch.no_grad():
                # Token rows of norm about 1, small positions: words decide, order adjusts.
                self.token_embedding.weight.normal_(0.0, 1.0 / math.sqrt(config.dim))
                self.token_embedding.weight[PAD_ID].zero_()
                self.position_embedding.weight.normal_(0.0, 0.1 / math.sqrt(config.dim))
                for block in self.encoder.layers:  # residual branches start as identity
                    for output in (block.self_attn.out_proj, block.linear2):
                        output.weight.zero_()
                        output.bias.zero_()
            self.lexical_dim = config.lexical_dim
            self.lexical_share = config.lexical_share
            if config.lexical_dim:
                # Buffers, not parameters: saved with the weights, never trained. The weights
                # start at 1 for real tokens; the trainer sets smooth inverse frequencies.
                generator = torch.Generator().manual_seed(config.lexical_dim)
                shape = (config.vocab_size, LEXICAL_HASHES)
                self.register_buffer("lexical_buckets",                            # (V, H)
                                     torch.randint(0, config.lexical_dim, shape, generator=generator))
                signs = torch.randint(0, 2, shape, generator=generator)
                self.register_buffer("lexical_signs", signs.float() * 2 - 1)      # (V, H) of +-1
                weights = torch.ones(config.vocab_size)
                weights[:FIRST_TOKEN_ID] = 0.0  # padding, unknown and markers say nothing
                self.register_buffer("lexical_weights", weights)                  # (V,)

        def semantic(self, token_ids):
            """The transformer's channel: (B, T) ids -> (B, dim) unit rows (first max_length ids)."""
            token_ids = token_ids[:, :self.position_embedding.num_embeddings]  # (B, T <= max_length)
            padding = token_ids == PAD_ID                                     # (B, T) True at padding
            positions = torch.arange(token_ids.shape[1], device=token_ids.device)  # (T,)
            x = self.token_embedding(token_ids) + self.position_embedding(positions)  # (B, T, C)
            x = self.encoder(x, src_key_padding_mask=padding)                 # (B, T, C)
            keep = (~padding).unsqueeze(-1).to(x.dtype)                       # (B, T, 1)
            pooled = (x * keep).sum(dim=1) / keep.sum(dim=1).clamp(min=1)     # (B, C)
            return F.normalize(pooled, dim=-1)                                # (B, C) unit rows

        def lexical(self, token_ids):
            """The hashed bag of tokens: (B, T) ids -> (B, lexical_dim) unit rows."""
            batch, length = token_ids.shape
            buckets = self.lexical_buckets[token_ids].reshape(batch, length * LEXICAL_HASHES)
            values = (self.lexical_signs[token_ids]                             # (B, T, H)
                      * self.lexical_weights[token_ids].unsqueeze(-1)).reshape(batch, -1)
            # Summed in float64: the order of a long text's thousands of additions then does not
            # show in its float32 row, whatever batch the text is encoded in.
            bag = torch.zeros(batch, self.lexical_dim, dtype=torch.float64, device=values.device)
            bag.scatter_add_(1, buckets, values.double())
            return F.normalize(bag, dim=-1).to(values.dtype)                  # (B, L) unit rows

        def forward(self, token_ids):
            semantic = self.semantic(token_ids)
            if not self.lexical_dim:
                return semantic
            return torch.cat([math.sqrt(1 - self.lexical_share) * semantic,
                              math.sqrt(self.lexical_share) * self.lexical(token_ids)], dim=-1)

    return AttentionModel(config)


class AttentionEncoder(NeuralEncoder):
    """The attention model as an `Encoder` (kind "attention")."""

    kind = "attention"
    config_class = AttentionConfig

    @staticmethod
    def build_model(config):
        return build_attention_model(config)

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

    def token_ids(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids of each text (up to LEXICAL_MAX_TOKENS); [] (cannot encode) if none is known.

        The model's transformer reads the first `max_length` of them, its lexical channel all.
        """
        return [ids[:LEXICAL_MAX_TOKENS] if any(i >= FIRST_TOKEN_ID for i in ids) else []
                for ids in self.tokenizer.encode_batch(texts)]

    def pool(self, ids, mask):  # ids, mask (B, T); padding is PAD_ID, which the model masks
        return self.model(ids)  # (B, dim)


def load_attention_directory(directory, config: dict) -> AttentionEncoder:
    """Registry entry: the encoder saved in `directory`."""
    return AttentionEncoder.load(directory, config)


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
