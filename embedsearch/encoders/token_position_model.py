"""The token+position embedder's torch module: a Bengio-style next-token model with learned positions.

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

Importing this module imports torch; the encoder imports it only when a model
is built or loaded.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .configs import TokenPositionConfig


class TokenPositionModel(nn.Module):
    """Token + position embeddings, a per-slot projection summed cumulatively, tanh, next-token logits."""

    def __init__(self, config: TokenPositionConfig):
        super().__init__()
        config.checked()
        self.context = config.context
        self.token_embedding = nn.Embedding(config.vocab_size, config.dim)
        self.position_embedding = nn.Embedding(config.context, config.dim)
        # The hidden layer's weight over the concatenated window, split per slot.
        bound = 1 / math.sqrt(config.context * config.dim)
        self.slot_projection = nn.Parameter(                                  # (context, D, H)
            torch.empty(config.context, config.dim, config.hidden).uniform_(-bound, bound))
        self.hidden_bias = nn.Parameter(torch.zeros(config.hidden))           # (H,)
        self.output = nn.Linear(config.hidden, config.vocab_size)
        with torch.no_grad():  # start near the uniform distribution: loss ~ ln(vocab)
            self.output.weight.mul_(0.1)
            self.output.bias.zero_()

    def embed(self, ids):
        """(B, T) ids, T <= context -> (B, T, D) token + position embeddings."""
        positions = torch.arange(ids.shape[1], device=ids.device)          # (T,)
        return self.token_embedding(ids) + self.position_embedding(positions)  # (B, T, D)

    def hidden(self, ids):
        """(B, T) ids, T <= context -> (B, T, H): position t sees the window's slots up to t."""
        embedded = self.embed(ids)                                         # (B, T, D)
        per_slot = torch.einsum("btd,tdh->bth", embedded, self.slot_projection[:ids.shape[1]])
        return torch.tanh(per_slot.cumsum(dim=1) + self.hidden_bias)      # (B, T, H)

    def forward(self, ids):
        """(B, T) ids, T <= context -> (B, T, V): logits of the next token at each position."""
        return self.output(self.hidden(ids))                               # (B, T, V)

    def windowed(self, ids, features: str):
        """(B, T) ids, any T -> (B, T, F): `features` ("embed" or "hidden") in windows of `context`."""
        batch, length = ids.shape
        windows = -(-length // self.context)
        padded = torch.nn.functional.pad(ids, (0, windows * self.context - length))  # (B, W*context)
        out = getattr(self, features)(padded.view(batch * windows, self.context))  # (B*W, context, F)
        return out.reshape(batch, windows * self.context, -1)[:, :length]  # (B, T, F)
