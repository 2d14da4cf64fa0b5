"""Write endpoints for corpus indexes: add or replace items, delete items by key.

Each request is one atomic version written through the store's single
writer; a second writer at the same time gets 409 (index_busy). Readers keep
answering from the previous version and see the new one as soon as it is
published (the registry notices the new `CURRENT`).
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from ..corpus import Item
from ..indexing import delete_keys, upsert_items
from .auth import require_write
from .errors import ApiError
from .models import DeleteRequest, UpsertRequest, WriteReport
from .routes_read import ERRORS, check_limit, open_index

router = APIRouter(dependencies=[Depends(require_write)], responses=ERRORS)


def corpus_directory(request: Request, name: str):
    index = open_index(request, name)
    if index.manifest.content != "corpus":
        raise ApiError(400, "not_a_corpus", f"index {name} holds a vocabulary (word vectors): "
                                            "only corpus indexes take writes")
    return index.directory


def _written(request: Request, name: str, **report) -> JSONResponse:
    index = open_index(request, name)
    return JSONResponse({**report, "count": index.count, "version": index.version_dir.name})


@router.post("/indexes/{name}/items", response_model=WriteReport,
             summary="Add items, or replace those whose key exists (encoded by the index's encoder)")
def upsert(name: str, body: UpsertRequest, request: Request):
    check_limit("the number of items", len(body.items), request.app.state.settings.limits.max_items)
    directory = corpus_directory(request, name)
    items = [Item(key=i.key, text=i.text, source=i.source, position=i.position,
                  metadata=i.metadata) for i in body.items]
    report = upsert_items(directory, items)
    return _written(request, name, added=report.added, updated=report.updated,
                    unchanged=report.unchanged, deleted=report.deleted,
                    skipped=dict(report.skipped))


@router.post("/indexes/{name}/items/delete", response_model=WriteReport,
             summary="Delete items by key")
def delete(name: str, body: DeleteRequest, request: Request):
    check_limit("the number of keys", len(body.keys), request.app.state.settings.limits.max_items)
    deleted, missing = delete_keys(corpus_directory(request, name), body.keys)
    return _written(request, name, deleted=deleted, missing=missing)
