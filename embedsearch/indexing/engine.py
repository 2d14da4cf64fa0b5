"""Where the items of a write are read and encoded: in this process, or on a cluster.

A build, an add and a rebuild all read a *source* (the files of a corpus, or
the rows of an index) part by part, encode its items, and write them through
one `IndexWriter` on this process (the driver), in source order. The engine
is the part that can move: `LocalEngine` reads and encodes here;
`embedsearch.distributed.RayEngine` reads the parts in Ray tasks and encodes
in a pool of Ray actors, and fills IVF indexes in parallel. Both yield the same
`EncodedBatch`es, so the writing loops, and the index they produce, are the same.

>>> source = CorpusSource("notes/")                                     # doctest: +SKIP
>>> for batch in LocalEngine().encoded(source, encoder, CorpusReport()): # doctest: +SKIP
...     writer.add(batch.kept_items, batch.kept_vectors)
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from ..corpus import (CorpusReport, Item, check_chunking, check_unit, chunk_item, corpus_files,
                      read_corpus_file)
from ..encoders import Encoder
from ..index.items import ItemsReader

BATCH_SIZE = 4096
Select = Callable[[list[Item]], list[Item]]


@dataclass
class EncodedBatch:
    """Items in source order with their vectors; `read` counts the items read for them."""

    items: list[Item]
    vectors: np.ndarray  # (len(items), dim) float32; zero rows where not encodable
    encodable: np.ndarray  # (len(items),) bool
    read: int

    @property
    def kept_items(self) -> list[Item]:
        return [item for item, ok in zip(self.items, self.encodable) if ok]

    @property
    def kept_vectors(self) -> np.ndarray:
        return self.vectors[self.encodable]

    @property
    def lost_items(self) -> list[Item]:
        return [item for item, ok in zip(self.items, self.encodable) if not ok]


class CorpusSource:
    """The files of a corpus, one part per file (picklable: Ray tasks read the parts).

    With `chunk_words`, each text longer than that is cut into sentence-aligned
    chunk items (`corpus.chunk_item`) as it is read, here or in a Ray task.
    """

    def __init__(self, path: str | Path, *, unit: str = "auto", text_field: str = "text",
                 key_field: str | None = None, chunk_words: int | None = None,
                 chunk_overlap: int = 0):
        check_unit(unit)
        chunk_words = chunk_words or None  # 0: no chunking, as the manifest records it
        check_chunking(chunk_words, chunk_overlap if chunk_words else 0)
        self.path = Path(path).absolute()
        self.unit, self.text_field, self.key_field = unit, text_field, key_field
        self.chunk_words, self.chunk_overlap = chunk_words, chunk_overlap

    def parts(self) -> list[str]:
        return [str(file) for file in corpus_files(self.path)]

    def read(self, part: str, report: CorpusReport) -> Iterator[Item]:
        items = read_corpus_file(part, self.path, unit=self.unit, text_field=self.text_field,
                                 key_field=self.key_field, report=report)
        if self.chunk_words is None:
            return items
        return (chunk for item in items
                for chunk in chunk_item(item, self.chunk_words, self.chunk_overlap))


class IndexRowsSource:
    """The items of an index version, in id order, one part per range of ids (for a rebuild)."""

    PART_ROWS = 65536

    def __init__(self, items_path: Path, rows: int):
        self.items_path = Path(items_path).absolute()
        self.rows = rows

    def parts(self) -> list[tuple[int, int]]:
        return [(start, min(start + self.PART_ROWS, self.rows))
                for start in range(0, self.rows, self.PART_ROWS)]

    def read(self, part: tuple[int, int], report: CorpusReport) -> Iterator[Item]:
        reader = ItemsReader(self.items_path)
        try:
            for rows in reader.iter_rows(BATCH_SIZE, start=part[0], stop=part[1]):
                for row in rows:
                    report.items += 1
                    yield Item(row["key"], row["text"], row["source"], row["position"],
                               row["metadata"])
        finally:
            reader.close()


def batches(items: Iterator[Item], size: int = BATCH_SIZE) -> Iterator[list[Item]]:
    while batch := list(islice(items, size)):
        yield batch


def encode_batch(encoder: Encoder, items: list[Item], read: int) -> EncodedBatch:
    vectors, encodable = encoder.encode_batch([item.text for item in items])
    return EncodedBatch(items, np.asarray(vectors, dtype=np.float32),
                        np.asarray(encodable, dtype=bool), read)


class LocalEngine:
    """Read and encode in this process; the writer's commit fills the FAISS index."""

    build_info = {"engine": "local"}

    def encoded(self, source, encoder: Encoder, report: CorpusReport,
                select: Select | None = None, known: Path | None = None) -> Iterator[EncodedBatch]:
        """Encoded batches of `source` in order; `select` picks, before encoding, what to encode.

        `known` (the items file of the index being updated) is for engines
        that cannot call `select` before encoding; here `select` does its job.
        """
        for part in source.parts():
            for batch in batches(source.read(part, report)):
                chosen = select(batch) if select is not None else batch
                yield encode_batch(encoder, chosen, len(batch))

    def fill(self, writer) -> None:
        """Nothing to do here: `IndexWriter.commit` adds the pending rows itself."""
