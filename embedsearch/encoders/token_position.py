"""The token+position embedder: learned token and absolute position embeddings, a Bengio NLM head.

Model (Bengio et al. 2003, "A Neural Probabilistic Language Model", with
learned absolute positions): a window of `context` token ids is embedded as
token embedding + position embedding, (B, T, D). The embeddings of the window
are concatenated and go through one tanh layer and a softmax over the compact
vocabulary to predict the next token. Concatenation followed by a linear layer
is a sum of one projection per slot, so the prediction after position t uses

    hidden_t = tanh(b + sum_{j <= t} W_j e_j)        (W_j: (D, H), one per slot)

a cumulative sum over the window. At the window's last position this is
exactly Bengio's model with the full context; earlier positions see the slots
after them as zeros, as if padded. Every position therefore gives a training
signal, with inputs and targets shifted by one as in GPT-style training, at
the cost of one matrix product per token rather than per (token, slot).

What it offers an index:
- `vocabulary()`: the token embeddings (without position), keyed by the
  decoded token string (" king", "ing", "."), most frequent first, so
  `embedsearch build --vectors DIR --out NAME` builds a token index (with
  "hidden" pooling, each token's hidden vector, so rows keep the encoder's
  dimension);
- text vectors: texts longer than the context are cut into windows of
  `context` tokens (positions restart in each). `pooling` picks the mean of
  the position-aware token embeddings ("embedding") or the mean of the tanh
  hidden layer ("hidden") over the text's known tokens. Unknown tokens keep
  their positions but are left out of the mean; a text with no known token
  cannot be encoded.

Which pooling retrieves better, measured on the Lee corpus retrieval split
(`evaluate.retrieval`: 240 training documents; 214 chunks of 60 held-out
documents; a query finds the other chunks of its document; chance is a
recall@10 of 0.047), three trainings with different sizes and steps:

    pooling      recall@10             MRR
    embedding    0.190 0.203 0.198     0.222 0.220 0.211
    hidden       0.048 0.063 0.046     0.081 0.090 0.062

so "embedding" is the default: the hidden layer is tuned to predict the
next token, and its mean over a text says little more than chance about the
topic. Be warned that on this corpus the embedding mean retrieves no better
than the same model untrained (recall@10 0.160-0.199 over three random
initialisations): what it finds comes from the embedding table acting as a
random projection of the bag of tokens, since minutes of training on 60k
tokens move rare tokens little. Initialising the table 10x smaller gave a
better language model (validation perplexity 980 vs 1250) but worse
retrieval (0.126).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..vectors import normalize_rows
from .neural import NeuralEncoder, encode_token_lists
from .tokenizers import FIRST_TOKEN_ID

POOLINGS = ("embedding", "hidden")


@dataclass
class TokenPositionConfig:
    """Sizes and options of a token+position model; saved as config.json."""

    kind: str = "token-position"
    name: str = "token-position"
    format_version: int = 1
    tokenizer: str = "gpt2"
    vocab_size: int = FIRST_TOKEN_ID + 1
    context: int = 16
    dim: int = 64
    hidden: int = 128
    pooling: str = "embedding"


def build_token_position_model(config: TokenPositionConfig):
    """The torch module for `config` (torch is imported only here and below)."""
    import torch
    from torch import nn

    class TokenPositionModel(nn.Module):
        def __init__(self, config: TokenPositionConfig):
            super().__init__()
            self.context = config.context
            self.token_embedding = nn.Embedding(config.vocab_size, config.dim)
            self.position_embedding = nn.Embedding(config.context, config.dim)
            # The hidden layer's weight over the concatenated window, split per slot.
            bound = 1 / math.sqrt(config.context * config.dim)
            self.slot_projection = nn.Parameter(
                torch.empty(config.context, config.dim, config.hidden).uniform_(-bound, bound))
            self.hidden_bias = nn.Parameter(torch.zeros(config.hidden))
            self.output = nn.Linear(config.hidden, config.vocab_size)
            with torch.no_grad():  # start near the uniform distribution: loss ~ ln(vocab)
                self.output.weight.mul_(0.1)
                self.output.bias.zero_()

        def embed(self, ids):  # ids (B, T), T <= context
            positions = torch.arange(ids.shape[1], device=ids.device)
            return self.token_embedding(ids) + self.position_embedding(positions)  # (B, T, D)

        def hidden(self, ids):  # ids (B, T), T <= context
            embedded = self.embed(ids)  # (B, T, D)
            per_slot = torch.einsum("btd,tdh->bth", embedded, self.slot_projection[:ids.shape[1]])
            return torch.tanh(per_slot.cumsum(dim=1) + self.hidden_bias)  # (B, T, H)

        def forward(self, ids):  # ids (B, T), T <= context
            return self.output(self.hidden(ids))  # (B, T, V): logits of the next token

        def windowed(self, ids, features):  # ids (B, T), any T
            """`features` ("embed" or "hidden") of each position, windows of `context`."""
            batch, length = ids.shape
            windows = -(-length // self.context)
            padded = torch.nn.functional.pad(ids, (0, windows * self.context - length))
            out = getattr(self, features)(padded.view(batch * windows, self.context))
            return out.reshape(batch, windows * self.context, -1)[:, :length]  # (B, T, F)

    return TokenPositionModel(config)


class TokenPositionEncoder(NeuralEncoder):
    """Token+position embedder as an `Encoder`: token vectors and text vectors."""

    kind = "token-position"
    config_class = TokenPositionConfig

    @staticmethod
    def build_model(config):
        return build_token_position_model(config)

    @property
    def dim(self) -> int:
        return self.config.dim if self.config.pooling == "embedding" else self.config.hidden

    def token_ids(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids of each text; [] (cannot encode) when no token is known."""
        return [ids if any(i >= FIRST_TOKEN_ID for i in ids) else []
                for ids in self.tokenizer.encode_batch(texts)]

    def pool(self, ids, mask):  # ids, mask (B, T)
        features = self.model.windowed(ids, "embed" if self.config.pooling == "embedding" else "hidden")
        known = (ids >= FIRST_TOKEN_ID).unsqueeze(-1).to(features.dtype)  # (B, T, 1)
        return (features * known).sum(dim=1) / known.sum(dim=1).clamp(min=1)  # (B, F)

    def vocabulary(self):
        """Token embeddings keyed by token string; with "hidden" pooling, each token's hidden vector."""
        keys = self.tokenizer.token_strings()
        if self.config.pooling == "hidden":  # the index's rows must have the encoder's dimension
            ids = [[token_id] for token_id in range(FIRST_TOKEN_ID, self.tokenizer.vocab_size)]
            return keys, encode_token_lists(ids, self.pool, self.dim)[0]
        weights = self.model.token_embedding.weight.detach().numpy()[FIRST_TOKEN_ID:]
        return keys, normalize_rows(np.array(weights, dtype=np.float32))


def load_token_position_directory(directory, config: dict) -> TokenPositionEncoder:
    """Registry entry: the encoder saved in `directory`."""
    return TokenPositionEncoder.load(directory, config)
