"""The index store: FAISS index + SQLite items + manifest in one atomic directory."""

from .manifest import EncoderInfo, Manifest
from .paths import indexes_home, resolve_index_path
from .reader import Hit, Index
from .writer import IndexWriter

__all__ = ["EncoderInfo", "Hit", "Index", "IndexWriter", "Manifest", "indexes_home",
           "resolve_index_path"]
