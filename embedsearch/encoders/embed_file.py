"""Encode a file of texts, one per line, into a NumPy matrix: row i is line i + 1.

Works with any encoder (word vectors included). Lines are read as UTF-8
(invalid bytes replaced) without their line ending, encoded in batches, and
a line the encoder cannot encode (blank, or no known word or token) is an
error naming its line number: a silently missing row would shift every row
after it. The `.npy` file is written to a temporary name and renamed, so a
failed run leaves no partial output.

    embed_file(load_encoder("glove-6b-50d"), "texts.txt", "texts.npy")
    # 1200
"""

from __future__ import annotations

from itertools import islice
from pathlib import Path

import numpy as np

from .base import Encoder
from ..corpus.readers import MAX_LINE_BYTES
from ..errors import InputError
from ..files import write_atomically
from ..progress import progress_bar

BATCH_LINES = 1024


def _lines(path: Path):
    """The file's lines without their endings; a line over MAX_LINE_BYTES characters is an
    error before it is held whole (a row cannot be skipped: every later row would shift)."""
    with open(path, encoding="utf-8", errors="replace", newline="") as handle:
        number = 0
        while line := handle.readline(MAX_LINE_BYTES + 1):
            number += 1
            if len(line) > MAX_LINE_BYTES and not line.endswith(("\n", "\r")):
                raise InputError(f"{path}:{number}: line longer than {MAX_LINE_BYTES // 2**20:,} "
                                 "MiB characters: split it into shorter texts")
            yield line.rstrip("\r\n")


def embed_file(encoder: Encoder, input_path: str | Path, output_path: str | Path, *,
               show_progress: bool = True) -> int:
    """Write the vectors of every line of `input_path` to `output_path` (.npy); returns the count."""
    input_path, output_path = Path(input_path), Path(output_path)
    if not input_path.is_file():
        raise InputError(f"input file not found: {input_path}")
    blocks = []
    lines = _lines(input_path)
    first_line = 1
    with progress_bar(unit="lines", disable=not show_progress) as bar:
        while batch := list(islice(lines, BATCH_LINES)):
            vectors, encodable = encoder.encode_batch(batch)
            if not encodable.all():
                bad = int(np.flatnonzero(~encodable)[0])
                raise InputError(f"{input_path}:{first_line + bad}: {encoder.name} cannot encode "
                                 f"line {first_line + bad} ({batch[bad][:60]!r}): no known word or token")
            blocks.append(vectors)
            first_line += len(batch)
            bar.update(len(batch))
    if not blocks:
        raise InputError(f"{input_path} is empty: nothing to embed")
    matrix = np.concatenate(blocks).astype(np.float32, copy=False)
    output_path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(output_path, lambda temporary: np.save(temporary, matrix), suffix=".npy")
    return len(matrix)
