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
from .types import Hits, OddOneOut, Similarities
from .neighbors import neighbors, neighbors_batch
from .ranking import exact_search
from .relations import closer_than, distances, n_similarity, rank
from .similarity import compare, doesnt_match, odd_one_out, similarity, similarity_matrix
from .terms import Term, resolve_terms

__all__ = ["Hits", "OddOneOut", "Similarities", "Term", "analogies", "analogy", "closer_than",
           "compare", "distances", "doesnt_match", "exact_search", "most_similar", "n_similarity",
           "neighbors", "neighbors_batch", "odd_one_out", "rank", "resolve_terms", "similarity",
           "similarity_matrix"]
