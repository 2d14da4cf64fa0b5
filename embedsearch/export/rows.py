"""The items of an index in id order, in batches, with their vectors: what every exporter writes."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from ..progress import progress_bar

BATCH_SIZE = 1024


@dataclass
class ExportReport:
    """What an export wrote, for the end-of-command line."""

    target: str
    items: int
    dim: int

    def lines(self) -> list[str]:
        return [f"exported {self.items:,} items of dimension {self.dim} -> {self.target}"]


def item_batches(index, batch_size: int = BATCH_SIZE,
                 show_progress: bool = True) -> Iterator[tuple[list[dict], np.ndarray]]:
    """(rows, their unit float32 vectors) in id order; a progress bar counts the items."""
    with progress_bar(total=index.count, unit="items", desc="exporting",
                      disable=not show_progress) as bar:
        for rows in index.items.iter_rows(batch_size):
            yield rows, index.vectors_of([row["id"] for row in rows])
            bar.update(len(rows))


def payload(row: dict) -> dict:
    """An item's fields as exported beside its vector (everything but id and content hash)."""
    return {"key": row["key"], "text": row["text"], "source": row["source"],
            "position": row["position"], "metadata": row["metadata"] or {}}


def as_path(path) -> Path:
    from ..errors import InputError

    if path is None:
        raise InputError("this export writes files: give the path to write")
    return Path(path)
