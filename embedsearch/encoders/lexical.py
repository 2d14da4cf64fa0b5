"""The attention encoder's lexical channel: a hashed bag of a text's tokens, weighted as TF-IDF.

A 128-d transformer vector cannot keep apart the thousands of rare names and
terms that tell two documents apart; this channel, beside it, keeps them.
Each token class (tokens equal once stripped and lower-cased) owns
`LEXICAL_HASHES` fixed +-1 entries among `lexical_dim` dimensions (feature
hashing; the corpus' weightiest classes each hold a reserved dimension
alone), weighted by its inverse document frequency and by 1 + ln n when
counted n times; the sum over a text, L2-normalised, is a random projection
of its TF-IDF bag. The encoder's vector is `[sqrt(1 - s) * semantic,
sqrt(s) * lexical]`, so its cosine is the s-weighted mix of the two channels'
cosines. The channel has no trained weights. Why each part, with figures:
docs/encoders.md ("A lexical channel") and docs/encoders-results.md.

This module owns the channel from config to share:
- `LexicalFields`: its config fields (`AttentionConfig` inherits them, so
  config.json stays one flat object);
- `LexicalChannel`: its buffers and its bag, mixed into the torch model;
- `fit_lexical_channel`: buckets and IDF weights from the training corpus;
- `channel_vectors`, `choose_share`, `best_share`: the share that scores best
  on validation texts, by a score the trainer chooses.

Importing it does not import torch.

>>> semantic, lexical = np.array([[1.0, 0.0]]), np.array([[0.0, 1.0]])
>>> mix_channels(semantic, lexical, 0.25).round(3).tolist()
[[0.866, 0.0, 0.0, 0.5]]
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, ClassVar, Sequence

import numpy as np

from ..errors import EncoderError
from ..vectors import normalize_rows
from .settings import setting
from .tokenizers import FIRST_TOKEN_ID

LEXICAL_HASHES = 8  # nonzero entries per token class
LEXICAL_TFS = ("sublinear", "raw")  # how a token counted n times weighs: 1 + ln n, or n
LEXICAL_MAX_TOKENS = 8192  # tokens of a text the channel counts (the transformer reads max_length)
HASH_PRIME = 2_147_483_647  # 2**31 - 1: a GPT-2 id times a coefficient below it fits in int64
LEXICAL_SHARES = tuple(tenths / 10 for tenths in range(11))  # the shares `choose_share` tries
DEFAULT_LEXICAL_SHARE = 0.8  # when there is nothing to choose on


@dataclass
class LexicalFields:
    """The lexical channel's fields of a model config (`AttentionConfig` inherits them)."""

    lexical_dim: int = setting(2048, "Width of the hashed bag-of-tokens channel beside the "
                                     f"transformer (0: none, else at least {LEXICAL_HASHES}).",
                               minimum=0)
    lexical_share: float = 0.0  # share of the cosine from the lexical channel (the trainer sets it)
    # Hash the raw GPT-2 id of a token unseen in training (else drop it): the names and terms
    # of a new domain are exactly the tokens training never saw.
    lexical_unseen: bool = True
    # How a token counted n times in a text weighs: 'sublinear', 1 + ln n (as TF-IDF's
    # sublinear_tf), or 'raw', n.
    lexical_tf: str = "sublinear"
    lexical_reserved: float = setting(0.25, "Share of the lexical channel's dimensions that each "
                                           "hold one of the training corpus' weightiest tokens "
                                           "alone (the other tokens are hashed into the rest).",
                                      minimum=0.0, maximum=0.9)

    # Directories written before a key existed lack it; these values give what they did
    # (no channel, unseen tokens dropped, raw counts, every token hashed).
    absent_in_old_directories: ClassVar[dict] = {"lexical_dim": 0, "lexical_share": 0.0,
                                                 "lexical_unseen": False, "lexical_tf": "raw",
                                                 "lexical_reserved": 0.0}
    # Keys whose value here leaves them out of the fingerprint, so that an old directory keeps
    # the fingerprint its indexes were built with.
    absent_from_old_fingerprints: ClassVar[dict] = {"lexical_unseen": False, "lexical_tf": "raw",
                                                    "lexical_reserved": 0.0}

    def check_lexical_fields(self) -> None:
        """`EncoderError` naming the first lexical field out of its range."""
        owner = type(self).__name__
        if 0 < self.lexical_dim < LEXICAL_HASHES:
            raise EncoderError(f"{owner}.lexical_dim ({self.lexical_dim}) must be 0 or "
                               f"at least {LEXICAL_HASHES}")
        if not 0 <= self.lexical_share <= 1:
            raise EncoderError(f"{owner}.lexical_share ({self.lexical_share}) must be in [0, 1]")
        if self.lexical_dim and self.reserved_dims() > self.lexical_dim - LEXICAL_HASHES:
            raise EncoderError(f"{owner}.lexical_reserved ({self.lexical_reserved}) leaves "
                               f"fewer than {LEXICAL_HASHES} hashed dimensions of {self.lexical_dim}")
        if self.lexical_tf not in LEXICAL_TFS:
            raise EncoderError(f"{owner}.lexical_tf ({self.lexical_tf!r}) must be "
                               f"{' or '.join(LEXICAL_TFS)}")

    def reserved_dims(self) -> int:
        """The lexical dimensions [0, reserved_dims) that each hold one token class alone."""
        return int(self.lexical_reserved * self.lexical_dim)


class LexicalChannel:
    """The channel's buffers and bag, as methods of the torch model that mixes it in.

    `AttentionModel(nn.Module, LexicalChannel)` calls `init_lexical_channel`;
    the buffers are the model's own (`lexical_buckets`, ...), so they are
    saved in its state dict and covered by its fingerprint. Token ids are
    PAD_ID-padded; a negative id is a token unseen in training, `-1 - its
    GPT-2 id`, hashed by `unseen_hashes`.
    """

    def init_lexical_channel(self, config: LexicalFields, vocab_size: int) -> None:
        """Register the buffers: buckets and signs drawn from a generator seeded by lexical_dim,
        weight 1 for every real token until `fit_lexical_channel` sets IDF weights."""
        import torch

        self.lexical_dim = config.lexical_dim
        self.lexical_share = config.lexical_share
        self.sublinear, self.reserved = False, 0
        if not config.lexical_dim:
            return
        generator = torch.Generator().manual_seed(config.lexical_dim)
        shape = (vocab_size, LEXICAL_HASHES)
        # Tokens are hashed into [reserved, lexical_dim); `fit_lexical_channel` gives each of the
        # corpus' weightiest token classes one of the reserved dimensions alone.
        self.reserved = config.reserved_dims()
        self.register_buffer("lexical_buckets",                                # (V, H)
                             torch.randint(self.reserved, config.lexical_dim, shape,
                                           generator=generator))
        signs = torch.randint(0, 2, shape, generator=generator)
        self.register_buffer("lexical_signs", signs.float() * 2 - 1)          # (V, H) of +-1
        weights = torch.ones(vocab_size)
        weights[:FIRST_TOKEN_ID] = 0.0  # padding, unknown and markers say nothing
        self.register_buffer("lexical_weights", weights)                      # (V,)
        self.sublinear = config.lexical_tf == "sublinear"
        if self.sublinear:
            # The class each token is counted in: its own id until `fit_lexical_channel`.
            self.register_buffer("lexical_classes", torch.arange(vocab_size))  # (V,)
        # (a, b) of the universal hashes (a * id + b) mod p of unseen tokens: bucket, then
        # sign, for each of the H entries. Derived from lexical_dim, never saved.
        coefficients = torch.randint(1, HASH_PRIME, (4, LEXICAL_HASHES), generator=generator)
        self.register_buffer("unseen_coefficients", coefficients, persistent=False)  # (4, H)

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
        import torch

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
        import torch
        import torch.nn.functional as F

        batch, length = token_ids.shape
        seen = token_ids.clamp(min=0)                                     # (B, T) unseen: <pad>
        buckets = self.lexical_buckets[seen]                              # (B, T, H)
        signs = self.lexical_signs[seen]                                  # (B, T, H)
        weights = self.lexical_weights[seen]                              # (B, T)
        unseen = token_ids < 0                                            # (B, T)
        if unseen.any():
            buckets[unseen], signs[unseen] = self.unseen_hashes(-1 - token_ids[unseen])
            weights[unseen] = 1.0  # the IDF weight of a token in no training document
        if self.sublinear:
            weights = weights * self.sublinear_factors(token_ids)           # (B, T) float64
        buckets = buckets.reshape(batch, length * LEXICAL_HASHES)          # (B, T*H)
        values = (signs * weights.unsqueeze(-1)).reshape(batch, -1)       # (B, T*H)
        # Summed in float64: the order of a long text's thousands of additions then does not
        # show in its float32 row, whatever batch the text is encoded in.
        bag = torch.zeros(batch, self.lexical_dim, dtype=torch.float64, device=values.device)
        bag.scatter_add_(1, buckets, values.double())
        return F.normalize(bag, dim=-1).to(signs.dtype)                   # (B, L) unit rows


def fit_lexical_channel(model: LexicalChannel, tokenizer, documents: Sequence[str]) -> None:
    """Set the channel's buffers from `documents`: case-folded token classes weighted by IDF.

    Tokens whose strings are the same once stripped and lower-cased (" Police",
    "police", " POLICE") form one class: one set of buckets and signs, one
    count for sublinear tf, so a bag counts the word whatever its case. Each
    class is weighted by its smoothed inverse document frequency over
    `documents`, ln((1 + n) / (1 + df)) + 1 as scikit-learn's TF-IDF computes
    it, divided by that of a class in no document, the weight an unseen token
    gets.

    Hashing thousands of classes into a few thousand dimensions adds noise to
    every cosine (two classes sharing a bucket count as a match). The classes
    that carry most of the documents' weight (`weightiest_classes`) therefore
    get one of the model's reserved dimensions each, all their entries in it,
    so that between them a bag is exact; the others stay hashed into the rest.
    """
    import torch

    first_of_key: dict[str, int] = {}
    first = np.array([first_of_key.setdefault(token.strip().lower(), token_id)  # (V - 4,)
                      for token_id, token in enumerate(tokenizer.token_strings(),
                                                       start=FIRST_TOKEN_ID)], dtype=np.int64)
    document_classes = []  # per document: (its classes, their counts); kept for reserved dims only
    frequency = np.zeros(tokenizer.vocab_size)  # documents per class
    for ids in tokenizer.encode_batch(list(documents)):
        ids = np.asarray(ids, dtype=np.int64)
        classes, counts = np.unique(first[ids[ids >= FIRST_TOKEN_ID] - FIRST_TOKEN_ID],
                                    return_counts=True)
        frequency[classes] += 1
        if model.reserved:
            document_classes.append((classes, counts))
    n = len(documents)
    idf = (np.log((1 + n) / (1 + frequency)) + 1) / (math.log(1 + n) + 1)  # (V,) <= 1
    first = torch.from_numpy(first)
    with torch.no_grad():
        if model.reserved:
            weightiest = weightiest_classes(document_classes, idf, model.reserved, model.sublinear)
            slots = torch.arange(len(weightiest)).unsqueeze(1)               # (K, 1)
            model.lexical_buckets[weightiest] = slots.expand(-1, LEXICAL_HASHES)
            # H entries in one dimension: the row's norm is sqrt(H), a hashed row's on average.
            model.lexical_signs[weightiest] = 1 / math.sqrt(LEXICAL_HASHES)
        model.lexical_buckets[FIRST_TOKEN_ID:] = model.lexical_buckets[first]
        model.lexical_signs[FIRST_TOKEN_ID:] = model.lexical_signs[first]
        model.lexical_weights[FIRST_TOKEN_ID:] = torch.from_numpy(idf).float()[first]
        if model.sublinear:
            model.lexical_classes[FIRST_TOKEN_ID:] = first


def weightiest_classes(document_classes, idf: np.ndarray, count: int, sublinear: bool):
    """The `count` classes (a long tensor) with the largest summed share of the documents' squared norms.

    `document_classes` holds, per document, its classes and their counts; a
    class's share of a document is its squared TF-IDF weight over the sum of
    them all. Classes in no document are left out.
    """
    import torch

    weight = np.zeros(len(idf))  # (V,)
    for classes, counts in document_classes:
        squares = ((1 + np.log(counts) if sublinear else counts) * idf[classes]) ** 2
        weight[classes] += squares / max(squares.sum(), 1e-12)
    weight = torch.from_numpy(weight)
    weightiest = torch.argsort(weight, descending=True)[:count]
    return weightiest[weight[weightiest] > 0]


def channel_vectors(encoder, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """(semantic, lexical) unit rows of `texts` by an attention encoder: the transformer runs once
    for every share tried."""
    import torch

    from .neural import encode_token_lists

    model, width = encoder.model.eval(), encoder.config.dim
    both, _ = encode_token_lists(
        encoder.token_ids(texts),
        lambda ids, mask: torch.cat([model.semantic(ids), model.lexical(ids)], dim=-1),
        encoder.dim)
    semantic, lexical = (normalize_rows(part) for part in np.split(both, [width], axis=1))
    return semantic, lexical


def mix_channels(semantic: np.ndarray, lexical: np.ndarray, share: float) -> np.ndarray:
    """The encoder's rows at lexical share `share`, from each channel's unit rows."""
    return np.hstack([math.sqrt(1 - share) * semantic, math.sqrt(share) * lexical])


def choose_share(semantic: np.ndarray, lexical: np.ndarray, score: Callable[[np.ndarray], dict],
                 shares: Sequence[float] = LEXICAL_SHARES) -> list[dict]:
    """One row {share, **score(mixed rows)} per share; `score` returns a dict with a "score" key
    (higher is better) and any figures worth keeping beside it."""
    return [{"share": share, **score(mix_channels(semantic, lexical, share))} for share in shares]


def best_share(rows: Sequence[dict]) -> float:
    """The share of the best-scoring row of `choose_share`; the default if nothing was scored."""
    return max(rows, key=lambda row: row["score"])["share"] if rows else DEFAULT_LEXICAL_SHARE
