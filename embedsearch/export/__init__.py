"""Export an index for serving or use elsewhere: to Qdrant, or to standard files.

`export_index(index, to, ...)` picks the writer by name: `qdrant` (a Qdrant
collection, local `path` or server `url`), `word2vec` (text, or binary for
a `.bin` path; gensim loads both), `npy` (a folder: `vectors.npy` and
`items.jsonl`, row i of one is line i of the other) and `parquet` (one file,
a row per item with its vector). Every writer streams the items in id order
in batches; files are written atomically (readers see the old file or the
new one), and Qdrant points are upserted under their item ids, so exporting
again replaces points instead of duplicating them.

>>> with Index.open("notes") as index:                       # doctest: +SKIP
...     export_index(index, "qdrant", path="qdrant-data")
"""

from __future__ import annotations

from .files import export_npy, export_parquet, export_word2vec
from .qdrant import export_qdrant
from .rows import ExportReport

EXPORTERS = {"qdrant": export_qdrant, "word2vec": export_word2vec, "npy": export_npy,
             "parquet": export_parquet}


def export_index(index, to: str, **options) -> ExportReport:
    """Write `index` in the format `to` (a key of `EXPORTERS`); options as the writer takes them."""
    from ..errors import InputError

    if to not in EXPORTERS:
        raise InputError(f"unknown export format {to!r}: use one of {', '.join(EXPORTERS)}")
    return EXPORTERS[to](index, **options)


__all__ = ["EXPORTERS", "ExportReport", "export_index", "export_npy", "export_parquet",
           "export_qdrant", "export_word2vec"]
