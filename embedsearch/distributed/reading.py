"""The read stage: a source's parts (corpus files, id ranges of an index) as Ray Dataset rows.

Each part is read in its own Ray task by the very reader the local build
uses (`CorpusSource.read`), so keys, texts and skips are identical; the rows
stream out in batches as they are read. What reading a part skipped or
repaired travels as one extra row at the end of the part (`report` holds it,
as JSON; item rows have an empty `report`), so the driver's end-of-build
report matches the local one. The parts' paths must be readable where the
tasks run: the same machine, or a filesystem every node shares.
"""

from __future__ import annotations

import json
from typing import Iterator

import numpy as np

from ..corpus import CorpusReport, Item
from ..indexing.engine import BATCH_SIZE, batches

COLUMNS = ("key", "text", "source", "position", "metadata", "report")


def item_columns(items: list[Item]) -> dict[str, np.ndarray]:
    return {
        "key": np.array([item.key for item in items], dtype=object),
        "text": np.array([item.text for item in items], dtype=object),
        "source": np.array([item.source for item in items], dtype=object),
        "position": np.array([item.position for item in items], dtype=np.int64),
        "metadata": np.array([json.dumps(item.metadata, ensure_ascii=False) if item.metadata
                              else "" for item in items], dtype=object),
        "report": np.array([""] * len(items), dtype=object),
    }


def report_columns(report: CorpusReport) -> dict[str, np.ndarray]:
    summary = json.dumps({"files": report.files, "items": report.items,
                          "replaced_lines": report.replaced_lines,
                          "skipped": dict(report.skipped)})
    row = {name: np.array([""], dtype=object) for name in COLUMNS}
    row["position"] = np.zeros(1, dtype=np.int64)
    row["report"] = np.array([summary], dtype=object)
    return row


def read_parts(rows: dict[str, np.ndarray], source) -> Iterator[dict[str, np.ndarray]]:
    """Ray `map_batches` function: the items of each part in `rows["part"]`, then its report."""
    for part in rows["part"]:
        report = CorpusReport()
        for items in batches(source.read(json.loads(part), report), BATCH_SIZE):
            yield item_columns(items)
        yield report_columns(report)


def merge_report(total: CorpusReport, summary: str) -> None:
    part = json.loads(summary)
    total.files += part["files"]
    total.items += part["items"]
    total.replaced_lines += part["replaced_lines"]
    total.skipped.update(part["skipped"])


def items_of(columns: dict[str, np.ndarray], rows: np.ndarray) -> list[Item]:
    return [Item(str(columns["key"][row]), str(columns["text"][row]), str(columns["source"][row]),
                 int(columns["position"][row]),
                 json.loads(columns["metadata"][row]) if columns["metadata"][row] else {})
            for row in rows]
