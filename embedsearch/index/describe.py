"""Plain-language lines about an index's type, tuning and upkeep, for `build` and `info`."""

from __future__ import annotations

import json

from .manifest import Manifest

# Rebuild when deleted-but-present ids make up this share of the FAISS index:
# each one costs search work (it is visited and filtered) and memory.
COMPACTION_SHARE = 0.10


def compaction_due(manifest: Manifest) -> bool:
    held = manifest.count + manifest.tombstones
    return manifest.tombstones > 0 and manifest.tombstones >= COMPACTION_SHARE * held


def tuning_text(manifest: Manifest) -> str | None:
    tuning = manifest.tuning
    if not tuning:
        return None
    text = f"recall@10 {tuning.get('recall_at_10')} measured on {tuning.get('sample_queries')} queries"
    if tuning.get("target_recall") is not None:
        text += f" (target {tuning['target_recall']}"
        text += ", not reached: raise the parameters or pick another type)" \
            if tuning.get("reached") is False else ")"
    if tuning.get("max_memory"):
        text += f", memory budget {tuning['max_memory'] / 2**20:.0f} MB"
    return text


def index_summary(manifest: Manifest) -> str:
    """One line: type, parameters and measured recall."""
    line = f"index: {manifest.index_type} {json.dumps(manifest.index_params, sort_keys=True)}"
    tuned = tuning_text(manifest)
    return line + (f"; {tuned}" if tuned else "")


def maintenance_lines(manifest: Manifest) -> list[tuple[str, str]]:
    """(label, text) rows for `info`: tuning, vector storage, tombstones."""
    lines = []
    tuned = tuning_text(manifest)
    if tuned:
        lines.append(("tuning", tuned))
    lines.append(("vectors", f"{manifest.rows:,} rows, {manifest.vector_dtype} on disk"))
    if manifest.tombstones:
        share = manifest.tombstones / (manifest.count + manifest.tombstones)
        note = f"{manifest.tombstones:,} deleted ids still in the graph ({share:.0%})"
        if compaction_due(manifest):
            note += "; compaction due: run `embedsearch compact NAME`"
        lines.append(("tombstones", note))
    return lines
