"""The encode stage: a Ray actor that loads the encoder once and encodes batches of rows.

Every actor pins its thread counts (torch intra-op threads and FAISS's
OpenMP threads) to the CPUs Ray gave it, so N actors on N cores never
oversubscribe them. It reloads the encoder from its spec and refuses one
whose fingerprint differs from the driver's (another file at the same path
on another node), since vectors of two encoders cannot share an index.
"""

from __future__ import annotations

import numpy as np

from ..encoders import load_encoder
from ..errors import EncoderError


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

    def __init__(self, spec: str, fingerprint: str, threads: int):
        pin_threads(threads)
        self.encoder = load_encoder(spec)
        if self.encoder.fingerprint() != fingerprint:
            raise EncoderError(f"the encoder {spec} on this Ray node differs from the driver's "
                               f"(fingerprint {self.encoder.fingerprint()} != {fingerprint})")

    def __call__(self, rows: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        is_item = rows["report"] == ""
        count = len(rows["report"])
        vectors = np.zeros((count, self.encoder.dim), dtype=np.float32)
        encodable = np.zeros(count, dtype=bool)
        if is_item.any():
            found, ok = self.encoder.encode_batch([str(text) for text in rows["text"][is_item]])
            vectors[is_item] = found
            encodable[is_item] = ok
        return {**rows, "vector": vectors, "encodable": encodable}
