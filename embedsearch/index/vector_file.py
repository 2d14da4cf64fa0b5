"""The raw unit vectors of an index on disk, row == item id, float32 or float16.

They are the source of truth every FAISS index type is built from, which is
what lets `reindex` change the type without re-encoding, IVF train on a
sample and IVF-PQ rerank its candidates exactly. Reads use `pread` on row
runs rather than a memory map: a random read of a few hundred rows then costs
those rows, not the 4 KiB pages around each of them, so the resident memory of
a query or a training sample on a 2,000,000-row file stays small.

    store = VectorFile(path, dim=50, dtype="float32", writable=True)
    store.write_rows(0, unit_vectors); store.read_rows([3, 1])
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..errors import InputError

VECTOR_FILES = {"float32": "vectors.f32", "float16": "vectors.f16"}


def check_vector_dtype(dtype: str) -> None:
    """An InputError unless `dtype` is a storage the vector file knows (float32, float16)."""
    if dtype not in VECTOR_FILES:
        raise InputError(f"unknown vector storage {dtype!r}: use float32 or float16")


def vector_file_name(dtype: str) -> str:
    """The file name of a version's vectors stored as `dtype`: vectors.f32 or vectors.f16."""
    check_vector_dtype(dtype)
    return VECTOR_FILES[dtype]


class VectorFile:
    """Fixed-size rows of `dim` numbers; reads always return float32."""

    def __init__(self, path: Path, dim: int, dtype: str = "float32", *, writable: bool = False):
        check_vector_dtype(dtype)
        self.path = Path(path)
        self.dim = dim
        self.dtype = np.dtype(dtype)
        self.row_bytes = dim * self.dtype.itemsize
        flags = os.O_RDWR | os.O_CREAT if writable else os.O_RDONLY
        self.descriptor = os.open(self.path, flags, 0o644)

    @property
    def rows(self) -> int:
        return os.fstat(self.descriptor).st_size // self.row_bytes

    def close(self) -> None:
        if self.descriptor >= 0:
            os.close(self.descriptor)
            self.descriptor = -1

    def write_rows(self, start: int, vectors: np.ndarray) -> None:
        """Write consecutive rows from `start` (appending when start == rows)."""
        data = np.ascontiguousarray(vectors, dtype=self.dtype).tobytes()
        written = os.pwrite(self.descriptor, data, start * self.row_bytes)
        if written != len(data):
            raise OSError(f"short write to {self.path}")

    def write_scattered(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Overwrite the rows `ids` in place (an upsert that keeps its id)."""
        for row, vector in zip(np.asarray(ids, dtype=np.int64), vectors):
            self.write_rows(int(row), vector[None, :])

    def read_range(self, start: int, stop: int) -> np.ndarray:
        """Rows start..stop-1 as float32."""
        count = max(0, stop - start)
        data = os.pread(self.descriptor, count * self.row_bytes, start * self.row_bytes)
        if len(data) != count * self.row_bytes:
            raise OSError(f"{self.path} ends before row {stop}")
        return np.frombuffer(data, dtype=self.dtype).reshape(count, self.dim).astype(np.float32)

    def read_rows(self, ids) -> np.ndarray:
        """Rows `ids` (any order, repeats allowed) as float32, one pread per run of consecutive ids."""
        ids = np.asarray(ids, dtype=np.int64).ravel()
        out = np.empty((len(ids), self.dim), dtype=np.float32)
        if len(ids) == 0:
            return out
        unique, inverse = np.unique(ids, return_inverse=True)
        rows = np.empty((len(unique), self.dim), dtype=np.float32)
        breaks = np.flatnonzero(np.diff(unique) != 1) + 1
        for run_start, run_stop in zip(np.r_[0, breaks], np.r_[breaks, len(unique)]):
            first = int(unique[run_start])
            rows[run_start:run_stop] = self.read_range(first, first + int(run_stop - run_start))
        out[:] = rows[inverse]
        return out

    def sample(self, count: int, seed: int = 0) -> np.ndarray:
        """`count` distinct rows drawn uniformly (all rows if there are fewer)."""
        total = self.rows
        if count >= total:
            return self.read_range(0, total)
        chosen = np.sort(np.random.default_rng(seed).choice(total, size=count, replace=False))
        return self.read_rows(chosen)

    def memmap(self) -> np.ndarray:
        """A read-only memory map (dtype as stored), for callers that slice rows."""
        rows = self.rows
        if rows == 0:
            return np.zeros((0, self.dim), dtype=self.dtype)
        return np.memmap(self.path, dtype=self.dtype, mode="r", shape=(rows, self.dim))
