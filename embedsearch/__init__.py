"""embedsearch: word vectors or a corpus in, a persisted FAISS + SQLite index out, queries on top.

The public Python API, re-exported:

>>> from embedsearch import Index, query
>>> with Index.open("glove-6b-50d") as index:            # doctest: +SKIP
...     query.analogy(index, "man", "king", "woman")[0].key
'queen'
"""

from . import query
from .analogy import analogies
from .build import BuildReport, build_corpus_index, build_vocabulary_index
from .encoders import Encoder, WordVectors, load_encoder
from .errors import EmbedsearchError
from .index import Hit, Index, IndexWriter

__all__ = ["analogies", "BuildReport", "EmbedsearchError", "Encoder", "Hit", "Index", "IndexWriter",
           "WordVectors", "build_corpus_index", "build_vocabulary_index", "load_encoder", "query"]
