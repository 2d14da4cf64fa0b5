"""The indexes a server answers from, reopened when a writer publishes a new version.

Each request leases its index by name: the registry stats the index's `CURRENT`
file (a few microseconds) and, when it has changed since the index was opened,
opens the new version. Readers therefore see a write as soon as it is
published, without a restart, and a request already running keeps the version
it started with. A superseded version is closed as soon as the last request
using it returns its lease, so its files (often already removed by the writer)
do not stay open.

    with registry.lease("notes") as index:
        hits = query.neighbors(index, "river")

Opening a version takes that index's own lock, never one shared by all
indexes, so a slow or damaged index does not hold up the others. A new version
takes over the encoder its predecessor loaded (same fingerprint), so a write
does not make text queries load the encoder again.
"""

from __future__ import annotations

import os
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from ..errors import EmbedsearchError, IndexNotFoundError, InputError
from ..index import Index, indexes_home, resolve_index_path
from ..index.catalog import iso_time
from ..index.versions import CURRENT_FILE
from ..query.terms import index_encoder, loaded_encoder
from .errors import without_paths

MAX_NAME_LENGTH = 255  # longer is never a folder name on the file systems we run on


class _Version:
    """One open version of an index and the number of requests using it."""

    def __init__(self, stamp: tuple, index: Index):
        self.stamp, self.index = stamp, index
        self.users = 0
        self.superseded = False
        self.summary: dict | None = None


class IndexRegistry:
    """Open indexes by name: a fixed set (`names`), or every index under the home."""

    def __init__(self, names: tuple[str, ...] | None = None):
        self.fixed = None if names is None else served_folders(names)
        self._live: dict[str, _Version] = {}
        self._counts = threading.Lock()  # guards `users`, `superseded` and `_live`, held briefly
        self._opening: dict[str, threading.Lock] = {}

    def directories(self) -> list[Path]:
        """The served index folders, sorted by name."""
        if self.fixed is not None:
            return [self.fixed[name] for name in sorted(self.fixed)]
        home = indexes_home()
        return sorted(p for p in home.glob("*") if (p / CURRENT_FILE).is_file()) \
            if home.is_dir() else []

    def directory(self, name: str) -> Path:
        if self.fixed is not None:
            if name not in self.fixed:
                raise IndexNotFoundError(f"this server does not serve an index {name[:80]!r}: "
                                         f"it serves {', '.join(sorted(self.fixed)) or 'none'}")
            return self.fixed[name]
        if (not name or len(name) > MAX_NAME_LENGTH or "/" in name or "\\" in name
                or "\x00" in name or name.startswith(".") or not name.isprintable()):
            raise IndexNotFoundError(f"no index named {name[:80]!r}: use a name from GET /indexes")
        return indexes_home() / name

    @contextmanager
    def lease(self, name: str) -> Iterator[Index]:
        """The live version of index `name`, kept open until the block ends."""
        version = self._acquire(name)
        try:
            yield version.index
        finally:
            self._release(version)

    @contextmanager
    def lease_if_open(self, name: str) -> Iterator[Index | None]:
        """Like `lease`, but None instead of opening a version: a stat, never an open, so
        the event loop may call it (opening takes the thread pool's time)."""
        stamp = _stamp(self.directory(name))
        with self._counts:
            version = self._live.get(name)
            if version is None or version.stamp != stamp:
                version = None
            else:
                version.users += 1
        try:
            yield None if version is None else version.index
        finally:
            if version is not None:
                self._release(version)

    def summary(self, directory: Path) -> dict:
        """One line of `GET /indexes` for a served folder, computed once per version."""
        try:
            version = self._acquire(directory.name)
        except EmbedsearchError as error:
            return {"name": directory.name, "error": without_paths(str(error))}
        try:
            if version.summary is None:
                manifest = version.index.manifest
                version.summary = {"name": directory.name, "count": manifest.count,
                                   "dim": manifest.dim, "content": manifest.content,
                                   "encoder": manifest.encoder.name,
                                   "index_type": manifest.index_type,
                                   "updated_at": iso_time(manifest.updated_at)}
            return version.summary
        finally:
            self._release(version)

    def _acquire(self, name: str) -> _Version:
        directory = self.directory(name)
        stamp = _stamp(directory)
        with self._counts:
            version = self._live.get(name)
            if version is not None and version.stamp == stamp:
                version.users += 1
                return version
            opening = self._opening.setdefault(name, threading.Lock())
        with opening:
            stamp = _stamp(directory)
            with self._counts:
                version = self._live.get(name)
                if version is not None and version.stamp == stamp:
                    version.users += 1
                    return version
            fresh = _Version(stamp, Index.open(directory, in_memory=True))
            if version is not None and loaded_encoder(version.index) is not None \
                    and version.index.manifest.encoder == fresh.index.manifest.encoder:
                index_encoder(fresh.index)  # the predecessor's, from the shared cache
            with self._counts:
                fresh.users = 1
                self._live[name] = fresh
                if version is not None:
                    version.superseded = True
                    if version.users == 0:
                        version.index.close()
            return fresh

    def _release(self, version: _Version) -> None:
        with self._counts:
            version.users -= 1
            close = version.superseded and version.users == 0
        if close:
            version.index.close()

    def close(self) -> None:
        with self._counts:
            for version in self._live.values():
                version.index.close()
            self._live.clear()


def served_folders(names) -> dict[str, Path]:
    """name -> folder of each index to serve, checked before the server starts: a path with
    no index is an error (not a greyed-out entry), and so are two folders with one name (the
    API names an index by its folder, so one would hide the other)."""
    folders: dict[str, Path] = {}
    for name in names:
        folder = resolve_index_path(name)
        if not (folder / CURRENT_FILE).is_file():
            raise IndexNotFoundError(f"no index at {folder}: build one there first, or give "
                                     "the name or path of an existing index")
        same = folders.get(folder.name)
        if same is not None and same.resolve() != folder.resolve():
            raise InputError(f"two indexes to serve have the same folder name {folder.name!r}: "
                             f"{same} and {folder}; the API names an index by its folder, so "
                             "serve one of them, or rename or copy one")
        folders[folder.name] = folder
    return folders


def _stamp(directory: Path) -> tuple:
    """What changes when `CURRENT` is replaced: its inode and modification time."""
    try:
        status = os.stat(directory / CURRENT_FILE)
    except (FileNotFoundError, NotADirectoryError):
        raise IndexNotFoundError(f"no index named {directory.name[:80]!r}: use a name from "
                                 "GET /indexes") from None
    except (OSError, ValueError) as error:
        raise IndexNotFoundError(f"no index named {directory.name[:80]!r} ({error.__class__.__name__}):"
                                 " use a name from GET /indexes") from None
    return status.st_ino, status.st_mtime_ns
