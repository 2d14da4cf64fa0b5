"""The short run of scripts/stress_store.py: kill -9 during every kind of write, readers
during writes, every file of a version damaged in turn. Zero failures of each."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "stress_store.py"


def test_the_store_keeps_its_promises():
    done = subprocess.run([sys.executable, str(SCRIPT), "--short", "--json", "--seed", "1"],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    results = json.loads(done.stdout)
    assert {row["operation"] for row in results["kills"]} == {"build", "add", "reindex", "delete"}
    for row in results["kills"]:
        assert row["failures"] == 0 and row["lost_items"] == 0, row["problems"]
        assert row["before"] + row["after"] == row["trials"]
    readers = results["readers"]
    assert readers["commits"] >= 2 and readers["queries"] > 0
    assert readers["errors"] == readers["wrong"] == readers["half_written"] == 0, readers["messages"]
    assert readers["old_reader"] == {"version_removed": True, "answers_as_its_version": True,
                                     "count": readers["old_reader"]["count"], "rows": 5}
    damaged = {(row["file"], row["damage"]): row["verdict"] for row in results["damaged"]}
    assert {name for name, _ in damaged} >= {"manifest.json", "index.faiss", "vectors.f32",
                                            "items.db", "CURRENT", "tombstones.npy"}
    assert all(verdict.startswith("IndexCorruptError") for verdict in damaged.values()), damaged
