"""The attention encoder's torch module: token + position embeddings, a few transformer layers, pooling.

`AttentionModel(config)` reads PAD_ID-padded token ids (B, T) and returns unit
rows (B, dim + lexical_dim): the transformer's channel, then the lexical one,
mixed by `config.lexical_share` (see `encoders/attention.py` for why there are
two). Negative ids are tokens unseen in training, `-1 - GPT-2 id`: <unk> to
the transformer, hashed into the lexical channel's buckets by
`unseen_hashes`. Importing this module imports torch; the encoder imports it
only when a model is built or loaded.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .configs import LEXICAL_HASHES, AttentionConfig
from .tokenizers import FIRST_TOKEN_ID, PAD_ID, UNKNOWN_ID

HASH_PRIME = 2_147_483_647  # 2**31 - 1: a GPT-2 id times a coefficient below it fits in int64


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
        self.sublinear, self.reserved = False, 0
        if config.lexical_dim:
            # Buffers, not parameters: saved with the weights, never trained. The weights
            # start at 1 for real tokens; the trainer sets smooth inverse frequencies.
            generator = torch.Generator().manual_seed(config.lexical_dim)
            shape = (config.vocab_size, LEXICAL_HASHES)
            # Tokens are hashed into [reserved, lexical_dim); the trainer gives each of the
            # corpus' weightiest token classes one of the reserved dimensions alone.
            self.reserved = config.reserved_dims()
            self.register_buffer("lexical_buckets",                            # (V, H)
                                 torch.randint(self.reserved, config.lexical_dim, shape,
                                               generator=generator))
            signs = torch.randint(0, 2, shape, generator=generator)
            self.register_buffer("lexical_signs", signs.float() * 2 - 1)      # (V, H) of +-1
            weights = torch.ones(config.vocab_size)
            weights[:FIRST_TOKEN_ID] = 0.0  # padding, unknown and markers say nothing
            self.register_buffer("lexical_weights", weights)                  # (V,)
            self.sublinear = config.lexical_tf == "sublinear"
            if self.sublinear:
                # The class each token is counted in (tokens differing only in case: one class;
                # the trainer sets them). Its own id until then.
                self.register_buffer("lexical_classes", torch.arange(config.vocab_size))  # (V,)
            # (a, b) of the universal hashes (a * id + b) mod p of unseen tokens: bucket, then
            # sign, for each of the H entries. Derived from lexical_dim, never saved.
            coefficients = torch.randint(1, HASH_PRIME, (4, LEXICAL_HASHES), generator=generator)
            self.register_buffer("unseen_coefficients", coefficients, persistent=False)  # (4, H)

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

    def unseen_hashes(self, raw_ids):
        """Buckets (N, H) and +-1 signs (N, H) of unseen tokens' raw ids (N,) >= 0."""
        a_bucket, b_bucket, a_sign, b_sign = self.unseen_coefficients.unsqueeze(1)  # each (1, H)
        raw = raw_ids.unsqueeze(-1)                                       # (N, 1)
        buckets = (a_bucket * raw + b_bucket) % HASH_PRIME % (self.lexical_dim - self.reserved)
        buckets = buckets + self.reserved
        signs = ((a_sign * raw + b_sign) % HASH_PRIME % 2).float() * 2 - 1
        return buckets, signs

    def sublinear_factors(self, token_ids):
        """(B, T) ids -> (B, T) factors (1 + ln n) / n, n the count of the token's class in its text.

        Each of the n occurrences of a class then adds 1/n of 1 + ln n, so the
        bag weighs the class by 1 + ln n (TF-IDF's sublinear tf) instead of n:
        a word repeated ten times counts 3.3 times, not 10.
        """
        seen = token_ids.clamp(min=0)                                     # (B, T)
        keys = torch.where(token_ids < 0, token_ids, self.lexical_classes[seen])  # (B, T)
        keys = keys - keys.min()                                          # (B, T) >= 0
        rows = torch.arange(token_ids.shape[0], device=token_ids.device).unsqueeze(1)  # (B, 1)
        _, inverse, counts = torch.unique(rows * (int(keys.max()) + 1) + keys,
                                          return_inverse=True, return_counts=True)
        counts = counts[inverse].double()                                 # (B, T) n per token
        return (1 + torch.log(counts)) / counts                           # (B, T)

    def lexical(self, token_ids):
        """The hashed bag of tokens: (B, T) ids -> (B, lexical_dim) unit rows."""
        batch, length = token_ids.shape
        seen = token_ids.clamp(min=0)                                     # (B, T) unseen: <pad>
        buckets = self.lexical_buckets[seen]                              # (B, T, H)
        signs = self.lexical_signs[seen]                                  # (B, T, H)
        weights = self.lexical_weights[seen]                              # (B, T)
        unseen = token_ids < 0                                            # (B, T)
        if unseen.any():
            buckets[unseen], signs[unseen] = self.unseen_hashes(-1 - token_ids[unseen])
            weights[unseen] = 1.0  # smooth inverse frequency of a token with no count
        if self.sublinear:
            weights = weights * self.sublinear_factors(token_ids)           # (B, T) float64
        buckets = buckets.reshape(batch, length * LEXICAL_HASHES)          # (B, T*H)
        values = (signs * weights.unsqueeze(-1)).reshape(batch, -1)       # (B, T*H)
        # Summed in float64: the order of a long text's thousands of additions then does not
        # show in its float32 row, whatever batch the text is encoded in.
        bag = torch.zeros(batch, self.lexical_dim, dtype=torch.float64, device=values.device)
        bag.scatter_add_(1, buckets, values.double())
        return F.normalize(bag, dim=-1).to(signs.dtype)                   # (B, L) unit rows

    def mixed(self, token_ids, share: float):
        """(B, T) ids -> (B, dim + lexical_dim) unit rows: sqrt(1 - share) semantic, sqrt(share) lexical."""
        return torch.cat([math.sqrt(1 - share) * self.semantic(token_ids),
                          math.sqrt(share) * self.lexical(token_ids)], dim=-1)

    def forward(self, token_ids):
        """(B, T) ids -> unit rows: `mixed` at the config's share, the semantic channel without a lexical one."""
        if not self.lexical_dim:
            return self.semantic(token_ids)                               # (B, C)
        return self.mixed(token_ids, self.lexical_share)                  # (B, C + L)
