"""The attention encoder's torch module: token + position embeddings, a few transformer layers, pooling.

`AttentionModel(config)` reads PAD_ID-padded token ids (B, T) and returns unit
rows (B, dim + lexical_dim): the transformer's channel, then the lexical one,
mixed by `config.lexical_share` (see `encoders/attention.py` for why there are
two). Importing this module imports torch; the encoder imports it only when a
model is built or loaded.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .configs import LEXICAL_HASHES, AttentionConfig
from .tokenizers import FIRST_TOKEN_ID, PAD_ID


class AttentionModel(nn.Module):
    """Pre-norm transformer encoder over token + learned position embeddings, masked mean pooling.

    The residual branches start at zero, so an untrained model is exactly the
    normalised mean of its token + position embeddings.
    """

    def __init__(self, config: AttentionConfig):
        super().__init__()
        config.checked()
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
        """The transformer's channel: (B, T) ids -> (B, dim) unit rows."""
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
        buckets = self.lexical_buckets[token_ids].reshape(batch, length * LEXICAL_HASHES)  # (B, T*H)
        values = (self.lexical_signs[token_ids]                             # (B, T, H)
                  * self.lexical_weights[token_ids].unsqueeze(-1)).reshape(batch, -1)  # (B, T*H)
        bag = torch.zeros(batch, self.lexical_dim, dtype=values.dtype, device=values.device)
        return F.normalize(bag.scatter_add_(1, buckets, values), dim=-1)  # (B, L) unit rows

    def forward(self, token_ids):
        """(B, T) ids -> (B, dim + lexical_dim) unit rows: sqrt(1 - s) semantic, sqrt(s) lexical."""
        semantic = self.semantic(token_ids)                               # (B, C)
        if not self.lexical_dim:
            return semantic
        return torch.cat([math.sqrt(1 - self.lexical_share) * semantic,
                          math.sqrt(self.lexical_share) * self.lexical(token_ids)], dim=-1)
