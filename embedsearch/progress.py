"""Progress bars on stderr (tqdm), quiet when stderr is not a terminal or when disabled."""

from __future__ import annotations

import sys


def progress_bar(*, total: int | None = None, unit: str = "it", desc: str | None = None,
                 disable: bool = False):
    """A tqdm bar; disabled automatically when output is not interactive."""
    from tqdm import tqdm

    return tqdm(total=total, unit=unit, desc=desc, unit_scale=True, dynamic_ncols=True,
                disable=disable or not sys.stderr.isatty(), file=sys.stderr)
