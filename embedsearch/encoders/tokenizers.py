"""Tokenizers of the neural encoders: compact GPT-2 BPE, a BPE trained on the corpus, characters.

All three map text to small integer ids with the same layout, so a model
never needs to know which tokenizer feeds it:

    0  <pad>   padding (never a real token; models mask it)
    1  <unk>   a token not seen when the tokenizer was fitted
    2  <s>     start of a document (or of a name)
    3  </s>    end of a document (or of a name)
    4..        the fitted tokens, most frequent first

`Gpt2Tokenizer` splits text with tiktoken's GPT-2 encoding, then keeps only
the GPT-2 tokens seen in the fitting corpus, remapped to 4..: a corpus with
8,000 distinct tokens gives an embedding table of 8,004 rows instead of
50,257. `CharTokenizer` does the same with single characters, for learning
from lists of names. `BpeTokenizer` is a byte-level BPE trained on the
corpus itself (`bpe.py`, with the `tokenizers` library), encoded through
tiktoken.

`encode` never adds markers: the token+position trainer puts <s> ... </s>
around each document itself. Every tokenizer saves to and loads from one
JSON document (`to_json` / `tokenizer_from_json`), with a `kind` and a
format version.

>>> tokenizer = CharTokenizer.fit(["anna", "bob"])
>>> tokenizer.encode("nab")
[6, 4, 5]
>>> tokenizer.decode([START_ID, *tokenizer.encode("ab"), END_ID])
'ab\\n'
"""

from __future__ import annotations

import json
from collections import Counter
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from ..errors import EncoderError
from .bpe import (BYTES, GPT2_PATTERN, cached_encoder, tiktoken_agrees, to_bytes, to_chars,
                  train_byte_bpe)

PAD_ID = 0
UNKNOWN_ID = 1
START_ID = 2
END_ID = 3
FIRST_TOKEN_ID = 4
SPECIAL_TOKENS = ("<pad>", "<unk>", "<s>", "</s>")
FORMAT_VERSION = 1

GPT2_RANKS_FILE = Path(__file__).parent / "data" / "gpt2.tiktoken"
GPT2_RANKS_SHA256 = "306cd27f03c1a714eca7108e03d66b7dc042abe8c258b44c199a7ed9838dd930"
GPT2_VOCAB_SIZE = 50257
DEFAULT_BPE_VOCAB_SIZE = 8000  # ids of a trained BPE, special ids included


@lru_cache(maxsize=1)
def gpt2_encoding():
    """tiktoken's GPT-2 encoding, built from the bundled ranks file (no download)."""
    import tiktoken
    from tiktoken.load import load_tiktoken_bpe

    ranks = load_tiktoken_bpe(str(GPT2_RANKS_FILE), expected_hash=GPT2_RANKS_SHA256)
    return tiktoken.Encoding(name="gpt2", explicit_n_vocab=GPT2_VOCAB_SIZE, pat_str=GPT2_PATTERN,
                             mergeable_ranks=ranks, special_tokens={"<|endoftext|>": 50256})


class Tokenizer:
    """The shared id layout and the methods built on `encode` / `token_string`."""

    kind = "tokenizer"

    @property
    def vocab_size(self) -> int:
        """Number of ids, special ones included (the size of an embedding table)."""
        raise NotImplementedError

    def encode(self, text: str) -> list[int]:
        raise NotImplementedError

    def encode_batch(self, texts: Sequence[str]) -> list[list[int]]:
        return [self.encode(text) for text in texts]

    def encode_batch_marking_unseen(self, texts: Sequence[str]) -> list[list[int]]:
        """`encode_batch`, but a token unseen when fitted is `-1 - its base id` instead of <unk>
        where the tokenizer has base ids (GPT-2's); others give `encode_batch`."""
        return self.encode_batch(texts)

    def decode(self, ids: Iterable[int]) -> str:
        """Text of ids; <pad> and <s> vanish, </s> becomes a newline."""
        raise NotImplementedError

    def token_string(self, token_id: int) -> str:
        """A readable, unique string for one id (the key of a vocabulary index)."""
        raise NotImplementedError

    def token_strings(self) -> list[str]:
        """`token_string` of every fitted token, in id order (from FIRST_TOKEN_ID)."""
        return [self.token_string(i) for i in range(FIRST_TOKEN_ID, self.vocab_size)]

    def to_json(self) -> str:
        raise NotImplementedError


class ByteTokenizer(Tokenizer):
    """A tokenizer whose tokens are byte strings: decoding and readable keys from `token_bytes`."""

    def token_bytes(self, token_id: int) -> bytes:
        """The bytes of one fitted token (id >= FIRST_TOKEN_ID)."""
        raise NotImplementedError

    def _bytes_of(self, token_id: int) -> bytes:
        if token_id >= FIRST_TOKEN_ID:
            return self.token_bytes(token_id)
        return {UNKNOWN_ID: "\ufffd".encode(), END_ID: b"\n"}.get(token_id, b"")

    def decode(self, ids: Iterable[int]) -> str:
        return b"".join(self._bytes_of(int(i)) for i in ids).decode("utf-8", errors="replace")

    def token_string(self, token_id: int) -> str:
        if token_id < FIRST_TOKEN_ID:
            return SPECIAL_TOKENS[token_id]
        # A token may be part of a multi-byte character: escape, so keys stay unique.
        return self._bytes_of(token_id).decode("utf-8", errors="backslashreplace")


class Gpt2Tokenizer(ByteTokenizer):
    """GPT-2 BPE restricted to the tokens of a corpus, renumbered compactly.

    `gpt2_ids[i]` is the GPT-2 id of compact id `FIRST_TOKEN_ID + i`.
    """

    kind = "gpt2"

    def __init__(self, gpt2_ids: Sequence[int], counts: Sequence[int] | None = None):
        self.gpt2_ids = [int(i) for i in gpt2_ids]
        if len(set(self.gpt2_ids)) != len(self.gpt2_ids):
            raise EncoderError("GPT-2 tokenizer: duplicate token ids in its vocabulary")
        if any(not 0 <= i < GPT2_VOCAB_SIZE for i in self.gpt2_ids):
            raise EncoderError("GPT-2 tokenizer: a token id is outside GPT-2's vocabulary")
        self.counts = [int(c) for c in counts] if counts is not None else None
        self._to_compact = np.full(GPT2_VOCAB_SIZE, UNKNOWN_ID, dtype=np.int64)
        self._to_compact[self.gpt2_ids] = np.arange(FIRST_TOKEN_ID, FIRST_TOKEN_ID + len(self.gpt2_ids))

    @classmethod
    def fit(cls, texts: Iterable[str], min_count: int = 1, batch_size: int = 1024) -> "Gpt2Tokenizer":
        """Keep the GPT-2 tokens occurring at least `min_count` times, most frequent first."""
        encoding = gpt2_encoding()
        counts: Counter = Counter()
        batch: list[str] = []
        for text in texts:
            batch.append(text)
            if len(batch) == batch_size:
                for ids in encoding.encode_ordinary_batch(batch):
                    counts.update(ids)
                batch = []
        for ids in encoding.encode_ordinary_batch(batch):
            counts.update(ids)
        kept = sorted((c, -i) for i, c in counts.items() if c >= min_count)[::-1]
        return cls([-i for _, i in kept], [c for c, _ in kept])

    @property
    def vocab_size(self) -> int:
        return FIRST_TOKEN_ID + len(self.gpt2_ids)

    def encode(self, text: str) -> list[int]:
        return self._to_compact[gpt2_encoding().encode_ordinary(text)].tolist()

    def encode_batch(self, texts: Sequence[str]) -> list[list[int]]:
        return [self._to_compact[ids].tolist() if ids else []
                for ids in gpt2_encoding().encode_ordinary_batch(list(texts))]

    def encode_batch_marking_unseen(self, texts: Sequence[str]) -> list[list[int]]:
        marked = []
        for ids in gpt2_encoding().encode_ordinary_batch(list(texts)):
            raw = np.asarray(ids, dtype=np.int64)
            compact = self._to_compact[raw]
            marked.append(np.where(compact == UNKNOWN_ID, -1 - raw, compact).tolist())
        return marked

    def token_bytes(self, token_id: int) -> bytes:
        return gpt2_encoding().decode_single_token_bytes(self.gpt2_ids[token_id - FIRST_TOKEN_ID])

    def to_json(self) -> str:
        return json.dumps({"kind": self.kind, "format_version": FORMAT_VERSION, "base": "gpt2",
                           "gpt2_ids": self.gpt2_ids, "counts": self.counts})


class CharTokenizer(Tokenizer):
    """Single characters seen when fitted, most frequent first (ties in code-point order)."""

    kind = "char"

    def __init__(self, chars: Sequence[str], counts: Sequence[int] | None = None):
        self.chars = list(chars)
        if any(len(c) != 1 for c in self.chars) or len(set(self.chars)) != len(self.chars):
            raise EncoderError("character tokenizer: its vocabulary must be distinct single characters")
        self.counts = [int(c) for c in counts] if counts is not None else None
        self._ids = {c: FIRST_TOKEN_ID + i for i, c in enumerate(self.chars)}

    @classmethod
    def fit(cls, texts: Iterable[str], min_count: int = 1) -> "CharTokenizer":
        counts = Counter()
        for text in texts:
            counts.update(text)
        kept = sorted((c for c in counts if counts[c] >= min_count), key=lambda c: (-counts[c], c))
        return cls(kept, [counts[c] for c in kept])

    @property
    def vocab_size(self) -> int:
        return FIRST_TOKEN_ID + len(self.chars)

    def encode(self, text: str) -> list[int]:
        ids = self._ids
        return [ids.get(c, UNKNOWN_ID) for c in text]

    def decode(self, ids: Iterable[int]) -> str:
        return "".join(self._char_of(int(i)) for i in ids)

    def _char_of(self, token_id: int) -> str:
        if token_id >= FIRST_TOKEN_ID:
            return self.chars[token_id - FIRST_TOKEN_ID]
        return {UNKNOWN_ID: "\ufffd", END_ID: "\n"}.get(token_id, "")

    def token_string(self, token_id: int) -> str:
        return SPECIAL_TOKENS[token_id] if token_id < FIRST_TOKEN_ID else self._char_of(token_id)

    def to_json(self) -> str:
        return json.dumps({"kind": self.kind, "format_version": FORMAT_VERSION,
                           "chars": self.chars, "counts": self.counts}, ensure_ascii=False)


class BpeTokenizer(ByteTokenizer):
    """A byte-level BPE learnt from the corpus: compact id FIRST_TOKEN_ID + r is BPE rank r.

    Ranks 0..255 are the bytes (so no text has an unknown token), then one
    rank per merge in learnt order. `use_tiktoken` is whether tiktoken
    reproduces the trainer's ids on the training corpus (checked by `fit`);
    if not, the trainer's own encoder is used.
    """

    kind = "bpe"

    def __init__(self, merges: Sequence[tuple[bytes, bytes]], counts: Sequence[int] | None = None,
                 use_tiktoken: bool = True):
        self.merges = tuple((bytes(left), bytes(right)) for left, right in merges)
        self.counts = [int(c) for c in counts] if counts is not None else None
        self.use_tiktoken = bool(use_tiktoken)
        self._encoder = cached_encoder(self.merges, self.use_tiktoken)
        self._token_bytes = [bytes([byte]) for byte in range(BYTES)] + [a + b for a, b in self.merges]

    @classmethod
    def fit(cls, texts: Iterable[str], min_count: int = 1,
            vocab_size: int = DEFAULT_BPE_VOCAB_SIZE) -> "BpeTokenizer":
        """Train `vocab_size` - 4 BPE tokens (the 256 bytes included) on `texts`; a pair
        is merged only if it occurs at least `min_count` times."""
        texts = list(texts)
        merges = train_byte_bpe(texts, vocab_size - FIRST_TOKEN_ID, min_count)
        tokenizer = cls(merges, use_tiktoken=tiktoken_agrees(merges, texts))
        counts = np.zeros(tokenizer.vocab_size, dtype=np.int64)
        for ids in tokenizer.encode_batch(texts):
            np.add.at(counts, ids, 1)
        tokenizer.counts = counts[FIRST_TOKEN_ID:].tolist()
        return tokenizer

    @property
    def vocab_size(self) -> int:
        return FIRST_TOKEN_ID + len(self._token_bytes)

    def encode(self, text: str) -> list[int]:
        return self.encode_batch([text])[0]

    def encode_batch(self, texts: Sequence[str]) -> list[list[int]]:
        return [[FIRST_TOKEN_ID + rank for rank in ranks]
                for ranks in self._encoder.encode_ordinary_batch(list(texts))]

    def token_bytes(self, token_id: int) -> bytes:
        return self._token_bytes[token_id - FIRST_TOKEN_ID]

    def to_json(self) -> str:
        return json.dumps({"kind": self.kind, "format_version": FORMAT_VERSION,
                           "merges": [[to_chars(a), to_chars(b)] for a, b in self.merges],
                           "counts": self.counts, "tiktoken": self.use_tiktoken},
                          ensure_ascii=False)


TOKENIZERS = {Gpt2Tokenizer.kind: Gpt2Tokenizer, CharTokenizer.kind: CharTokenizer,
              BpeTokenizer.kind: BpeTokenizer}


def fit_tokenizer(kind: str, texts: Iterable[str], min_count: int = 1,
                  vocab_size: int = DEFAULT_BPE_VOCAB_SIZE) -> Tokenizer:
    """A tokenizer of `kind` ("gpt2", "char" or "bpe") fitted on `texts`.

    `vocab_size` is the number of ids of a trained BPE (special ids included);
    the other kinds keep every token seen at least `min_count` times.
    """
    if kind not in TOKENIZERS:
        raise EncoderError(f"unknown tokenizer {kind!r}: use one of {', '.join(TOKENIZERS)}")
    if kind == BpeTokenizer.kind:
        return BpeTokenizer.fit(texts, min_count=min_count, vocab_size=vocab_size)
    return TOKENIZERS[kind].fit(texts, min_count=min_count)


def tokenizer_from_json(text: str) -> Tokenizer:
    """The inverse of `Tokenizer.to_json`; a clear error on anything else."""
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, TypeError) as error:
        raise EncoderError(f"tokenizer is not valid JSON ({error})") from None
    if not isinstance(data, dict) or data.get("kind") not in TOKENIZERS:
        kind = data.get("kind") if isinstance(data, dict) else None
        raise EncoderError(f"unknown tokenizer kind {kind!r} (known: {', '.join(TOKENIZERS)})")
    version = data.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise EncoderError(f"tokenizer format version {version!r}: this embedsearch reads up to "
                           f"{FORMAT_VERSION}; upgrade embedsearch")
    try:
        if data["kind"] == Gpt2Tokenizer.kind:
            return Gpt2Tokenizer(data["gpt2_ids"], data.get("counts"))
        if data["kind"] == BpeTokenizer.kind:
            return BpeTokenizer([(to_bytes(a), to_bytes(b)) for a, b in data["merges"]],
                                data.get("counts"), data["tiktoken"])
        return CharTokenizer(data["chars"], data.get("counts"))
    except (KeyError, TypeError, ValueError) as error:
        raise EncoderError(f"{data['kind']} tokenizer is incomplete or damaged ({error})") from None
