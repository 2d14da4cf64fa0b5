"""The read path: neighbours, analogies, similarity and the odd one out, over any index.

Every function takes an opened `Index` and returns the same shape: hits
(id, key, score), best first, the query's own items excluded. Single queries
and batches share one exact ranking engine (`ranking`), and approximate
search goes through the index's FAISS type (`Index.search`).

    from embedsearch import Index, query
    with Index.open("glove-6b-50d") as index:
        query.analogy(index, "man", "king", "woman")[0].key
    # 'queen'
"""

from .analogy import analogies, analogy, most_similar
from .neighbors import neighbors, neighbors_batch
from .ranking import exact_search
from .similarity import doesnt_match, similarity, similarity_matrix
from .terms import Term, resolve_terms

__all__ = ["Term", "analogies", "analogy", "doesnt_match", "exact_search", "most_similar",
           "neighbors", "neighbors_batch", "resolve_terms", "similarity", "similarity_matrix"]
