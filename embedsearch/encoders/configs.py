"""The torch encoders' model configs: each model's sizes, declared once, apart from torch.

A config is saved beside the weights as config.json (`neural.py` reads it
back strictly) and is what builds the model: `AttentionModel(config)`,
`TokenPositionModel(config)`. The trainers take the same dataclass (their
training dataclass holds it as `model`), and the CLI makes its options from
its fields, so a size is written in one place only. Fields made with
`setting` carry a help text (the CLI offers those as options); the others
(kind, name, format version, vocabulary size) are set by the trainer.

This module does not import torch, so an encoder module can name its config
without loading the model.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import ClassVar

from ..errors import EncoderError
from .tokenizers import FIRST_TOKEN_ID

LEXICAL_HASHES = 8  # nonzero entries per token in the attention encoder's lexical channel
LEXICAL_TFS = ("sublinear", "raw")  # how the lexical channel weighs a token counted n times
POOLINGS = ("embedding", "hidden")


def setting(default, help: str, *, minimum: float | None = None, maximum: float | None = None):
    """A dataclass field a user may set: its help text and bounds (the CLI makes an option of it).

    `check_settings` checks the bounds for Python callers; the CLI gives them
    to its option, so a bad value fails before any work, naming the option.
    """
    return field(default=default, metadata={"help": help, "min": minimum, "max": maximum})


def check_settings(config, error: type[Exception] = EncoderError) -> None:
    """`error` naming the first `setting` field of `config` outside its bounds."""
    for item in fields(config):
        value, low, high = (getattr(config, item.name), item.metadata.get("min"),
                            item.metadata.get("max"))
        if low is not None and value < low or high is not None and value > high:
            bounds = (f"at least {low}" if high is None else f"at most {high}" if low is None
                      else f"in [{low}, {high}]")
            raise error(f"{type(config).__name__}.{item.name} must be {bounds}, got {value!r}")


@dataclass
class AttentionConfig:
    """Sizes of an attention encoder (`attention_model.AttentionModel`)."""

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
    lexical_dim: int = setting(2048, "Width of the hashed bag-of-tokens channel beside the "
                                     f"transformer (0: none, else at least {LEXICAL_HASHES}).",
                               minimum=0)
    lexical_share: float = 0.0  # share of the cosine from the lexical channel (the trainer sets it)
    # The lexical channel hashes the raw GPT-2 id of a token unseen in training (else it drops it).
    lexical_unseen: bool = True
    # How a token counted n times in a text weighs in the lexical channel: 'sublinear', 1 + ln n
    # (as TF-IDF's sublinear_tf), or 'raw', n.
    lexical_tf: str = "sublinear"
    lexical_reserved: float = setting(0.25, "Share of the lexical channel's dimensions that each "
                                           "hold one of the training corpus' weightiest tokens "
                                           "alone (the other tokens are hashed into the rest).",
                                      minimum=0.0, maximum=0.9)

    # Directories written before the lexical channel existed have no such keys: they had none;
    # those written before unseen tokens were hashed dropped them; those written before
    # sublinear counts counted every occurrence; before reserved dimensions, hashed every token.
    absent_in_old_directories: ClassVar[dict] = {"lexical_dim": 0, "lexical_share": 0.0,
                                                 "lexical_unseen": False, "lexical_tf": "raw",
                                                 "lexical_reserved": 0.0}
    # Keys whose value here leaves them out of the fingerprint, so that an old directory keeps
    # the fingerprint its indexes were built with.
    absent_from_old_fingerprints: ClassVar[dict] = {"lexical_unseen": False, "lexical_tf": "raw",
                                                    "lexical_reserved": 0.0}

    def checked(self) -> "AttentionConfig":
        check_settings(self)
        if self.vocab_size < 1:
            raise EncoderError(f"AttentionConfig.vocab_size must be at least 1, got {self.vocab_size}")
        if self.dim % self.heads:
            raise EncoderError(f"AttentionConfig.dim ({self.dim}) must be a multiple of "
                               f"heads ({self.heads})")
        if 0 < self.lexical_dim < LEXICAL_HASHES:
            raise EncoderError(f"AttentionConfig.lexical_dim ({self.lexical_dim}) must be 0 or "
                               f"at least {LEXICAL_HASHES}")
        if not 0 <= self.lexical_share <= 1:
            raise EncoderError(f"AttentionConfig.lexical_share ({self.lexical_share}) must be "
                               "in [0, 1]")
        if self.lexical_dim and self.reserved_dims() > self.lexical_dim - LEXICAL_HASHES:
            raise EncoderError(f"AttentionConfig.lexical_reserved ({self.lexical_reserved}) leaves "
                               f"fewer than {LEXICAL_HASHES} hashed dimensions of {self.lexical_dim}")
        if self.lexical_tf not in LEXICAL_TFS:
            raise EncoderError(f"AttentionConfig.lexical_tf ({self.lexical_tf!r}) must be "
                               f"{' or '.join(LEXICAL_TFS)}")
        return self

    def reserved_dims(self) -> int:
        """The lexical dimensions [0, reserved_dims) that each hold one token class alone."""
        return int(self.lexical_reserved * self.lexical_dim)


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
