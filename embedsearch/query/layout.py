"""The whole-index map: a 2-D position for every live item, computed once per index version.

The explorer draws every item of an index of up to `SHOWN` items, and the
`SHOWN` most important of a larger one (a vocabulary's first rows, its most
frequent words; a seeded random sample of a corpus), fetching the rest by
region as the user zooms in. The layout is PCA: fitted on a seeded sample of
at most `FIT_SAMPLE` vectors, then every vector is projected onto the two
axes, so any query vector (a free text too) can be placed on the same map.
Coordinates are scaled so that the central 99 % of points span [-0.9, 0.9]
(the scatter library's device coordinates); beyond that they are squeezed
smoothly into [-1, 1], so outliers keep their order instead of piling up in a
wall at the edge.

The layout is saved as `.maps/<version>.npz` in the index folder, beside its
versions and never inside one (a version's files are checksummed), keyed by
the version's name and manifest checksum; an older version's layout is
removed when a newer one is saved. A read-only index keeps its layout in
memory only.

    layout = index_layout(index)
    layout.coordinates.shape, layout.item_ids[:3]
    # ((20000, 2), array([0, 1, 2]))
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from ..index import Index

METHOD = "pca"
FORMAT = 2  # of the saved file: a layout saved by another format is computed again
FIT_SAMPLE = 20_000
SHOWN = 100_000
SEED = 0
MAPS_FOLDER = ".maps"
PROJECT_BATCH = 10_000  # rows per step: short steps, so queries interleave with the computation
KNEE = 0.9  # the central points' half-width on the map; outliers are squeezed beyond it


@dataclass
class Layout:
    """Every live item's map position, rows in order of importance (most important first).

    `mean` and `axes` place any unit vector on the same map (`place`); `scale`
    and `offset` turn PCA coordinates into the map's [-1, 1] square.
    """

    item_ids: np.ndarray  # (n,) int64
    coordinates: np.ndarray  # (n, 2) float32, in [-1, 1]
    mean: np.ndarray  # (dim,)
    axes: np.ndarray  # (2, dim)
    offset: np.ndarray  # (2,)
    scale: float
    fingerprint: str
    method: str = METHOD

    @property
    def count(self) -> int:
        return len(self.item_ids)

    @property
    def shown(self) -> int:
        """How many rows the explorer draws up front; the rest come by region."""
        return min(self.count, SHOWN)

    def place(self, vectors: np.ndarray) -> np.ndarray:
        """(n, dim) unit vectors -> (n, 2) map positions."""
        raw = (np.atleast_2d(vectors) - self.mean) @ self.axes.T
        return squeeze((raw - self.offset) * self.scale)

    def rows_in(self, x0: float, x1: float, y0: float, y1: float, *, start: int,
                limit: int) -> np.ndarray:
        """Row numbers from `start` on whose point lies in the box, most important first."""
        tail = self.coordinates[start:]
        inside = ((tail[:, 0] >= x0) & (tail[:, 0] <= x1) & (tail[:, 1] >= y0) & (tail[:, 1] <= y1))
        return np.flatnonzero(inside)[:limit] + start


def fingerprint(index: Index) -> str:
    """What identifies the index's live version: its folder name and manifest checksum."""
    return f"{index.version_dir.name}-{index.manifest.checksum}"


def importance_order(index: Index) -> np.ndarray:
    """Live item ids, most important first: a vocabulary's own order (GloVe and word2vec
    files list words by frequency); a seeded shuffle of a corpus's items."""
    if index.tombstones is None and index.count == index.manifest.rows:
        ids = np.arange(index.manifest.rows, dtype=np.int64)
    else:
        ids = np.sort(index.ids_where("1")).astype(np.int64)
    if index.manifest.content != "vocabulary":
        ids = np.random.default_rng(SEED).permutation(ids)
    return ids


def compute_layout(index: Index, report: Callable[[float], None] = lambda done: None) -> Layout:
    """Fit PCA on a sample, project every live item; `report` gets the fraction done."""
    item_ids = importance_order(index)
    rng = np.random.default_rng(SEED)
    fit_ids = np.sort(rng.choice(item_ids, min(FIT_SAMPLE, len(item_ids)), replace=False)) \
        if len(item_ids) else item_ids
    sample = index.vectors_of(fit_ids) if len(fit_ids) else np.zeros((0, index.dim), np.float32)
    mean = sample.mean(axis=0) if len(sample) else np.zeros(index.dim, np.float32)
    axes = _principal_axes(sample - mean, index.dim)
    report(0.1)
    raw = np.zeros((len(item_ids), 2), dtype=np.float32)
    for start in range(0, len(item_ids), PROJECT_BATCH):
        rows = item_ids[start:start + PROJECT_BATCH]
        raw[start:start + len(rows)] = (index.vectors_of(np.sort(rows))[np.argsort(np.argsort(rows))]
                                        - mean) @ axes.T
        report(0.1 + 0.85 * min(1.0, (start + len(rows)) / len(item_ids)))
    offset, scale = _fit_square(raw)
    coordinates = squeeze((raw - offset) * scale)
    return Layout(item_ids, coordinates, mean.astype(np.float32), axes.astype(np.float32),
                  offset, scale, fingerprint(index))


def _principal_axes(centred: np.ndarray, dim: int) -> np.ndarray:
    """The two leading principal axes, each signed so that its largest loading is positive."""
    if len(centred) < 2:
        return np.eye(2, dim, dtype=np.float32)
    _, _, components = np.linalg.svd(centred, full_matrices=False)
    axes = np.zeros((2, dim), dtype=np.float64)
    axes[:min(2, len(components))] = components[:2]
    signs = np.sign(axes[np.arange(2), np.abs(axes).argmax(axis=1)])
    signs[signs == 0] = 1
    return axes * signs[:, None]


def squeeze(scaled: np.ndarray) -> np.ndarray:
    """Identity within [-KNEE, KNEE]; beyond, a tanh that reaches 1 only at infinity."""
    magnitude = np.abs(scaled)
    tail = KNEE + (1 - KNEE) * np.tanh((magnitude - KNEE) / (1 - KNEE))
    return (np.sign(scaled) * np.where(magnitude > KNEE, tail, magnitude)).astype(np.float32)


def _fit_square(raw: np.ndarray) -> tuple[np.ndarray, float]:
    """Offset and one scale (the same on both axes, so distances keep their meaning) that
    put the central 99 % of the points within [-KNEE, KNEE]."""
    if not len(raw):
        return np.zeros(2), 1.0
    low, high = np.percentile(raw, 0.5, axis=0), np.percentile(raw, 99.5, axis=0)
    offset = (low + high) / 2
    half = float(np.max(high - low)) / 2
    return offset, (KNEE / half if half > 0 else 1.0)


# -- the cache beside the index ------------------------------------------------------------


def layout_path(index: Index) -> Path:
    return index.directory / MAPS_FOLDER / f"{index.version_dir.name}.npz"


def load_layout(index: Index) -> Layout | None:
    """The saved layout of the index's live version, or None (absent, stale or unreadable)."""
    path = layout_path(index)
    try:
        with np.load(path, allow_pickle=False) as saved:
            if (int(saved["format"]) != FORMAT or str(saved["fingerprint"]) != fingerprint(index)
                    or str(saved["method"]) != METHOD):
                return None
            return Layout(saved["item_ids"], saved["coordinates"], saved["mean"], saved["axes"],
                          saved["offset"], float(saved["scale"]), fingerprint(index))
    except (OSError, KeyError, ValueError):
        return None


def save_layout(index: Index, layout: Layout) -> bool:
    """Write the layout atomically beside the index's versions and drop older versions'
    layouts; False (and nothing written) when the index folder is read-only."""
    folder = index.directory / MAPS_FOLDER
    try:
        folder.mkdir(exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=folder, suffix=".tmp")
        with os.fdopen(handle, "wb") as file:
            np.savez(file, item_ids=layout.item_ids, coordinates=layout.coordinates,
                     mean=layout.mean, axes=layout.axes, offset=layout.offset,
                     scale=np.float64(layout.scale), fingerprint=np.str_(layout.fingerprint),
                     method=np.str_(layout.method), format=np.int64(FORMAT))
        os.replace(temporary, layout_path(index))
    except OSError:
        return False
    for old in folder.glob("*.npz"):
        if old != layout_path(index):
            old.unlink(missing_ok=True)
    return True


def index_layout(index: Index, report: Callable[[float], None] = lambda done: None) -> Layout:
    """The live version's layout: the saved one, else computed now and saved."""
    layout = load_layout(index)
    if layout is None:
        layout = compute_layout(index, report)
        save_layout(index, layout)
    report(1.0)
    return layout
