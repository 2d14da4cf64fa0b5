"""Building an index: an encoder's vocabulary, or a corpus, into the store.

Both paths stream: items are encoded and added in batches, with a progress
bar (a corpus through an `engine`: this process, or Ray), and everything
lands in one atomic commit (an interrupted build leaves
the previous index as it was). The report says what was built and what was
skipped, and why.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path

from ..corpus import (DEFAULT_CHUNK_OVERLAP, DEFAULT_CHUNK_WORDS, CorpusReport, Item,
                      check_chunking)
from ..encoders import Encoder
from ..errors import InputError
from ..index import EncoderInfo, IndexWriter
from ..progress import progress_bar
from .engine import BATCH_SIZE, CorpusSource, LocalEngine


def skipped_lines(skipped: Counter) -> list[str]:
    """The report lines "skipped N (reason)" of every write operation, one per reason."""
    return [f"skipped {count:,} ({reason})" for reason, count in sorted(skipped.items())]


@dataclass
class BuildReport:
    """What a build did: shown to the user at the end, and returned to Python callers."""

    path: Path
    items: int
    dim: int
    seconds: float
    skipped: Counter = field(default_factory=Counter)
    replaced_lines: int = 0

    def lines(self) -> list[str]:
        lines = [f"built {self.path}: {self.items:,} items, dimension {self.dim}, "
                 f"{self.seconds:.1f} s", *skipped_lines(self.skipped)]
        if self.replaced_lines:
            lines.append(f"replaced non-UTF-8 bytes in {self.replaced_lines:,} lines")
        return lines


def encoder_info(encoder: Encoder) -> EncoderInfo:
    return EncoderInfo(name=encoder.name, kind=encoder.kind, spec=encoder.spec,
                       fingerprint=encoder.fingerprint())


def chunking_record(chunk_words: int | None, chunk_overlap: int = 0) -> dict:
    """{"chunk_words", "chunk_overlap"} checked, 0 words meaning no chunking (as in the manifest)."""
    check_chunking(chunk_words or None, chunk_overlap if chunk_words else 0)
    return {"chunk_words": chunk_words or 0, "chunk_overlap": chunk_overlap if chunk_words else 0}


def encoding_record(engine, encoder: Encoder) -> dict:
    """How a write encoded its items, for the manifest's `build` (and `info`): the engine and,
    for an encoder with several runtimes (all-minilm-l6-v2: torch or ONNX), the runtime."""
    runtime = getattr(encoder, "runtime", None)
    return {**engine.build_info, **({"runtime": runtime} if runtime else {})}


def check_build_options(out: str | Path, *, overwrite: bool = False, index_type: str = "flat",
                        index_params: dict | None = None, recall: float | None = None,
                        max_memory: int | None = None) -> dict:
    """The index options, checked in microseconds before an encoder is loaded or a text encoded.

    Returns them with `index_params` typed (see `faiss_types.check_params`);
    raises on an output that exists (without `overwrite`), is a file or a
    folder that is not an index, and on any out-of-range option.
    """
    from ..index import resolve_index_path
    from ..index.faiss_types import check_params
    from ..index.tuning import TuningRequest
    from ..index.versions import check_writable

    check_writable(resolve_index_path(out), overwrite)
    index_params = check_params(index_type, index_params)
    TuningRequest.make(index_type, recall, max_memory)
    if max_memory is not None and max_memory <= 0:
        raise InputError(f"`max_memory` must be a positive number of bytes, not {max_memory}")
    return dict(index_type=index_type, index_params=index_params, recall=recall,
                max_memory=max_memory)


def build_vocabulary_index(encoder: Encoder, out: str | Path, *, overwrite: bool = False,
                           show_progress: bool = True, index_type: str = "flat",
                           index_params: dict | None = None, recall: float | None = None,
                           max_memory: int | None = None,
                           vector_dtype: str = "float32") -> BuildReport:
    """One item per vocabulary entry, keyed by it, `position` = frequency rank.

    `index_type`, `index_params`, `recall` and `max_memory` choose and tune the
    FAISS index, `vector_dtype` how the raw vectors are stored (see `IndexWriter.create`).
    """
    vocabulary = encoder.vocabulary()
    if vocabulary is None:
        raise InputError(f"encoder {encoder.name} has no vocabulary to index; index a corpus with it instead")
    words, vectors = vocabulary
    started = time.perf_counter()
    writer = IndexWriter.create(out, encoder_info(encoder), encoder.dim, content="vocabulary",
                                overwrite=overwrite, index_type=index_type,
                                index_params=index_params, recall=recall, max_memory=max_memory,
                                vector_dtype=vector_dtype)
    with writer, progress_bar(total=len(words), unit="words", disable=not show_progress) as bar:
        skipped = add_vocabulary(writer, words, vectors, bar)
        count = writer.manifest.count
    return BuildReport(writer.directory, count, encoder.dim, time.perf_counter() - started, skipped)


def add_vocabulary(writer: IndexWriter, words, vectors, bar) -> Counter:
    """Add one item per distinct word, in batches; the first (most frequent) row of a word wins."""
    skipped = Counter()
    seen: set[str] = set()
    for start in range(0, len(words), BATCH_SIZE):
        batch = []
        rows = []
        for row in range(start, min(start + BATCH_SIZE, len(words))):
            word = words[row]
            if word in seen:
                skipped["duplicate word"] += 1
                continue
            seen.add(word)
            batch.append(Item(word, word, "vocabulary", row))
            rows.append(row)
        if batch:
            writer.add(batch, vectors[rows])
        bar.update(min(BATCH_SIZE, len(words) - start))
    return skipped


def build_corpus_index(corpus: str | Path, encoder: Encoder, out: str | Path, *,
                       unit: str = "auto", text_field: str = "text", key_field: str | None = None,
                       overwrite: bool = False, show_progress: bool = True,
                       index_type: str = "flat", index_params: dict | None = None,
                       recall: float | None = None, max_memory: int | None = None,
                       vector_dtype: str = "float32", engine=None,
                       chunk_words: int | None = DEFAULT_CHUNK_WORDS,
                       chunk_overlap: int = DEFAULT_CHUNK_OVERLAP) -> BuildReport:
    """One item per line, paragraph, file or record of `corpus` (text, folder, JSONL, Parquet,
    Markdown, HTML, PDF); a text longer than `chunk_words` words becomes one item per
    sentence-aligned chunk (consecutive chunks sharing up to `chunk_overlap` words), each
    knowing its document (`corpus.chunk_item`); `chunk_words` 0 or None never cuts. The
    manifest's `build` records both, and `add_corpus` cuts the same way.

    `engine` says where reading and encoding run: this process by default, or
    a `embedsearch.distributed.RayEngine`; the index is the same either way.
    """
    engine = engine or LocalEngine()
    started = time.perf_counter()
    corpus_report = CorpusReport()
    seen: set[str] = set()

    def first_of_each_key(items: list[Item]) -> list[Item]:
        unique = []
        for item in items:
            if item.key in seen:
                corpus_report.skip("duplicate key")
            else:
                seen.add(item.key)
                unique.append(item)
        return unique

    chunking = chunking_record(chunk_words, chunk_overlap)
    encoded = engine.encoded(CorpusSource(corpus, unit=unit, text_field=text_field,
                                          key_field=key_field, **chunking),
                             encoder, corpus_report, select=first_of_each_key)
    first = next(encoded, None)
    if first is None:
        skipped = ", ".join(f"{count:,} {reason}" for reason, count in
                            corpus_report.skipped.most_common())
        raise InputError(f"no text found in {corpus}: " + (
            f"every record was skipped ({skipped})" if skipped else
            "it is empty or every line is blank"))
    writer = IndexWriter.create(out, encoder_info(encoder), encoder.dim, overwrite=overwrite,
                                index_type=index_type, index_params=index_params, recall=recall,
                                max_memory=max_memory, vector_dtype=vector_dtype)
    writer.manifest.build = {**encoding_record(engine, encoder), **chunking}
    with writer, progress_bar(unit="items", disable=not show_progress) as bar:
        for batch in chain([first], encoded):
            if batch.items:
                if len(batch.kept_items):
                    writer.add(batch.kept_items, batch.kept_vectors)
                corpus_report.skipped["no known word"] += len(batch.items) - len(batch.kept_items)
            bar.update(batch.read)
        if writer.manifest.count == 0:
            raise InputError(f"nothing in {corpus} could be encoded by {encoder.name}: "
                             f"{dict(+corpus_report.skipped)}")
        engine.fill(writer)
        count = writer.manifest.count
    return BuildReport(writer.directory, count, encoder.dim, time.perf_counter() - started,
                       +corpus_report.skipped, corpus_report.replaced_lines)
