"""The index store: FAISS index + SQLite items + manifest in one atomic directory."""

from .manifest import EncoderInfo, Manifest
from .paths import indexes_home, resolve_index_path
from .reader import Hit, Index, SearchArrays
from .writer import IndexWriter

__all__ = ["EncoderInfo", "Hit", "Index", "IndexWriter", "Manifest", "SearchArrays", "indexes_home",
           "resolve_index_path"]
