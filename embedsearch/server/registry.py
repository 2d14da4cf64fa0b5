"""The indexes a server answers from, reopened when a writer publishes a new version.

Each request asks for its index by name; the registry stats the index's
`CURRENT` file (a few microseconds) and, when it has changed since the index
was opened, opens the new version. Readers therefore see a write as soon as
it is published, without a restart, and a request already running keeps the
version it started with (its files stay open even after the writer removes
the folder). Only the reopening takes a lock; reads never do.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from ..errors import IndexNotFoundError
from ..index import Index, indexes_home, resolve_index_path
from ..index.versions import CURRENT_FILE


class IndexRegistry:
    """Open indexes by name: a fixed set (`names`), or every index under the home."""

    def __init__(self, names: tuple[str, ...] | None = None):
        self.fixed = None if names is None else \
            {resolve_index_path(name).name: resolve_index_path(name) for name in names}
        self._open: dict[str, tuple[tuple, Index]] = {}
        self._lock = threading.Lock()

    def directories(self) -> list[Path]:
        """The served index folders, sorted by name."""
        if self.fixed is not None:
            return [self.fixed[name] for name in sorted(self.fixed)]
        home = indexes_home()
        return sorted(p for p in home.glob("*") if (p / CURRENT_FILE).exists()) \
            if home.is_dir() else []

    def directory(self, name: str) -> Path:
        if self.fixed is not None:
            if name not in self.fixed:
                raise IndexNotFoundError(f"this server does not serve an index {name!r}: "
                                         f"it serves {', '.join(sorted(self.fixed)) or 'none'}")
            return self.fixed[name]
        if not name or "/" in name or name.startswith("."):
            raise IndexNotFoundError(f"no index named {name!r}: use a name from GET /indexes")
        return indexes_home() / name

    def get(self, name: str) -> Index:
        """The live version of index `name`, reopened if a writer published since."""
        index = self.ready(name)
        if index is not None:
            return index
        directory = self.directory(name)
        with self._lock:
            stamp = _stamp(directory)
            entry = self._open.get(name)
            if entry is None or entry[0] != stamp:
                # The old version is not closed here: requests may still be reading it.
                entry = self._open[name] = (stamp, Index.open(directory, in_memory=True))
            return entry[1]

    def ready(self, name: str) -> Index | None:
        """The live version of `name` if it is open already, else None: a stat, never an open,
        so the event loop may call it (opening a new version takes the thread pool's time)."""
        entry = self._open.get(name)
        return entry[1] if entry is not None and entry[0] == _stamp(self.directory(name)) else None

    def close(self) -> None:
        with self._lock:
            for _, index in self._open.values():
                index.close()
            self._open.clear()


def _stamp(directory: Path) -> tuple:
    """What changes when `CURRENT` is replaced: its inode and modification time."""
    try:
        status = os.stat(directory / CURRENT_FILE)
    except FileNotFoundError:
        raise IndexNotFoundError(f"no index named {directory.name!r}: use a name from "
                                 "GET /indexes") from None
    return status.st_ino, status.st_mtime_ns
