"""Encoders by name: `load_encoder(spec)` turns a built-in name or a path into an encoder.

A spec is one of:
- a built-in vectors name (`glove-6b-50d`);
- an encoder directory (holds `config.json` whose `kind` picks the class);
- a vectors file in word2vec binary, word2vec text or GloVe text format;
- a sentence-transformers model: `st:PATH`, a directory saved by
  sentence-transformers, or the built-in `all-minilm-l6-v2`
  (`sentence_transformer.py`).

Adding an encoder kind means one module whose class has a `load(path, config)`
class method (as `NeuralEncoder.load`) and one line in `_directory_loaders`.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import EncoderError
from .base import Encoder
from .builtin import BUILTIN_VECTORS
from .sentence_transformer import (MINILM, PREFIX, is_sentence_transformer_directory,
                                   load_sentence_transformer)
from .static_tokens import STATIC_MINILM, StaticTokenEncoder
from .word_vectors import CONFIG_FILE, WordVectors, load_vectors_file, load_word2vec_directory

# What `build --corpus` encodes text with when no encoder is named.
DEFAULT_TEXT_ENCODER = STATIC_MINILM


def _directory_loaders():
    loaders = {WordVectors.kind: load_word2vec_directory}
    from .token_position import TokenPositionEncoder  # no torch until a model loads
    loaders[TokenPositionEncoder.kind] = TokenPositionEncoder.load
    from .attention import AttentionEncoder  # no torch until a model loads
    loaders[AttentionEncoder.kind] = AttentionEncoder.load
    loaders[StaticTokenEncoder.kind] = StaticTokenEncoder.load
    return loaders


def load_encoder(spec: str | Path) -> Encoder:
    """The encoder a spec names; a clear error if it names nothing usable."""
    spec_text = str(spec)
    if spec_text in BUILTIN_VECTORS:
        return BUILTIN_VECTORS[spec_text]()
    path = Path(spec_text).expanduser()
    if spec_text == MINILM or spec_text.startswith(PREFIX) or is_sentence_transformer_directory(path):
        return load_sentence_transformer(spec_text)
    if path.is_dir():
        return load_encoder_directory(path)
    if path.is_file():
        return load_vectors_file(path)
    builtins = ", ".join(sorted([*BUILTIN_VECTORS, MINILM]))
    raise EncoderError(
        f"no encoder named {spec_text!r}: give a built-in name ({builtins}), "
        "an encoder directory, st:PATH (a sentence-transformers model) or a vectors file"
    )


def load_encoder_directory(directory: Path) -> Encoder:
    config_path = directory / CONFIG_FILE
    if not config_path.is_file():
        raise EncoderError(f"{directory} is not an encoder directory: it has no {CONFIG_FILE}")
    try:
        config = json.loads(config_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise EncoderError(f"{config_path} is not valid JSON ({error}); the encoder is damaged") from None
    kind = config.get("kind") if isinstance(config, dict) else None
    loaders = _directory_loaders()
    if kind not in loaders:
        raise EncoderError(
            f"{directory}: unknown encoder kind {kind!r} (known: {', '.join(sorted(loaders))})"
        )
    return loaders[kind](directory, config)


__all__ = ["DEFAULT_TEXT_ENCODER", "Encoder", "WordVectors", "load_encoder"]
