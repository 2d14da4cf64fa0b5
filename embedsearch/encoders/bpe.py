"""Byte-level BPE trained on a corpus (Hugging Face `tokenizers`), encoded through tiktoken.

Training (`train_byte_bpe`) runs the `tokenizers` BpeTrainer on text split
by GPT-2's pre-tokenisation pattern (its `ByteLevel` pre-tokenizer: words
with their leading space, runs of digits, of punctuation, of whitespace),
over an alphabet of all 256 bytes, so any text can be encoded and nothing is
ever unknown. The result is a list of merges, in the order they were learnt.

A merge list is also a tiktoken vocabulary: the 256 single bytes get ranks
0..255 and the token a merge makes gets the next rank, so tiktoken, which
repeatedly joins the adjacent pair whose joined bytes have the lowest rank,
replays the merges in their learnt order (`bpe_encoding`). tiktoken is fast
(Rust, no Python per token), hence the run-time path. The two agree as long
as no token can be reached by a pair the trainer never merged; `fit` checks
this on the training corpus (`tiktoken_agrees`) and the tokenizer falls back
to the trainer's own encoder when it does not hold.

Bytes are written the `ByteLevel` way, one printable character per byte
(`BYTE_TO_CHAR`: " " is "Ġ"), which is how the merges are saved, so they
stay readable JSON.

>>> merges = train_byte_bpe(["low lower lowest"], 256 + 2)
>>> merges
[(b'l', b'o'), (b'lo', b'w')]
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Iterable, Sequence

from ..errors import EncoderError

BYTES = 256
# GPT-2's pre-tokenisation (tiktoken's r50k pattern), the same split as tokenizers' ByteLevel.
GPT2_PATTERN = (r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}++| ?\p{N}++| ?[^\s\p{L}\p{N}]++"""
                      r"""|\s++$|\s+(?!\S)|\s""")


def _byte_to_char() -> dict[int, str]:
    """GPT-2's printable stand-in for every byte (`bytes_to_unicode`)."""
    printable = (list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
                 + list(range(ord("®"), ord("ÿ") + 1)))
    chars, extra = {}, 0
    for byte in range(BYTES):
        if byte in printable:
            chars[byte] = chr(byte)
        else:
            chars[byte] = chr(BYTES + extra)
            extra += 1
    return chars


BYTE_TO_CHAR = _byte_to_char()
CHAR_TO_BYTE = {char: byte for byte, char in BYTE_TO_CHAR.items()}


def to_chars(data: bytes) -> str:
    return "".join(BYTE_TO_CHAR[byte] for byte in data)


def to_bytes(text: str) -> bytes:
    try:
        return bytes(CHAR_TO_BYTE[char] for char in text)
    except KeyError as error:
        raise EncoderError(f"BPE merge {text!r} holds {error.args[0]!r}, which stands for no byte") \
            from None


def _hf_tokenizer(merges: Sequence[tuple[bytes, bytes]] = ()):
    """A `tokenizers` byte-level BPE with the given merges (none: untrained)."""
    from tokenizers import Tokenizer, models, pre_tokenizers

    vocab = {BYTE_TO_CHAR[byte]: byte for byte in range(BYTES)}
    for rank, (left, right) in enumerate(merges, start=BYTES):
        vocab[to_chars(left + right)] = rank
    model = models.BPE(vocab=vocab, merges=[(to_chars(a), to_chars(b)) for a, b in merges])
    tokenizer = Tokenizer(model)
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    return tokenizer


def train_byte_bpe(texts: Iterable[str], vocab_size: int,
                   min_count: int = 1) -> list[tuple[bytes, bytes]]:
    """The merges (in learnt order) of a byte-level BPE of `vocab_size` tokens (bytes included).

    Each step merges the most frequent adjacent pair of the corpus' pre-tokens;
    ties go to the pair whose tokens came first (bytes in the ByteLevel order,
    then earlier merges). Fewer merges come out if the corpus runs out of
    pairs occurring at least `min_count` times.
    """
    from tokenizers import pre_tokenizers, trainers

    if vocab_size < BYTES:
        raise EncoderError(f"a byte-level BPE needs a vocabulary of at least {BYTES} tokens "
                           f"(the bytes), got {vocab_size}")
    tokenizer = _hf_tokenizer()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=min_count,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False, special_tokens=[])
    tokenizer.train_from_iterator(texts, trainer=trainer)
    merges = json.loads(tokenizer.to_str())["model"]["merges"]
    return [(to_bytes(left), to_bytes(right)) for left, right in merges]


def merge_ranks(merges: Sequence[tuple[bytes, bytes]]) -> dict[bytes, int]:
    """tiktoken's mergeable ranks: bytes 0..255, then each merge's token in learnt order."""
    ranks = {bytes([byte]): byte for byte in range(BYTES)}
    for left, right in merges:
        token = left + right
        if token in ranks:
            raise EncoderError(f"BPE merges make the token {token!r} twice")
        ranks[token] = len(ranks)
    return ranks


def bpe_encoding(merges: Sequence[tuple[bytes, bytes]], name: str = "bpe"):
    """A tiktoken Encoding that replays `merges` (ids are ranks: bytes 0..255, then merges)."""
    import tiktoken

    return tiktoken.Encoding(name=name, pat_str=GPT2_PATTERN,
                             mergeable_ranks=merge_ranks(merges), special_tokens={})


class TrainerEncoder:
    """The `tokenizers` library's own encoder for the merges: the reference, and the fallback."""

    def __init__(self, merges: Sequence[tuple[bytes, bytes]]):
        self.tokenizer = _hf_tokenizer(merges)

    def encode_ordinary_batch(self, texts: Sequence[str]) -> list[list[int]]:
        return [encoding.ids for encoding in
                self.tokenizer.encode_batch(list(texts), add_special_tokens=False)]


def tiktoken_agrees(merges: Sequence[tuple[bytes, bytes]], texts: Sequence[str]) -> bool:
    """Whether tiktoken gives exactly the trainer's ids on every one of `texts`."""
    return (bpe_encoding(merges).encode_ordinary_batch(list(texts))
            == TrainerEncoder(merges).encode_ordinary_batch(texts))


@lru_cache(maxsize=8)
def cached_encoder(merges: tuple[tuple[bytes, bytes], ...], use_tiktoken: bool):
    """One encoder per merge list (building tiktoken's tables costs milliseconds)."""
    return bpe_encoding(merges) if use_tiktoken else TrainerEncoder(merges)
