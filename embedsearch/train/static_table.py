"""Fitting a static token table to its teacher on real texts (Tokenlearn's idea, Model2Vec's authors).

A table distilled from each token alone (`encoders.static_tokens.distill_table`)
never sees a token in company: a text's sum of rows drifts from the vector the
teacher gives the whole text. Here the rows are moved, by Adam on the cosine
loss, so that the normalised sum of a text's rows comes close to the teacher's
unit vector of that text; the rows' lengths become the tokens' weights. The
table starts from the distilled rows (SIF-weighted, before PCA), so a token
no training text holds keeps its distilled row; special tokens stay zero.

>>> import numpy as np
>>> start = np.eye(4, 3, dtype=np.float32)
>>> targets = np.array([[0.0, 1.0, 0.0]], dtype=np.float32)
>>> table = fit_table(start, [[0, 1]], targets, special_ids=[3], epochs=30, learning_rate=0.05)
>>> bool(table[1, 1] > table[0, 0])  # token 1 (the target's direction) now outweighs token 0
True
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ..errors import InputError
from ..progress import progress_bar

BATCH_TEXTS = 256


def fit_table(table: np.ndarray, token_ids: Sequence[Sequence[int]], targets: np.ndarray, *,
              special_ids: Sequence[int], epochs: int = 4, learning_rate: float = 2e-3,
              seed: int = 0, show_progress: bool = False) -> np.ndarray:
    """The (vocabulary, dim) float32 table after `epochs` passes over the texts.

    `token_ids[i]` are text i's token ids (repeats count), `targets[i]` the
    teacher's vector of text i, of the table's width.
    """
    import torch

    if len(token_ids) != len(targets) or targets.shape[1] != table.shape[1]:
        raise InputError(f"{len(token_ids)} texts and {targets.shape} targets do not fit a table "
                         f"of width {table.shape[1]}")
    generator = np.random.default_rng(seed)
    torch.manual_seed(seed)
    bag = torch.nn.EmbeddingBag(table.shape[0], table.shape[1], mode="sum")
    bag.weight.data = torch.tensor(np.asarray(table, dtype=np.float32))
    special = torch.as_tensor(list(special_ids), dtype=torch.long)
    wanted = torch.nn.functional.normalize(torch.as_tensor(targets, dtype=torch.float32), dim=1)
    optimizer = torch.optim.Adam(bag.parameters(), lr=learning_rate)
    texts = [row for row, ids in enumerate(token_ids) if len(ids)]
    with progress_bar(total=epochs * len(texts), unit="texts", desc="fitting the table",
                      disable=not show_progress) as bar:
        for _ in range(epochs):
            order = generator.permutation(texts)
            for start in range(0, len(order), BATCH_TEXTS):
                rows = order[start:start + BATCH_TEXTS]
                flat = torch.as_tensor([i for row in rows for i in token_ids[row]], dtype=torch.long)
                offsets = torch.as_tensor(np.cumsum([0] + [len(token_ids[row]) for row in rows[:-1]]))
                sums = torch.nn.functional.normalize(bag(flat, offsets), dim=1)
                loss = (1 - (sums * wanted[torch.as_tensor(rows)]).sum(dim=1)).mean()
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                with torch.no_grad():
                    bag.weight[special] = 0.0
                bar.update(len(rows))
    return bag.weight.detach().numpy().copy()
