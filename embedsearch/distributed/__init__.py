"""Builds on Ray: corpus read as a Ray Dataset, encoded in an actor pool, IVF filled in parallel.

Imported only when a Ray build is asked for (`--ray`), so the rest of
embedsearch never needs Ray; without it, `RayEngine` raises one clear error
naming `pip install 'embedsearch[distributed]'`.

>>> with RayEngine(workers=2) as engine:                                        # doctest: +SKIP
...     build_corpus_index("notes/", encoder, "notes", engine=engine)
"""

from .engine import RayEngine
from .session import RAY_MISSING, RayUnavailableError

__all__ = ["RAY_MISSING", "RayEngine", "RayUnavailableError"]
