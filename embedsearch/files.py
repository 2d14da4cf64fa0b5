"""Writing a file so that readers see the old one or the new one, never half of either."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable


def write_atomically(path: Path, write: Callable[[Path], None], *, suffix: str = "") -> None:
    """Call `write(temporary)` on a temporary path beside `path`, then rename it over `path`.

    `suffix` keeps an ending that the writer insists on (np.save adds ".npy").
    On any failure, Ctrl-C included, the temporary file is removed and `path` is untouched.
    """
    temporary = path.with_name(f".{path.name}.tmp{os.getpid()}{suffix}")
    try:
        write(temporary)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
