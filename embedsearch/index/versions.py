"""Atomic, versioned index directories, and the single-writer lock.

An index directory holds complete versions side by side and a `CURRENT` file
naming the live one:

    NAME/CURRENT          "v000003"
    NAME/v000003/         manifest.json, items.db, index.faiss, vectors.f32
    NAME/tmp-v000004-PID/ a version being written (never read)
    NAME/.lock            held (flock) by the one process writing

A writer builds a new version in a `tmp-` folder, fsyncs it, renames it to
its final name and then atomically replaces `CURRENT`. A build that is
interrupted at any point leaves `CURRENT` naming the previous complete
version; readers never see a half-written one. The previous version is kept
one more round so that a reader that has just read `CURRENT` can still open it.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
from pathlib import Path

from ..errors import IndexCorruptError, IndexLockedError, IndexNotFoundError, InputError
from .confine import regular_file

CURRENT_FILE = "CURRENT"
LOCK_FILE = ".lock"
TMP_PREFIX = "tmp-"
VERSION_NAME = re.compile(r"v[0-9]{6}")
CURRENT_MAX_BYTES = 64  # "v000003\n" and room to spare: a longer CURRENT is not one


def is_index_dir(directory: Path) -> bool:
    """Whether `directory` holds (or is becoming) an index: a CURRENT file, versions or a lock."""
    return directory.is_dir() and any(
        (directory / CURRENT_FILE).exists() or (directory / LOCK_FILE).exists()
        or any(directory.glob(pattern)) for pattern in ("v[0-9]*", TMP_PREFIX + "*"))


def current_version(index_dir: Path) -> Path:
    """The live version folder; a clear error if there is none."""
    if index_dir.exists() and not index_dir.is_dir():
        raise IndexNotFoundError(f"{index_dir} is a file, not an index")
    if not index_dir.is_dir():
        raise IndexNotFoundError(f"no index at {index_dir}: build one first")
    if not is_index_dir(index_dir):
        raise IndexNotFoundError(f"{index_dir} is a folder but not an index")
    pointer = index_dir / CURRENT_FILE
    if not pointer.exists() and not pointer.is_symlink():
        raise IndexNotFoundError(
            f"{index_dir} has no complete index (an interrupted first build): "
            "build it again with `overwrite=True`"
        )
    with open(regular_file(pointer), "rb") as handle:
        content = handle.read(CURRENT_MAX_BYTES)
    try:
        name = content.decode().strip()
    except UnicodeDecodeError:
        name = ""
    version_dir = index_dir / name
    if (not VERSION_NAME.fullmatch(name) or version_dir.is_symlink()
            or not version_dir.is_dir()):
        raise IndexCorruptError(f"{index_dir / CURRENT_FILE} does not name a version of the index "
                                f"({name[:40]!r}); rebuild it")
    return version_dir


def check_writable(index_dir: Path, overwrite: bool) -> None:
    """Refuse to build over an existing index (unless `overwrite`), a file, or a foreign folder.

    A folder that is not an index (a corpus folder, say) is never written into,
    even with `overwrite`: only an empty folder or an index may become one.
    """
    if index_dir.exists() and not index_dir.is_dir():
        raise InputError(f"{index_dir} is a file, not an index: give another output name")
    if not index_dir.is_dir():
        return
    if (index_dir / CURRENT_FILE).exists() and not overwrite:
        raise InputError(f"index {index_dir} already exists: replace it with `overwrite=True`")
    if not is_index_dir(index_dir) and any(index_dir.iterdir()):
        raise InputError(f"{index_dir} is a folder that is not an index: give another output name")


def next_version_dir(index_dir: Path) -> tuple[Path, Path]:
    """(temporary folder to write into, final folder name) of the next version."""
    versions = [int(p.name[1:]) for p in index_dir.glob("v[0-9]*") if p.name[1:].isdigit()]
    number = max(versions, default=0) + 1
    final = index_dir / f"v{number:06d}"
    return index_dir / f"{TMP_PREFIX}{final.name}-{os.getpid()}", final


def fsync_path(path: Path) -> None:
    """Flush a file's or a folder's entries to disk (a rename is durable once its folder is)."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def publish(index_dir: Path, tmp_dir: Path, final_dir: Path) -> None:
    """Make `tmp_dir` the live version, atomically, and drop versions older than the last."""
    for file in tmp_dir.iterdir():
        fsync_path(file)
    fsync_path(tmp_dir)
    previous = None
    try:
        previous = current_version(index_dir)
    except (IndexNotFoundError, IndexCorruptError):
        pass
    os.rename(tmp_dir, final_dir)
    pointer = index_dir / (CURRENT_FILE + ".tmp")
    pointer.write_text(final_dir.name + "\n")
    fsync_path(pointer)
    os.replace(pointer, index_dir / CURRENT_FILE)
    fsync_path(index_dir)
    keep = {final_dir.name, previous.name if previous else None}
    for old in index_dir.glob("v[0-9]*"):
        if old.is_dir() and old.name not in keep:
            shutil.rmtree(old, ignore_errors=True)


def remove_stale_tmp(index_dir: Path) -> None:
    """Remove folders left by interrupted writers (only call while holding the lock)."""
    for stale in index_dir.glob(TMP_PREFIX + "*"):
        shutil.rmtree(stale, ignore_errors=True)


class WriteLock:
    """An exclusive, non-blocking flock on NAME/.lock, released on close or process death."""

    def __init__(self, index_dir: Path):
        index_dir.mkdir(parents=True, exist_ok=True)
        self.path = index_dir / LOCK_FILE
        self.handle = open(self.path, "a+")
        try:
            fcntl.flock(self.handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.handle.seek(0)
            holder = self.handle.read().strip() or "another process"
            self.handle.close()
            raise IndexLockedError(
                f"{index_dir} is being written by {holder}; wait for it to finish "
                "(readers keep answering from the last complete version)"
            ) from None
        self.handle.seek(0)
        self.handle.truncate()
        self.handle.write(f"pid {os.getpid()}\n")
        self.handle.flush()

    def release(self) -> None:
        if not self.handle.closed:
            self.handle.seek(0)
            self.handle.truncate()
            fcntl.flock(self.handle, fcntl.LOCK_UN)
            self.handle.close()
