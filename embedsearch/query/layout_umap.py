"""UMAP for the whole-index map (umap-learn, in the server extra).

UMAP keeps neighbourhoods where PCA keeps only the two widest directions, but it
costs minutes where PCA costs a second, and a fitted UMAP model cannot be saved
without pickle. So UMAP is fitted on a seeded sample of the index, and every
other vector (the rest of the index, a query, a free text) is placed from the
sample: at the similarity-weighted mean of its `NEIGHBOURS` most similar
fitted items. The saved layout needs only the sample's ids and positions; their
vectors are read back from the index.

    projection = UmapProjection.fit(sample_ids, sample_vectors)
    projection.raw(index.vectors_of([17]))  # (1, 2), beside item 17's nearest sampled items
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass

import numpy as np

NEIGHBOURS = 5
SHARPNESS = 0.02  # weights exp((similarity - best) / SHARPNESS): the closest items dominate
SEED = 0


def umap_installed() -> bool:
    return importlib.util.find_spec("umap") is not None


@dataclass
class UmapProjection:
    sample_ids: np.ndarray  # (m,) int64, the fitted items
    sample_xy: np.ndarray  # (m, 2) float32, their UMAP positions
    sample_vectors: np.ndarray  # (m, dim) float32, unit rows (read from the index, not saved)

    method = "umap"

    @classmethod
    def fit(cls, sample_ids: np.ndarray, sample_vectors: np.ndarray) -> "UmapProjection":
        import umap

        count = len(sample_ids)
        if count < 4:  # too few to fit: a line, in the given order
            xy = np.column_stack([np.arange(count), np.zeros(count)]).astype(np.float32)
        else:
            reducer = umap.UMAP(n_components=2, n_neighbors=min(15, count - 1), min_dist=0.1,
                                metric="euclidean",  # on unit vectors: the cosine's neighbours
                                random_state=SEED, low_memory=True)
            xy = np.asarray(reducer.fit_transform(sample_vectors), dtype=np.float32)
        return cls(np.asarray(sample_ids, np.int64), xy, np.ascontiguousarray(sample_vectors,
                                                                              np.float32))

    def raw(self, vectors: np.ndarray) -> np.ndarray:
        """(n, dim) unit vectors -> (n, 2): the weighted mean of the nearest fitted items'
        positions."""
        vectors = np.ascontiguousarray(np.atleast_2d(vectors), dtype=np.float32)
        if not len(self.sample_ids):
            return np.zeros((len(vectors), 2), np.float32)
        similarities, rows = self._nearest(vectors)
        weights = np.exp((similarities - similarities[:, :1]) / SHARPNESS)
        weights /= weights.sum(axis=1, keepdims=True)
        return np.einsum("nk,nkc->nc", weights, self.sample_xy[rows]).astype(np.float32)

    def _nearest(self, vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        import faiss

        if not hasattr(self, "_search"):
            self._search = faiss.IndexFlatIP(self.sample_vectors.shape[1])
            self._search.add(self.sample_vectors)
        return self._search.search(vectors, min(NEIGHBOURS, len(self.sample_ids)))

    def arrays(self) -> dict[str, np.ndarray]:
        return {"sample_ids": self.sample_ids, "sample_xy": self.sample_xy}

    @classmethod
    def from_arrays(cls, arrays, index) -> "UmapProjection":
        sample_ids = np.asarray(arrays["sample_ids"], np.int64)
        return cls(sample_ids, np.asarray(arrays["sample_xy"], np.float32),
                   index.vectors_of(sample_ids))
