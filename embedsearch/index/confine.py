"""The files an index version may read: regular files of its own folder, named plainly.

An index directory is data anyone can edit. A manifest that names
`../../../../dev/zero` would make the checksum pass read forever, one that names
`/etc/passwd` would read outside the index, and a FIFO blocks whoever opens it. So
every file a version reads is first checked here: a bare name (no separator, no
`..`), in the version folder itself, a regular file (not a symbolic link, device or
pipe). Anything else is one `IndexCorruptError`, before a byte is read.

    path = version_file(version_dir, "items.db")   # version_dir / "items.db", or an error
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from ..errors import IndexCorruptError


def regular_file(path: Path) -> Path:
    """`path` if it is a regular file (a symbolic link is not); else IndexCorruptError."""
    try:
        status = os.lstat(path)
    except FileNotFoundError:
        raise IndexCorruptError(f"{path} is missing; rebuild the index") from None
    if stat.S_ISLNK(status.st_mode):
        raise IndexCorruptError(f"{path} is a symbolic link; an index reads only its own "
                                "regular files: rebuild the index")
    if not stat.S_ISREG(status.st_mode):
        raise IndexCorruptError(f"{path} is not a regular file; rebuild the index")
    return path


def version_file(version_dir: Path, name: object) -> Path:
    """`version_dir / name` once `name` is a plain file name and that file a regular file."""
    if (not isinstance(name, str) or name in ("", ".", "..") or "/" in name or "\\" in name
            or "\x00" in name):
        shown = repr(name)[:80]
        raise IndexCorruptError(f"{version_dir}: the manifest names {shown}, which is not a file "
                                "of the version folder (paths are refused); rebuild the index")
    return regular_file(version_dir / name)
