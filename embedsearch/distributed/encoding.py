"""The encode stage: a Ray actor that loads the encoder once and encodes batches of rows.

Every actor pins its thread counts (torch intra-op threads and FAISS's
OpenMP threads) to the CPUs Ray gave it, so N actors on N cores never
oversubscribe them. It reloads the encoder from its spec and refuses one
whose fingerprint differs from the driver's (another file at the same path
on another node), since vectors of two encoders cannot share an index.
Given the items file of the index being updated (`known`), it leaves
unencoded the rows whose content hash that file holds: an add re-reads the
whole corpus, and most of it is usually unchanged. On a node that cannot
see that file (no shared filesystem) it encodes every row, and the driver
drops the unchanged ones as before.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..encoders import load_encoder
from ..errors import EncoderError
from ..index.items import ItemsReader, content_hash
from .reading import items_of


def pin_threads(threads: int) -> None:
    import faiss

    faiss.omp_set_num_threads(threads)
    try:
        import torch
    except ImportError:
        return
    torch.set_num_threads(threads)


class EncodeBatches:
    """Ray Data callable class: rows with `text` in; the same rows with `vector`, `encodable` out."""

    def __init__(self, spec: str, fingerprint: str, threads: int, known: str | None = None):
        self.known = ItemsReader(Path(known)) if known and Path(known).is_file() else None
        self.encoder = load_encoder(spec)
        # After the load: a torch encoder claims every core when it is built (use_all_cores),
        # which here would put two threads of each actor on one core.
        pin_threads(threads)
        if self.encoder.fingerprint() != fingerprint:
            raise EncoderError(f"the encoder {spec} on this Ray node differs from the driver's "
                               f"(fingerprint {self.encoder.fingerprint()} != {fingerprint})")

    def __call__(self, rows: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        is_item = rows["report"] == ""
        if self.known is not None:
            is_item &= self._changed(rows)
        count = len(rows["report"])
        vectors = np.zeros((count, self.encoder.dim), dtype=np.float32)
        encodable = np.zeros(count, dtype=bool)
        if is_item.any():
            found, ok = self.encoder.encode_batch([str(text) for text in rows["text"][is_item]])
            vectors[is_item] = found
            encodable[is_item] = ok
        return {**rows, "vector": vectors, "encodable": encodable}

    def _changed(self, rows: dict[str, np.ndarray]) -> np.ndarray:
        """Per row: False where the known items file holds the row's key with the same hash."""
        items = items_of(rows, np.arange(len(rows["key"])))
        stored = self.known.hashes_for_keys([item.key for item in items])
        return np.array([stored.get(item.key) != content_hash(item.text, item.metadata)
                         for item in items], dtype=bool)
