"""What the torch encoders share: their directory format, config checking, batched encoding.

A neural encoder directory holds three files, written by `write_encoder_directory`
and read back by `read_encoder_directory` (its exact inverse):

    config.json     the model's dataclass config: `kind` picks the class in the
                    registry, plus `name`, `format_version` and the sizes
    weights.pt      the model's state dict (`torch.save`), read with
                    `weights_only=True`, so loading never unpickles code
    tokenizer.json  the tokenizer (`tokenizers.py`)

Every file is written to a temporary name and renamed into place, config last,
so a directory with a config is complete. A missing file, a damaged one, a
config with unknown keys or wrong types, or weights that do not fit the
config each give an `EncoderError` naming the file.

`NeuralEncoder` is the base class of both torch encoders: it tokenizes, sorts
texts by length, pads each batch to its longest text, runs the subclass's
`pool(ids, mask)` under `torch.inference_mode()` and normalises the rows.
Importing this module does not import torch; using it does.
"""

from __future__ import annotations

import json
import os
import typing
from dataclasses import asdict, fields
from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import EncoderError
from ..files import write_atomically
from ..vectors import normalize_rows
from .base import CONFIG_FILE, Encoder, fingerprint_bytes
from .tokenizers import FIRST_TOKEN_ID, PAD_ID, Tokenizer, tokenizer_from_json

WEIGHTS_FILE = "weights.pt"
TOKENIZER_FILE = "tokenizer.json"
ENCODE_BATCH_SIZE = 64


def use_all_cores() -> None:
    """Let torch use every core this process may run on."""
    import torch

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    torch.set_num_threads(max(1, cores or 1))


def config_from_dict(config_class, data, where: str):
    """An instance of the dataclass `config_class` from JSON data, checked strictly.

    Unknown keys, missing keys without a default, values of the wrong type and
    a `kind` or `format_version` this class does not read are errors. Every
    config class has `kind`, `name` and `format_version` fields with defaults;
    its `absent_in_old_directories` (if any) gives the values of keys that
    directories written before those keys existed lack.
    """
    if not isinstance(data, dict):
        raise EncoderError(f"{where}: the config is not a JSON object")
    hints = typing.get_type_hints(config_class)
    known = {f.name for f in fields(config_class)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise EncoderError(f"{where}: unknown config keys {', '.join(unknown)}")
    for name, value in data.items():
        expected = typing.get_origin(hints[name]) or hints[name]
        accepted = (int, float) if expected is float else expected
        if isinstance(value, bool) and expected is not bool or not isinstance(value, accepted):
            raise EncoderError(f"{where}: config key {name!r} should be {expected.__name__}, "
                               f"got {value!r}")
    try:
        config = config_class(**{**getattr(config_class, "absent_in_old_directories", {}), **data})
    except TypeError as error:
        raise EncoderError(f"{where}: incomplete config ({error})") from None
    default = config_class()
    if config.kind != default.kind:
        raise EncoderError(f"{where}: config kind {config.kind!r}, expected {default.kind!r}")
    if config.format_version > default.format_version:
        raise EncoderError(f"{where}: format version {config.format_version}; this embedsearch "
                           f"reads up to {default.format_version}: upgrade embedsearch")
    return config


def write_encoder_directory(directory: str | Path, config, state_dict: dict,
                            tokenizer: Tokenizer) -> Path:
    """Save weights, tokenizer and config (last) into `directory`, each file atomically."""
    import torch

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    weights = {name: tensor.detach().cpu().contiguous() for name, tensor in state_dict.items()}
    write_atomically(directory / WEIGHTS_FILE, lambda path: torch.save(weights, path))
    write_atomically(directory / TOKENIZER_FILE, lambda path: path.write_text(tokenizer.to_json()))
    config_text = json.dumps(asdict(config), indent=2) + "\n"
    write_atomically(directory / CONFIG_FILE, lambda path: path.write_text(config_text))
    return directory


def read_encoder_directory(directory: str | Path, config_class, config_data: dict | None = None):
    """(config, state dict, tokenizer) of an encoder directory; `EncoderError` if unusable."""
    import pickle

    import torch

    directory = Path(directory)
    config_path, weights_path, tokenizer_path = (directory / CONFIG_FILE, directory / WEIGHTS_FILE,
                                                 directory / TOKENIZER_FILE)
    for path in (config_path, weights_path, tokenizer_path):
        if not path.is_file():
            raise EncoderError(f"{directory} is not a complete encoder directory: {path.name} is missing")
    if config_data is None:
        try:
            config_data = json.loads(config_path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise EncoderError(f"{config_path} is not valid JSON ({error})") from None
    config = config_from_dict(config_class, config_data, str(config_path))
    try:
        state_dict = torch.load(weights_path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError, ValueError):
        # torch's own message suggests weights_only=False, which is exactly what not to do.
        raise EncoderError(f"{weights_path} is damaged or is not a state dict saved by "
                           "embedsearch") from None
    if not isinstance(state_dict, dict) or not all(isinstance(v, torch.Tensor)
                                                   for v in state_dict.values()):
        raise EncoderError(f"{weights_path} does not hold a state dict of tensors")
    try:
        tokenizer = tokenizer_from_json(tokenizer_path.read_text())
    except UnicodeDecodeError as error:
        raise EncoderError(f"{tokenizer_path} is not text ({error})") from None
    except EncoderError as error:
        raise EncoderError(f"{tokenizer_path}: {error}") from None
    return config, state_dict, tokenizer


def load_state(model, state_dict: dict, where: str) -> None:
    """`model.load_state_dict`, with a one-line error when the weights do not fit."""
    try:
        model.load_state_dict(state_dict)
    except RuntimeError as error:
        detail = " ".join(str(error).split())[:300]
        raise EncoderError(f"{where}: the weights do not fit the config ({detail})") from None


def fingerprint_model(config, state_dict: dict, tokenizer: Tokenizer) -> str:
    """Digest of config, tokenizer and every weight: identical before and after save/load."""
    old_values = getattr(config, "absent_from_old_fingerprints", {})
    kept = {key: value for key, value in asdict(config).items()
               if key not in old_values or value != old_values[key]}
    chunks = [json.dumps(kept, sort_keys=True).encode(), tokenizer.to_json().encode()]
    for name in sorted(state_dict):
        chunks.append(name.encode())
        chunks.append(state_dict[name].detach().cpu().contiguous().numpy().tobytes())
    return fingerprint_bytes(*chunks)


def encode_token_lists(token_lists: Sequence[Sequence[int]], pool, dim: int, *,
                       batch_size: int = ENCODE_BATCH_SIZE) -> tuple[np.ndarray, np.ndarray]:
    """Unit vectors of token-id lists: (vectors (n, dim), encodable (n,)).

    Lists are sorted by length and padded with `PAD_ID` to the longest of
    their batch (so little work is wasted on padding); `pool(ids (B, T) long,
    mask (B, T) bool, True = real token) -> (B, dim)` runs under
    `torch.inference_mode()`. Empty lists cannot be encoded: their rows are
    zero and flagged False.
    """
    import torch

    vectors = np.zeros((len(token_lists), dim), dtype=np.float32)
    encodable = np.array([len(ids) > 0 for ids in token_lists], dtype=bool)
    order = sorted(np.flatnonzero(encodable), key=lambda i: len(token_lists[i]))
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            rows = order[start:start + batch_size]
            longest = len(token_lists[rows[-1]])
            ids = torch.full((len(rows), longest), PAD_ID, dtype=torch.long)
            for row, index in enumerate(rows):
                ids[row, :len(token_lists[index])] = torch.as_tensor(token_lists[index])
            mask = ids != PAD_ID
            vectors[rows] = pool(ids, mask).float().numpy()
    return normalize_rows(vectors), encodable


class NeuralEncoder(Encoder):
    """A torch model, its config and its tokenizer, as an `Encoder`.

    Subclasses set `kind` and `config_class`, and implement `build_model(config)`,
    `dim` and `pool(ids, mask)`; they may set `max_tokens` (texts are truncated to it).
    """

    config_class: type

    def __init__(self, model, config, tokenizer: Tokenizer, *, spec: str | None = None):
        use_all_cores()
        self.model = model.eval()
        self.config = config
        self.tokenizer = tokenizer
        self._spec = spec or config.name
        self._fingerprint = None

    @staticmethod
    def build_model(config):
        raise NotImplementedError

    @classmethod
    def load(cls, directory: str | Path, config_data: dict | None = None) -> "NeuralEncoder":
        """The encoder saved in `directory` (the registry passes the parsed config)."""
        directory = Path(directory)
        config, state_dict, tokenizer = read_encoder_directory(directory, cls.config_class, config_data)
        model = cls.build_model(config)
        load_state(model, state_dict, str(directory / WEIGHTS_FILE))
        return cls(model, config, tokenizer, spec=str(directory.resolve()))

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def spec(self) -> str:
        return self._spec

    def fingerprint(self) -> str:
        if self._fingerprint is None:
            self._fingerprint = fingerprint_model(self.config, self.model.state_dict(), self.tokenizer)
        return self._fingerprint

    max_tokens: int | None = None  # a subclass may read only the first max_tokens of a text

    def tokenize(self, texts: Sequence[str]) -> list[list[int]]:
        """The tokenizer's ids of each text (a subclass may mark unseen tokens, see attention.py)."""
        return self.tokenizer.encode_batch(texts)

    def token_ids(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids of each text as the model reads them; [] (cannot encode) if none is known."""
        return [ids[:self.max_tokens] if any(i >= FIRST_TOKEN_ID for i in ids) else []
                for ids in self.tokenize(texts)]

    def pool(self, ids, mask):
        """(B, T) token ids and mask -> (B, dim) text vectors (not yet normalised)."""
        raise NotImplementedError

    def encode_batch(self, texts):
        return encode_token_lists(self.token_ids(list(texts)), self.pool, self.dim)

    def save(self, directory):
        path = write_encoder_directory(directory, self.config, self.model.state_dict(), self.tokenizer)
        self._spec = str(Path(path).resolve())
        return path
