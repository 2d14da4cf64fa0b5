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
from .json_body import StrictJSONRoute
from .models import DeleteRequest, UpsertRequest, WriteReport
from ..query.terms import index_encoder
from .routes_read import ERRORS, check_limit, leased

router = APIRouter(dependencies=[Depends(require_write)], responses=ERRORS,
                   route_class=StrictJSONRoute)


def check_corpus(index) -> None:
    if index.manifest.content != "corpus":
        raise ApiError(400, "not_a_corpus", f"index {index.name} holds a vocabulary (word "
                                            "vectors): only corpus indexes take writes")


def _written(request: Request, name: str, **report) -> JSONResponse:
    with leased(request, name) as index:
        return JSONResponse({**report, "count": index.count, "version": index.version_dir.name})


@router.post("/indexes/{name}/items", response_model=WriteReport,
             summary="Add items, or replace those whose key exists (encoded by the index's encoder)")
def upsert(name: str, body: UpsertRequest, request: Request):
    check_limit("the number of items", len(body.items), request.app.state.settings.limits.max_items)
    items = [Item(key=i.key, text=i.text, source=i.source, position=i.position,
                  metadata=i.metadata) for i in body.items]
    with leased(request, name) as index:
        check_corpus(index)
        report = upsert_items(index.directory, items, encoder=index_encoder(index))
    return _written(request, name, added=report.added, updated=report.updated,
                    unchanged=report.unchanged, deleted=report.deleted,
                    skipped=dict(report.skipped))


@router.post("/indexes/{name}/items/delete", response_model=WriteReport,
             summary="Delete items by key")
def delete(name: str, body: DeleteRequest, request: Request):
    check_limit("the number of keys", len(body.keys), request.app.state.settings.limits.max_items)
    with leased(request, name) as index:
        check_corpus(index)
        directory = index.directory
    deleted, missing = delete_keys(directory, body.keys)
    return _written(request, name, deleted=deleted, missing=missing)
