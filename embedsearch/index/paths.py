"""Where indexes live: a name means a folder under `indexes/`, anything else is a path."""

from __future__ import annotations

import os
from pathlib import Path

HOME_VARIABLE = "EMBEDSEARCH_HOME"


def indexes_home() -> Path:
    """The default home of built indexes: $EMBEDSEARCH_HOME, else ./indexes."""
    return Path(os.environ.get(HOME_VARIABLE, "indexes"))


def resolve_index_path(name_or_path: str | Path) -> Path:
    """A bare name (no slash, not an existing folder here) is looked up under `indexes/`."""
    text = str(name_or_path)
    path = Path(text).expanduser()
    if os.sep in text or "/" in text or text.startswith(".") or path.is_dir():
        return path
    return indexes_home() / text
