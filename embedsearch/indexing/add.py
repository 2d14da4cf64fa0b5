"""Incremental corpus updates: add new files or items to an index without rebuilding it.

Each item read from the corpus is compared with the index by key and content
hash: unchanged items are skipped without encoding, changed ones are
re-encoded and upserted, new ones added; chunks of a document that no longer
has them (`key#n` past its new last chunk) are deleted. With `prune`, items of the files read
that are no longer in them are deleted. The index's own encoder is reloaded
from its manifest and must still have the same fingerprint, so old and new
vectors are comparable. Everything lands in one atomic version.

    add_corpus("notes", "notes/")
    # AddReport(added=12, updated=3, unchanged=4810, deleted=0, ...)
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from ..corpus import CorpusReport, Item
from ..errors import InputError
from ..index import Index, IndexWriter
from ..index.items import content_hash
from ..progress import progress_bar
from .build import chunking_record, encoding_record, skipped_lines
from .encoder_check import load_index_encoder
from .engine import BATCH_SIZE, CorpusSource, LocalEngine, encode_batch
from .maintenance import NothingChanged, update_if_changed


@dataclass
class AddReport:
    """What `add_corpus` did, item by item, for the end-of-command report."""

    path: Path
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    count: int = 0
    seconds: float = 0.0
    skipped: Counter = field(default_factory=Counter)

    def lines(self) -> list[str]:
        lines = [f"updated {self.path}: {self.added:,} added, {self.updated:,} changed, "
                 f"{self.unchanged:,} unchanged, {self.deleted:,} deleted; "
                 f"{self.count:,} items, {self.seconds:.1f} s"]
        return lines + skipped_lines(self.skipped)


def _corpus_index(name: str | Path):
    """The encoder of the corpus index `name`, its live version's items file, its build record."""
    with Index.open(name) as index:
        manifest = index.manifest
        directory = index.directory
        items_path = index.items.path
    if manifest.content != "corpus":
        raise InputError(f"{directory} indexes a vocabulary, not a corpus: nothing to add to it")
    return load_index_encoder(manifest, directory), items_path, manifest.build


def add_corpus(name: str | Path, corpus: str | Path, *, unit: str = "auto",
               text_field: str = "text", key_field: str | None = None,
               prune: bool = False, show_progress: bool = True, engine=None,
               chunk_words: int | None = None, chunk_overlap: int | None = None) -> AddReport:
    """Add new and changed items of `corpus` to the corpus index `name`.

    `engine`, `chunk_words` and `chunk_overlap` as for `build_corpus_index`;
    None means as the index was built (no chunking for an index built before
    chunking existed). Either engine encodes only the new and
    changed items (the Ray actors look the hashes up in the live version's
    items file, the local engine in the writer's).
    """
    engine = engine or LocalEngine()
    started = time.perf_counter()
    encoder, known, built = _corpus_index(name)
    chunking = chunking_record(built.get("chunk_words", 0) if chunk_words is None else chunk_words,
                               built.get("chunk_overlap", 0) if chunk_overlap is None
                               else chunk_overlap)
    corpus_report = CorpusReport()
    source = CorpusSource(corpus, unit=unit, text_field=text_field, key_field=key_field,
                          **chunking)
    seen: dict[str, set[str]] = {}
    with IndexWriter.update(name) as writer, \
            progress_bar(unit="items", disable=not show_progress) as bar:
        report = AddReport(writer.directory)
        stored: dict[str, str] = {}

        def new_or_changed(items):
            unique = {}
            for item in items:
                if item.key in unique or item.key in seen.get(item.source, ()):
                    corpus_report.skip("duplicate key")
                    continue
                unique[item.key] = item
                seen.setdefault(item.source, set()).add(item.key)
            stored.clear()
            stored.update(writer.items.hashes_for_keys(list(unique)))
            return _new_or_changed(list(unique.values()), stored, report)

        for batch in engine.encoded(source, encoder, corpus_report, select=new_or_changed,
                                     known=known):
            if batch.items:
                _apply_encoded(writer, batch, stored, report, corpus_report)
            bar.update(batch.read)
        report.deleted += _delete_stale_chunks(writer, seen)
        if prune:
            for source_name, keys in seen.items():
                gone = [key for key in writer.items.keys_of_source(source_name) if key not in keys]
                report.deleted += writer.delete(keys=gone)
        writer.manifest.build = {**encoding_record(engine, encoder), **chunking}
        engine.fill(writer)
        report.count = writer.manifest.count
    report.seconds = time.perf_counter() - started
    report.skipped = +corpus_report.skipped
    return report


def _delete_stale_chunks(writer: IndexWriter, seen: dict[str, set[str]]) -> int:
    """Delete the chunks `key#n` of documents read again that no longer have them (a shorter text)."""
    stale = []
    for source_name, kept in seen.items():
        for key in writer.items.keys_of_source(source_name):
            document, _, number = key.rpartition("#")
            if key not in kept and number.isdigit() and document in kept:
                stale.append(key)
    return writer.delete(keys=stale) if stale else 0


def upsert_items(name: str | Path, items: Sequence[Item], *, encoder=None) -> AddReport:
    """Add items to the corpus index `name`, or replace those whose key exists and changed.

    Each key may appear once; the items are encoded with the index's own
    encoder (`encoder`: that encoder already loaded and checked, as a server
    holds it) and land in one atomic version (the HTTP API's write endpoint).
    A write that changes nothing publishes no new version.
    """
    started = time.perf_counter()
    counts = Counter(item.key for item in items)
    repeated = sorted(key for key, count in counts.items() if count > 1)
    if repeated:
        raise InputError(f"keys given more than once: {', '.join(repeated[:5])}")
    if encoder is None:
        encoder, _, _ = _corpus_index(name)
    corpus_report = CorpusReport()
    with update_if_changed(name) as writer:
        report = AddReport(writer.directory)
        for start in range(0, len(items), BATCH_SIZE):
            _upsert_changed(writer, encoder, list(items[start:start + BATCH_SIZE]), report,
                            corpus_report)
        report.count = writer.manifest.count
        if not (report.added or report.updated or report.deleted):
            raise NothingChanged
    report.seconds = time.perf_counter() - started
    report.skipped = corpus_report.skipped
    return report


def _upsert_changed(writer: IndexWriter, encoder, items: list[Item], report: AddReport,
                    corpus_report: CorpusReport) -> None:
    """Encode and upsert those of `items` (unique keys) that are new or changed."""
    stored = writer.items.hashes_for_keys([item.key for item in items])
    changed = _new_or_changed(items, stored, report)
    if changed:
        _apply_encoded(writer, encode_batch(encoder, changed, len(changed)), stored, report,
                       corpus_report)


def _new_or_changed(items: list[Item], stored: dict[str, str], report: AddReport) -> list[Item]:
    """The items whose content hash differs from the `stored` one (or that have none)."""
    changed = [item for item in items
               if stored.get(item.key) != content_hash(item.text, item.metadata)]
    report.unchanged += len(items) - len(changed)
    return changed


def _apply_encoded(writer: IndexWriter, batch, stored: dict, report: AddReport,
                   corpus_report: CorpusReport) -> None:
    """Upsert a batch's encodable items; drop the stored ones that no longer encode."""
    lost = batch.lost_items
    corpus_report.skipped["no known word"] += len(lost)
    # A changed item that no longer encodes must not keep its old vector.
    report.deleted += writer.delete(keys=[i.key for i in lost if i.key in stored])
    kept = batch.kept_items
    if kept:
        writer.upsert(kept, batch.kept_vectors)
    report.updated += sum(item.key in stored for item in kept)
    report.added += sum(item.key not in stored for item in kept)
