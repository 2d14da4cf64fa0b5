"""Deleted ids that an index which cannot remove ids (HNSW) still holds, kept beside it.

Search filters them out until `compact` rebuilds the index without them. The
manifest records how many there are, so a missing or short file is an error.

    write_tombstones(version_dir, {3, 7}); read_tombstones(version_dir, manifest)
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

import numpy as np

from ..errors import IndexCorruptError
from .confine import version_file
from .manifest import Manifest

TOMBSTONES_FILE = "tombstones.npy"


def read_tombstones(version_dir: Path, manifest: Manifest) -> np.ndarray | None:
    """The deleted ids FAISS still holds (int64), or None when there are none."""
    if manifest.tombstones == 0:
        return None
    try:
        # Memory-mapped first: a header claiming more ids than the file holds is an error
        # here, not an allocation of the claimed size.
        tombstones = np.load(version_file(version_dir, TOMBSTONES_FILE), mmap_mode="r",
                             allow_pickle=False)
    except (FileNotFoundError, ValueError):
        raise IndexCorruptError(f"{version_dir / TOMBSTONES_FILE} is missing or unreadable; "
                                "rebuild the index") from None
    if tombstones.ndim != 1 or len(tombstones) != manifest.tombstones:
        raise IndexCorruptError(f"{version_dir}: {tombstones.size} tombstones, the manifest "
                                f"says {manifest.tombstones}; rebuild the index")
    return np.array(tombstones, dtype=np.int64)


def write_tombstones(version_dir: Path, tombstones: Iterable[int]) -> None:
    """Save the ids sorted; nothing is written when there are none."""
    ids = sorted(tombstones)
    if ids:
        np.save(version_dir / TOMBSTONES_FILE, np.array(ids, dtype=np.int64))
