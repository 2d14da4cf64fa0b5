"""embedsearch: word vectors or a corpus in, a persisted FAISS + SQLite index out, queries on top.

The public Python API, re-exported. The package follows the data path, each
step importing only those below it: `corpus` -> `encoders` -> `index` (the
store) -> `indexing` (the write path) -> `query` (the read path) ->
`evaluate`, `train` -> `cli`.

    from embedsearch import Index, query
    with Index.open("glove-6b-50d") as index:
        query.analogy(index, "man", "king", "woman")[0].key
    # 'queen'
"""

from . import query
from .encoders import Encoder, WordVectors, load_encoder
from .errors import EmbedsearchError
from .index import Hit, Index, IndexWriter
from .indexing import (AddReport, BuildReport, RebuildReport, add_corpus, build_corpus_index,
                       build_vocabulary_index, compact, delete_keys, rebuild_index, reindex)
from .query import analogies

__all__ = ["AddReport", "BuildReport", "EmbedsearchError", "Encoder", "Hit", "Index",
           "IndexWriter", "RebuildReport", "WordVectors", "add_corpus", "analogies",
           "build_corpus_index", "build_vocabulary_index", "compact", "delete_keys", "load_encoder",
           "query", "rebuild_index", "reindex"]
