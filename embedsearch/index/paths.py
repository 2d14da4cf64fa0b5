"""Where indexes live: a bare name means a folder under `indexes/`; a value with a slash is a path.

A folder of the same name in the current directory does not change what a
bare name means, so `--out notes` never writes into a corpus folder `notes/`.
"""

from __future__ import annotations

import os
from pathlib import Path

HOME_VARIABLE = "EMBEDSEARCH_HOME"


def indexes_home() -> Path:
    """The default home of built indexes: $EMBEDSEARCH_HOME, else ./indexes."""
    return Path(os.environ.get(HOME_VARIABLE, "indexes"))


def resolve_index_path(name_or_path: str | Path) -> Path:
    """A bare name (no path separator, not `.`/`..`/`~`) is looked up under the indexes home.

    >>> resolve_index_path("notes") == indexes_home() / "notes"
    True
    """
    if isinstance(name_or_path, Path):
        return name_or_path.expanduser()
    text = str(name_or_path)
    if os.sep in text or "/" in text or text in (".", "..") or text.startswith("~"):
        return Path(text).expanduser()
    return indexes_home() / text
