"""When an index is due for compaction: its deleted ids cost search work and memory."""

from __future__ import annotations

from .manifest import Manifest

# Rebuild when deleted-but-present ids make up this share of the FAISS index:
# each one costs search work (it is visited and filtered) and memory.
COMPACTION_SHARE = 0.10


def compaction_due(manifest: Manifest) -> bool:
    """Whether tombstones make up `COMPACTION_SHARE` or more of the ids the FAISS index holds."""
    held = manifest.count + manifest.tombstones
    return manifest.tombstones > 0 and manifest.tombstones >= COMPACTION_SHARE * held
