"""Re-encode an index when its encoder has changed (retrained, edited, replaced on disk).

The manifest records the encoder's spec (how to load it) and fingerprint (a
digest of its weights and configuration). `rebuild_index` loads the encoder
from the spec and compares fingerprints: equal means the stored vectors are
what the encoder gives today, and nothing is done. Otherwise every item is
re-encoded into a fresh index with the same keys, texts, sources, positions,
metadata, index type, parameters and vector storage (a tuned index is tuned
again to the same recall target), published atomically over the old one (readers see
the old index until the new one is complete). A vocabulary index is rebuilt
from the encoder's current vocabulary instead, since that is what it holds.

    rebuild_index("notes").lines()
    # ['notes: encoder token-position changed (3f2a... -> 9b1c...); re-encoded 1,200 items in 2.1 s']
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from ..corpus import CorpusReport
from ..encoders import Encoder
from ..errors import InputError
from ..index import Index, IndexWriter
from ..index.items import ITEMS_FILE
from ..progress import progress_bar
from .build import add_vocabulary, encoder_info, encoding_record, skipped_lines
from .encoder_check import load_index_encoder
from .engine import IndexRowsSource, LocalEngine


@dataclass
class RebuildReport:
    """What a rebuild did (or why it did nothing)."""

    path: Path
    encoder: str
    old_fingerprint: str
    new_fingerprint: str
    items: int = 0
    seconds: float = 0.0
    skipped: Counter = field(default_factory=Counter)

    @property
    def changed(self) -> bool:
        return self.old_fingerprint != self.new_fingerprint

    def lines(self) -> list[str]:
        if not self.changed:
            return [f"{self.path}: encoder {self.encoder} is unchanged (fingerprint "
                    f"{self.new_fingerprint}); nothing to do"]
        lines = [f"{self.path}: encoder {self.encoder} changed ({self.old_fingerprint} -> "
                 f"{self.new_fingerprint}); re-encoded {self.items:,} items in {self.seconds:.1f} s"]
        return lines + skipped_lines(self.skipped)


def _writer_for(index: Index, encoder: Encoder) -> IndexWriter:
    """A writer replacing `index` with the same content, index type, parameters and storage."""
    manifest = index.manifest
    # New vectors need their search knob tuned again, to the recall the old one was tuned to.
    return IndexWriter.create(index.directory, encoder_info(encoder), encoder.dim,
                              content=manifest.content, index_type=manifest.index_type,
                              index_params=manifest.index_params,
                              recall=manifest.tuning.get("target_recall"),
                              vector_dtype=manifest.vector_dtype, overwrite=True)


def _reencode_items(writer: IndexWriter, index: Index, encoder: Encoder, bar, engine) -> Counter:
    skipped = Counter()
    source = IndexRowsSource(index.version_dir / ITEMS_FILE, index.manifest.rows)
    for batch in engine.encoded(source, encoder, CorpusReport()):
        if batch.items:
            writer.add(batch.kept_items, batch.kept_vectors)
            skipped["the new encoder cannot encode it"] += len(batch.items) - len(batch.kept_items)
        bar.update(batch.read)
    return +skipped


def rebuild_index(name_or_path: str | Path, *, encoder: Encoder | None = None,
                  show_progress: bool = True, engine=None) -> RebuildReport:
    """Re-encode `name_or_path` if its encoder's fingerprint changed; otherwise do nothing.

    `encoder` defaults to the one the manifest's spec loads; passing one
    rebuilds with it (its spec is recorded for later queries). `engine` as
    for `build_corpus_index` (a vocabulary index is always rebuilt here).
    """
    engine = engine or LocalEngine()
    started = time.perf_counter()
    with Index.open(name_or_path) as index:
        recorded = index.manifest.encoder
        if encoder is None:
            encoder = load_index_encoder(index.manifest, index.directory, check=False)
        report = RebuildReport(index.directory, encoder.name, recorded.fingerprint,
                               encoder.fingerprint())
        if not report.changed:
            return report
        vocabulary = index.manifest.content == "vocabulary"
        if vocabulary and encoder.vocabulary() is None:
            raise InputError(f"{index.directory} is a vocabulary index but {encoder.name} "
                             "has no vocabulary")
        with _writer_for(index, encoder) as writer, \
                progress_bar(total=index.count, unit="items", disable=not show_progress) as bar:
            if vocabulary:
                report.skipped = add_vocabulary(writer, *encoder.vocabulary(), bar)
            else:
                chunking = {name: value for name, value in index.manifest.build.items()
                            if name.startswith("chunk_")}  # how its items were cut stays
                writer.manifest.build = {**encoding_record(engine, encoder), **chunking}
                report.skipped = _reencode_items(writer, index, encoder, bar, engine)
                engine.fill(writer)
            if writer.manifest.count == 0:
                raise InputError(f"{encoder.name} can encode none of the items of "
                                 f"{index.directory}; the index is left as it was")
            report.items = writer.manifest.count
    report.seconds = time.perf_counter() - started
    return report
