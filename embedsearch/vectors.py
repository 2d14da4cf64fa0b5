"""Row normalisation, the one place every layer makes vectors unit length.

Every vector embedsearch stores or compares is L2-normalised float32, so that
the inner product is the cosine. Encoders, queries and evaluations all call
this one function, which keeps a zero row zero rather than turning it into NaN,
and leaves a row that is already unit (to float32 rounding) exactly as it is:
normalising twice gives the same bytes, so a saved and reloaded encoder keeps
its vectors and its fingerprint.

>>> normalize_rows([[3.0, 4.0], [0.0, 0.0]]).tolist()
[[0.6000000238418579, 0.800000011920929], [0.0, 0.0]]
"""

from __future__ import annotations

import numpy as np

UNIT_TOLERANCE = 4e-7  # a few float32 ulps of 1: such a row is unit already


def normalize_rows(matrix) -> np.ndarray:
    """Float32 copy of `matrix` (or of one vector) with each non-zero row at unit L2 norm.

    The copy is in C order whatever the input's (vectors read column by column
    come in Fortran order), so that a row is contiguous and gathering rows does
    not stride across the whole matrix (docs/benchmarks.md, "Averaged word
    vectors: C-ordered rows").
    """
    matrix = np.asarray(matrix, dtype=np.float32)
    norms = np.linalg.norm(matrix, axis=-1, keepdims=True)
    norms[np.abs(norms - 1) < UNIT_TOLERANCE] = 1.0
    return np.divide(matrix, norms, out=np.zeros(matrix.shape, dtype=np.float32), where=norms > 0)
