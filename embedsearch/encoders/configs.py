"""The torch encoders' model configs: each model's sizes, declared once, apart from torch.

A config is saved beside the weights as config.json (`neural.py` reads it
back strictly) and is what builds the model: `AttentionModel(config)`,
`TokenPositionModel(config)`. The trainers take the same dataclass (their
training dataclass holds it as `model`), and the CLI makes its options from
its fields, so a size is written in one place only. Fields made with
`settings.setting` carry a help text (the CLI offers those as options); the
others (kind, name, format version, vocabulary size) are set by the trainer.

This module does not import torch, so an encoder module can name its config
without loading the model.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import EncoderError
from .lexical import LexicalFields
from .settings import check_settings, setting
from .tokenizers import FIRST_TOKEN_ID

POOLINGS = ("embedding", "hidden")


@dataclass
class AttentionConfig(LexicalFields):
    """Sizes of an attention encoder (`attention_model.AttentionModel`); the lexical channel's
    fields come from `lexical.LexicalFields`."""

    kind: str = "attention"
    name: str = "attention"
    format_version: int = 1
    tokenizer: str = "gpt2"
    vocab_size: int = FIRST_TOKEN_ID + 1
    dim: int = setting(128, "Model dimension (the transformer channel's length).", minimum=1)
    heads: int = setting(4, "Attention heads per layer (must divide dim).", minimum=1)
    layers: int = setting(2, "Self-attention layers.", minimum=1)
    ff_dim: int = setting(512, "Width of each layer's feed-forward block.", minimum=1)
    max_length: int = setting(128, "Tokens read per text; longer texts are truncated.", minimum=1)
    dropout: float = 0.0

    def checked(self) -> "AttentionConfig":
        check_settings(self)
        if self.vocab_size < 1:
            raise EncoderError(f"AttentionConfig.vocab_size must be at least 1, got {self.vocab_size}")
        if self.dim % self.heads:
            raise EncoderError(f"AttentionConfig.dim ({self.dim}) must be a multiple of "
                               f"heads ({self.heads})")
        self.check_lexical_fields()
        return self


@dataclass
class TokenPositionConfig:
    """Sizes and pooling of a token+position model (`token_position_model.TokenPositionModel`)."""

    kind: str = "token-position"
    name: str = "token-position"
    format_version: int = 1
    tokenizer: str = setting("gpt2", "'gpt2' (GPT-2 BPE, compact vocabulary), 'bpe' (a byte-level "
                                     "BPE trained on the corpus) or 'char' (characters, e.g. "
                                     "for names).")
    vocab_size: int = FIRST_TOKEN_ID + 1
    context: int = setting(16, "Context length: tokens the model sees, and the training window.",
                           minimum=1)
    dim: int = setting(64, "Embedding dimension.", minimum=1)
    hidden: int = setting(128, "Size of the tanh hidden layer.", minimum=1)
    pooling: str = setting("embedding", "Text vectors: mean of token+position 'embedding's, or "
                                        "of the 'hidden' layer.")

    def checked(self) -> "TokenPositionConfig":
        from .tokenizers import TOKENIZERS

        check_settings(self)
        if self.vocab_size < 1:
            raise EncoderError(f"TokenPositionConfig.vocab_size must be at least 1, "
                               f"got {self.vocab_size}")
        if self.tokenizer not in TOKENIZERS:
            raise EncoderError(f"unknown tokenizer {self.tokenizer!r}: use "
                               f"{' or '.join(TOKENIZERS)}")
        if self.pooling not in POOLINGS:
            raise EncoderError(f"unknown pooling {self.pooling!r}: use {' or '.join(POOLINGS)}")
        return self
