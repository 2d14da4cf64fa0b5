"""PCA for the whole-index map: the fast layout that needs nothing beyond numpy.

Fitted on a seeded sample, then every vector is projected onto the two leading
axes, so any vector (a free text too) lands on the same map.

    projection = PcaProjection.fit(sample_vectors)
    projection.raw(vectors)  # (n, 2)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class PcaProjection:
    mean: np.ndarray  # (dim,)
    axes: np.ndarray  # (2, dim), each signed so that its largest loading is positive

    method = "pca"

    @classmethod
    def fit(cls, sample: np.ndarray) -> "PcaProjection":
        dim = sample.shape[1]
        mean = sample.mean(axis=0) if len(sample) else np.zeros(dim, np.float32)
        return cls(mean.astype(np.float32), principal_axes(sample - mean, dim).astype(np.float32))

    def raw(self, vectors: np.ndarray) -> np.ndarray:
        """(n, dim) -> (n, 2) coordinates on the two axes."""
        return (np.atleast_2d(vectors) - self.mean) @ self.axes.T

    def arrays(self) -> dict[str, np.ndarray]:
        return {"mean": self.mean, "axes": self.axes}

    @classmethod
    def from_arrays(cls, arrays, index) -> "PcaProjection":
        return cls(arrays["mean"], arrays["axes"])


def principal_axes(centred: np.ndarray, dim: int) -> np.ndarray:
    """The two leading principal axes, each signed so that its largest loading is positive."""
    if len(centred) < 2:
        return np.eye(2, dim, dtype=np.float32)
    _, _, components = np.linalg.svd(centred, full_matrices=False)
    axes = np.zeros((2, dim), dtype=np.float64)
    axes[:min(2, len(components))] = components[:2]
    signs = np.sign(axes[np.arange(2), np.abs(axes).argmax(axis=1)])
    signs[signs == 0] = 1
    return axes * signs[:, None]
