"""What the attention trainer's loop eats: batches of token ids of positive pairs, and their loss.

A pair batch is a (2B, T) long tensor: B anchors, then their B positives
(`pairs.PairSampler` draws the texts), padded with PAD_ID. `PairLoss` is
InfoNCE with in-batch negatives on the model's transformer channel, plus the
distillation loss when a batch carries the teacher's rows.

>>> padded_batch([[5, 6, 7], []], max_length=2).tolist()
[[5, 6], [1, 0]]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from ..encoders.tokenizers import PAD_ID, UNKNOWN_ID, Tokenizer
from .distill import Distillation
from .pairs import PairSampler


def padded_batch(token_lists: Sequence[Sequence[int]], max_length: int):
    """(len, T) long tensor of the first `max_length` ids of each list, PAD_ID-padded to the longest.

    An empty list becomes one <unk>: a row of padding only would attend to nothing.
    """
    import torch

    lists = [list(ids[:max_length]) or [UNKNOWN_ID] for ids in token_lists]
    batch = torch.full((len(lists), max(len(ids) for ids in lists)), PAD_ID, dtype=torch.long)
    for row, ids in enumerate(lists):
        batch[row, :len(ids)] = torch.as_tensor(ids)
    return batch


@dataclass
class PairBatches:
    """Tokenizes the pairs a sampler draws into batches for `PairLoss`."""

    tokenizer: Tokenizer
    max_length: int  # tokens the model reads of a text
    batch_size: int  # pairs per batch

    def tokenized(self, texts: Sequence[str]):
        """(len(texts), T) padded token ids, as the model reads them."""
        return padded_batch(self.tokenizer.encode_batch(list(texts)), self.max_length)

    def draw(self, sampler: PairSampler, count: int, size: int | None = None) -> list:
        """`count` pair batches of `size` pairs (default `batch_size`) from `sampler`."""
        batches = []
        for _ in range(count):
            anchors, positives = sampler.batch(size or self.batch_size)
            batches.append(self.tokenized(anchors + positives))
        return batches

    def validation(self, document_chunks: Sequence[Sequence[str]], count: int, seed: int):
        """`count` fixed batches of held-out pairs, each from distinct documents (else a negative
        would be a positive); None with fewer than two documents."""
        size = min(self.batch_size, sum(1 for chunks in document_chunks if chunks))
        if size < 2:
            return None
        return self.draw(PairSampler(document_chunks, seed=seed), count, size)


class PairLoss:
    """`loss_of(model, batch)` for `run_epochs`: symmetric InfoNCE over a (2B, T) pair batch,
    plus `distillation`'s loss when the batch is (pairs, teacher batch); counts trained tokens."""

    def __init__(self, temperature: float, distillation: Distillation | None = None):
        self.temperature, self.distillation = temperature, distillation
        self.trained_tokens = 0

    def __call__(self, model, batch):
        from .losses import info_nce  # torch: imported when training starts, not with the CLI

        pairs, distilled = batch if isinstance(batch, tuple) else (batch, None)
        if model.training:
            self.trained_tokens += int((pairs != PAD_ID).sum())
        vectors = model.semantic(pairs)  # (2B, C)
        half = len(pairs) // 2
        loss = info_nce(vectors[:half], vectors[half:], self.temperature, symmetric=True)
        if distilled is not None:
            loss = loss + self.distillation.loss(model, distilled)
        return loss, half
