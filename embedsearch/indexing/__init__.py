"""The write path: build an index, add to it, re-encode it, change its type, delete from it.

Everything here writes through the store's single `IndexWriter`, so each
operation is one atomic version. `encoder_check.load_index_encoder` is the
one place an index's encoder is reloaded and checked (dimension and
fingerprint) before anything is encoded for it.
"""

from .add import AddReport, add_corpus, upsert_items
from .build import BuildReport, build_corpus_index, build_vocabulary_index
from .maintenance import compact, delete_keys, reindex
from .rebuild import RebuildReport, rebuild_index

__all__ = ["AddReport", "BuildReport", "RebuildReport", "add_corpus", "build_corpus_index",
           "build_vocabulary_index", "compact", "delete_keys", "rebuild_index", "reindex",
           "upsert_items"]
