"""Losses for training text encoders: contrastive (InfoNCE) and distillation from a teacher.

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


def similarity_distillation(student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """Mean squared difference between the student's and the teacher's cosine matrices.

    Inputs are (B, D_student) and (B, D_teacher) embeddings of the same B
    texts; the dimensions may differ, since only the (B, B) matrices of
    cosines between the texts of the batch are compared (relational
    distillation: the student learns which texts the teacher finds alike,
    not the teacher's coordinates). The diagonal (always 1) is left out.
    0 means the student ranks and scores every pair as the teacher does.
    """
    if student.dim() != 2 or teacher.dim() != 2 or len(student) != len(teacher) or len(student) < 2:
        raise ValueError(f"student {tuple(student.shape)} and teacher {tuple(teacher.shape)} must "
                         "be (B, D) batches of the same B >= 2 texts")
    student, teacher = F.normalize(student, dim=-1), F.normalize(teacher, dim=-1)
    off_diagonal = ~torch.eye(len(student), dtype=torch.bool, device=student.device)
    difference = (student @ student.T - teacher @ teacher.T)[off_diagonal]  # (B * (B - 1),)
    return difference.pow(2).mean()
