"""The attention encoder's torch module: token + position embeddings, a few transformer layers, pooling.

`AttentionModel(config)` reads PAD_ID-padded token ids (B, T) and returns unit
rows (B, dim + lexical_dim): the transformer's channel, then the lexical one
(`lexical.LexicalChannel`), mixed by `config.lexical_share`. Negative ids are
tokens unseen in training, `-1 - GPT-2 id`: <unk> to the transformer, hashed
by the lexical channel. Importing this module imports torch; the encoder
imports it only when a model is built or loaded.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .configs import AttentionConfig
from .lexical import LexicalChannel
from .tokenizers import PAD_ID, UNKNOWN_ID


class AttentionModel(nn.Module, LexicalChannel):
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
        self.init_lexical_channel(config, config.vocab_size)  # buffers only, never trained

    def semantic(self, token_ids):
        """The transformer's channel: (B, T) ids -> (B, dim) unit rows (first max_length ids)."""
        token_ids = token_ids[:, :self.position_embedding.num_embeddings]  # (B, T <= max_length)
        token_ids = torch.where(token_ids < 0, UNKNOWN_ID, token_ids)     # unseen tokens: <unk>
        padding = token_ids == PAD_ID                                     # (B, T) True at padding
        positions = torch.arange(token_ids.shape[1], device=token_ids.device)  # (T,)
        x = self.token_embedding(token_ids) + self.position_embedding(positions)  # (B, T, C)
        x = self.encoder(x, src_key_padding_mask=padding)                 # (B, T, C)
        keep = (~padding).unsqueeze(-1).to(x.dtype)                       # (B, T, 1)
        pooled = (x * keep).sum(dim=1) / keep.sum(dim=1).clamp(min=1)     # (B, C)
        return F.normalize(pooled, dim=-1)                                # (B, C) unit rows

    def mixed(self, token_ids, share: float):
        """(B, T) ids -> (B, dim + lexical_dim) unit rows: sqrt(1 - share) semantic, sqrt(share) lexical."""
        return torch.cat([math.sqrt(1 - share) * self.semantic(token_ids),
                          math.sqrt(share) * self.lexical(token_ids)], dim=-1)

    def forward(self, token_ids):
        """(B, T) ids -> unit rows: `mixed` at the config's share, the semantic channel without a lexical one."""
        if not self.lexical_dim:
            return self.semantic(token_ids)                               # (B, C)
        return self.mixed(token_ids, self.lexical_share)                  # (B, C + L)
