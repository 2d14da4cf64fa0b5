"""The token+position embedder as an encoder: token vectors and text vectors.

The model (`token_position_model.TokenPositionModel`) is a Bengio-style
next-token model with learned absolute positions, trained by
`embedsearch.train.token_position`. What it offers an index:
- `vocabulary()`: the token embeddings (without position), keyed by the
  decoded token string (" king", "ing", "."), most frequent first, so
  `embedsearch build --vectors DIR --out NAME` builds a token index (with
  "hidden" pooling, each token's hidden vector, so rows keep the encoder's
  dimension);
- text vectors: texts longer than the context are cut into windows of
  `context` tokens (positions restart in each). `pooling` picks the mean of
  the position-aware token embeddings ("embedding", the default) or the mean
  of the tanh hidden layer ("hidden") over the text's known tokens. Unknown
  tokens keep their positions but are left out of the mean; a text with no
  known token cannot be encoded.

"embedding" is the default because it retrieves better: the hidden layer is
tuned to predict the next token, and its mean over a text says little about
the topic (figures in docs/benchmarks.md). Importing this module does not
import torch.
"""

from __future__ import annotations


import numpy as np

from ..vectors import normalize_rows
from .configs import TokenPositionConfig
from .neural import NeuralEncoder, encode_token_lists
from .tokenizers import FIRST_TOKEN_ID

class TokenPositionEncoder(NeuralEncoder):
    """Token+position embedder as an `Encoder`: token vectors and text vectors."""

    kind = "token-position"
    config_class = TokenPositionConfig

    @staticmethod
    def build_model(config: TokenPositionConfig):
        from .token_position_model import TokenPositionModel

        return TokenPositionModel(config)

    @property
    def dim(self) -> int:
        return self.config.dim if self.config.pooling == "embedding" else self.config.hidden

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
