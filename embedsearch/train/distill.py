"""What a student learns from a teacher: the teacher's vectors of the training texts.

Running a pretrained teacher on every augmented text of every batch would
take longer than the training itself. So the teacher encodes a fixed pool once, before
training (`teacher_pool`):

- every chunk of every training document (what the pairs are made from),
- `views` augmented views of each chunk (the same span crop and word dropout
  as the contrastive pairs, so the student learns the teacher's view of
  damaged text too),
- every whole training document (the unit users embed: a student trained
  on chunks only never learns what a long text should look like).

Each training step then draws a batch of pool texts (`TeacherPool.batch`,
seeded) and the distillation loss (`losses.similarity_distillation`) asks
the student's cosines between them to be the teacher's. The teacher is
needed only while training: the student is saved alone, in its own format.

>>> pool = TeacherPool(["a", "b", "c"], np.eye(3, dtype=np.float32))
>>> texts, rows = pool.batch(2, np.random.default_rng(0))
>>> len(texts), rows.shape
(2, (2, 3))
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..encoders.base import Encoder
from ..errors import InputError
from .pairs import PairSampler


@dataclass
class TeacherPool:
    """Texts and the teacher's unit vectors of them, row for row."""

    texts: list[str]
    vectors: np.ndarray  # (len(texts), teacher dim) float32

    def batch(self, size: int, random: np.random.Generator) -> tuple[list[str], np.ndarray]:
        """`size` distinct texts (all of them if fewer) and their teacher rows."""
        rows = random.choice(len(self.texts), min(size, len(self.texts)), replace=False)
        return [self.texts[row] for row in rows], self.vectors[rows]


def teacher_pool(teacher: Encoder, document_chunks: Sequence[Sequence[str]],
                 documents: Sequence[str], *, views: int = 1, seed: int = 0) -> TeacherPool:
    """The teacher's vectors of the chunks, `views` augmented views of each, and the documents."""
    sampler = PairSampler(document_chunks, seed=seed)
    chunks = [chunk for chunks in document_chunks for chunk in chunks]
    texts = chunks + [sampler.view(chunk) for _ in range(views) for chunk in chunks] + list(documents)
    texts = list(dict.fromkeys(text for text in texts if text.strip()))  # each text once
    if len(texts) < 2:
        raise InputError("distillation needs at least two training texts")
    vectors, encodable = teacher.encode_batch(texts)
    texts = [text for text, keep in zip(texts, encodable) if keep]
    return TeacherPool(texts, np.ascontiguousarray(vectors[encodable], dtype=np.float32))


def pool_agreement(student_vectors: np.ndarray, teacher_vectors: np.ndarray) -> float:
    """Pearson correlation of the student's and the teacher's cosines over every pair of a pool."""
    first, second = np.triu_indices(len(teacher_vectors), k=1)
    student = (student_vectors @ student_vectors.T)[first, second]
    teacher = (teacher_vectors @ teacher_vectors.T)[first, second]
    return float(np.corrcoef(student, teacher)[0, 1])


class Distillation:
    """The distillation side of a training run: pools, batches, loss and agreement.

    `tokenize(texts) -> (B, T) long tensor` pads texts as the trainer does;
    `weight` multiplies the loss before it is added to InfoNCE. The student's
    cosines compared with the teacher's are those of its vectors mixed at
    lexical share `share` (`student_vectors`): above 0 the transformer learns
    what the lexical channel misses instead of repeating it. The agreement
    (`agreement`) is measured on the validation documents' chunks and texts,
    which the student never trains on.
    """

    def __init__(self, teacher: Encoder, train_chunks, train_texts, validation_chunks,
                 validation_texts, *, tokenize, batch_size: int, weight: float, share: float,
                 seed: int):
        self.pool = teacher_pool(teacher, train_chunks, train_texts, seed=seed)
        has_validation = sum(len(chunks) for chunks in validation_chunks) + len(validation_texts) >= 3
        self.check = (teacher_pool(teacher, validation_chunks, validation_texts, views=0, seed=seed)
                      if has_validation else None)
        self.tokenize, self.batch_size, self.weight, self.seed = tokenize, batch_size, weight, seed
        self.share = share

    def batches(self, epoch: int, count: int) -> list:
        """`count` (token ids, teacher rows) batches, seeded by the epoch (resumes repeat them)."""
        import torch

        random = np.random.default_rng(self.seed * 100_019 + epoch)
        batches = []
        for _ in range(count):
            texts, rows = self.pool.batch(self.batch_size, random)
            batches.append((self.tokenize(texts), torch.from_numpy(rows)))
        return batches

    def student_vectors(self, model, token_ids):
        """The student's rows whose cosines are compared with the teacher's: mixed at `share`,
        or the transformer's alone (share 0, or no lexical channel)."""
        if not self.share or not model.lexical_dim:
            return model.semantic(token_ids)
        return model.mixed(token_ids, self.share)

    def loss(self, model, batch):
        """Weighted `similarity_distillation` of the student's vectors of a (token ids, teacher rows) batch."""
        from .losses import similarity_distillation

        token_ids, teacher_rows = batch
        return self.weight * similarity_distillation(self.student_vectors(model, token_ids),
                                                     teacher_rows)

    def agreement(self, model) -> float | None:
        """Agreement of the student's vectors with the teacher's on the validation texts."""
        import torch

        if self.check is None:
            return None
        with torch.no_grad():
            vectors = torch.cat([self.student_vectors(model, self.tokenize(self.check.texts[start:start + 256]))
                                 for start in range(0, len(self.check.texts), 256)])
        return pool_agreement(vectors.numpy(), self.check.vectors)

    def share_score(self, mixed: np.ndarray) -> dict:
        """{score: agreement with the teacher} of mixed rows of the validation texts
        (`lexical.choose_share`)."""
        return {"score": round(pool_agreement(mixed, self.check.vectors), 4)}
