"""Contrastive losses for training text encoders.

>>> import torch
>>> anchors = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
>>> round(info_nce(anchors, anchors, temperature=1.0).item(), 4)   # log(1 + e^-1)
0.3133
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def info_nce(anchors: torch.Tensor, positives: torch.Tensor, temperature: float = 0.05, *,
             symmetric: bool = False) -> torch.Tensor:
    """InfoNCE with in-batch negatives (sentence-transformers' MultipleNegativesRankingLoss).

    Inputs are two (B, D) batches of embeddings of B pairs: `positives[i]` is
    the text that belongs with `anchors[i]` (another chunk of the same
    document, another view of the same text), and every other row of
    `positives` serves as a negative for `anchors[i]`. Rows are compared by
    cosine similarity (they are L2-normalised here, so any scale is fine).

    The temperature divides the cosines before the softmax over the batch:
    cosines lie in [-1, 1], so without it the softmax could never be sharp;
    0.05 (a scale of 20, sentence-transformers' default) makes the loss care
    mostly about the hardest negatives, larger values spread the gradient over
    all of them.

    The loss is the mean cross-entropy of picking row i of `positives` for
    anchor i; with `symmetric`, the mean of that and the same with the roles
    of anchors and positives swapped. With B pairs a random encoder scores
    about log(B).
    """
    if anchors.shape != positives.shape or anchors.dim() != 2:
        raise ValueError(f"anchors {tuple(anchors.shape)} and positives "
                         f"{tuple(positives.shape)} must both be (B, D)")
    if temperature <= 0:
        raise ValueError("the temperature must be positive")
    logits = F.normalize(anchors, dim=-1) @ F.normalize(positives, dim=-1).T / temperature  # (B, B)
    targets = torch.arange(len(anchors), device=anchors.device)                             # (B,)
    loss = F.cross_entropy(logits, targets)
    if symmetric:
        loss = (loss + F.cross_entropy(logits.T, targets)) / 2
    return loss
