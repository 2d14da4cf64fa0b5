"""What a student learns from a teacher: the teacher's vectors of the training texts.

Running a pretrained teacher (all-MiniLM-L6-v2 reads ~100 short texts a
second on 2 cores) on every augmented text of every batch would take longer
than the training itself. So the teacher encodes a fixed pool once, before
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
from .pairs import PairConfig, PairSampler


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
                 documents: Sequence[str], *, views: int = 1,
                 pair_config: PairConfig = PairConfig(), seed: int = 0) -> TeacherPool:
    """The teacher's vectors of the chunks, `views` augmented views of each, and the documents."""
    sampler = PairSampler(document_chunks, config=pair_config, seed=seed)
    chunks = [chunk for chunks in document_chunks for chunk in chunks]
    texts = chunks + [sampler.view(chunk) for _ in range(views) for chunk in chunks] + list(documents)
    texts = list(dict.fromkeys(text for text in texts if text.strip()))  # each text once
    if len(texts) < 2:
        raise InputError("distillation needs at least two training texts")
    vectors, encodable = teacher.encode_batch(texts)
    texts = [text for text, keep in zip(texts, encodable) if keep]
    return TeacherPool(texts, np.ascontiguousarray(vectors[encodable], dtype=np.float32))
