"""Standard files: word2vec (text or binary), NumPy + JSON Lines, Parquet; each written atomically.

word2vec keeps only keys and vectors (gensim's `KeyedVectors.load_word2vec_format`
reads it back; a key with whitespace cannot be written in that format and is
refused). The other two keep every item field beside its vector.
"""

from __future__ import annotations

import json

import numpy as np

from ..errors import InputError
from ..files import write_atomically
from .rows import ExportReport, as_path, item_batches, payload


def export_word2vec(index, *, path=None, binary: bool | None = None, show_progress: bool = True) -> ExportReport:
    """`path` in word2vec format: binary if `binary` (default: the path ends in `.bin`)."""
    path = as_path(path)
    binary = path.suffix == ".bin" if binary is None else binary

    def write(temporary):
        with open(temporary, "wb") as handle:
            handle.write(f"{index.count} {index.dim}\n".encode())
            for rows, vectors in item_batches(index, show_progress=show_progress):
                for row, vector in zip(rows, vectors):
                    key = row["key"]
                    if not key or any(c.isspace() for c in key):
                        raise InputError(f"key {key!r} has whitespace: word2vec files cannot hold "
                                         "it; export to npy or parquet instead")
                    if binary:
                        handle.write(key.encode() + b" " + vector.astype("<f4").tobytes() + b"\n")
                    else:  # repr of a float32 as a Python float reads back to the same float32
                        handle.write(f"{key} {' '.join(map(repr, vector.tolist()))}\n".encode())

    write_atomically(path, write)
    return ExportReport(str(path), index.count, index.dim)


def export_npy(index, *, path=None, show_progress: bool = True) -> ExportReport:
    """A folder `path` with `vectors.npy` (count x dim float32) and `items.jsonl` (same order)."""
    folder = as_path(path)
    folder.mkdir(parents=True, exist_ok=True)

    def write_vectors(temporary):
        array = np.lib.format.open_memmap(temporary, mode="w+", dtype=np.float32,
                                          shape=(index.count, index.dim))
        start = 0
        for _, vectors in item_batches(index, show_progress=show_progress):
            array[start:start + len(vectors)] = vectors
            start += len(vectors)
        array.flush()
        del array

    def write_items(temporary):
        with open(temporary, "w", encoding="utf-8") as handle:
            for rows, _ in item_batches(index, show_progress=False):
                for row in rows:
                    handle.write(json.dumps({"id": row["id"], **payload(row)},
                                            ensure_ascii=False) + "\n")

    write_atomically(folder / "vectors.npy", write_vectors, suffix=".npy")
    write_atomically(folder / "items.jsonl", write_items)
    return ExportReport(str(folder), index.count, index.dim)


def export_parquet(index, *, path=None, show_progress: bool = True) -> ExportReport:
    """One Parquet file: id, key, text, source, position, metadata (JSON), vector (float32 list)."""
    import pyarrow as pa
    import pyarrow.parquet as parquet

    path = as_path(path)
    schema = pa.schema([("id", pa.int64()), ("key", pa.string()), ("text", pa.string()),
                        ("source", pa.string()), ("position", pa.int64()),
                        ("metadata", pa.string()), ("vector", pa.list_(pa.float32(), index.dim))])

    def write(temporary):
        with parquet.ParquetWriter(temporary, schema) as writer:
            for rows, vectors in item_batches(index, show_progress=show_progress):
                columns = {name: [row[name] for row in rows]
                           for name in ("id", "key", "text", "source", "position")}
                columns["metadata"] = [json.dumps(row["metadata"], ensure_ascii=False)
                                       if row["metadata"] else None for row in rows]
                columns["vector"] = pa.FixedSizeListArray.from_arrays(
                    pa.array(vectors.ravel(), pa.float32()), index.dim)
                writer.write_table(pa.table(columns, schema=schema))

    write_atomically(path, write)
    return ExportReport(str(path), index.count, index.dim)
