"""Export to a Qdrant collection, so that a Qdrant cluster (sharded, replicated) can serve the index.

Points are the items: point id = item id (so a second export upserts the
same points instead of adding new ones: re-running it, or resuming it after a
failure, is safe), vector = the unit vector (cosine distance), payload =
key, text, source, position and metadata. `path` uses qdrant-client's local
mode (no server, a folder on disk); `url` a Qdrant server.
"""

from __future__ import annotations

from ..errors import EmbedsearchError, InputError
from .rows import BATCH_SIZE, ExportReport, item_batches, payload

QDRANT_MISSING = "qdrant-client is not installed: pip install 'embedsearch[distributed]'"


def export_qdrant(index, *, path=None, url: str | None = None, collection: str | None = None,
                  batch_size: int = BATCH_SIZE, show_progress: bool = True) -> ExportReport:
    """Upsert every item of `index` into `collection` (default: the index name)."""
    if (path is None) == (url is None):
        raise InputError("a Qdrant export needs either a local path or a server url, not both")
    try:
        from qdrant_client import QdrantClient, models
    except ImportError:
        raise EmbedsearchError(QDRANT_MISSING) from None
    collection = collection or index.name
    client = QdrantClient(path=str(path)) if path is not None else QdrantClient(url=url)
    try:
        _ensure_collection(client, models, collection, index.dim)
        for rows, vectors in item_batches(index, batch_size, show_progress):
            client.upsert(collection, wait=True, points=models.Batch(
                ids=[row["id"] for row in rows], vectors=vectors.tolist(),
                payloads=[payload(row) for row in rows]))
    finally:
        client.close()
    return ExportReport(f"qdrant collection {collection} at {path or url}", index.count, index.dim)


def _ensure_collection(client, models, collection: str, dim: int) -> None:
    if client.collection_exists(collection):
        vectors = client.get_collection(collection).config.params.vectors
        if getattr(vectors, "size", None) != dim or vectors.distance != models.Distance.COSINE:
            raise InputError(f"Qdrant collection {collection} holds other vectors ({vectors}); "
                             "choose another `collection`")
        return
    client.create_collection(collection, vectors_config=models.VectorParams(
        size=dim, distance=models.Distance.COSINE))
