"""The explorer's whole-index map and what the explorer needs to know about the server.

`GET /indexes/{name}/map` answers at once: the layout's state ("ready", or
"computing" with the fraction done). The first request for an index version
and method (`?method=pca`, the default, or `umap` where umap-learn is installed)
starts computing its layout in a background thread (`query.layout`; UMAP in a
child process), so queries are never blocked; every client then shares it. The positions come as one
binary body (`/map/points`: int32 item ids, then float32 x, y pairs, most
important first), the labels as JSON (`/map/keys`), the items beyond the first
`SHOWN` by region as the user zooms in (`/map/region`), and the map position of
any word, text or item (`/map/locate`).

    GET /indexes/glove/map            {"state": "ready", "count": 400000, "shown": 100000, ...}
    GET /indexes/glove/map/points     (100000 x 4 bytes of ids, then 100000 x 8 of x, y)
"""

from __future__ import annotations

import json
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Literal, Optional

import numpy as np
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from pydantic import ConfigDict, Field

from ..errors import EncoderError, UnknownWordsError
from ..index import Index
from ..errors import InputError
from ..query.layout import (DEFAULT_METHOD, PROJECTIONS, Layout, available_methods,
                            check_method, fingerprint, index_layout, load_layout)
from ..query.terms import resolve_terms
from .auth import require_read
from .errors import ApiError
from .json_body import StrictJSONRoute
from .models import Strict
from .routes_read import ERRORS

STATIC = Path(__file__).parent / "static"
MAX_REGION = 5000
MAX_LOCATE = 1000
TEXT_PREVIEW = 400
SNIPPET = 40  # characters of a corpus item's text used as its label on the map
router = APIRouter(route_class=StrictJSONRoute, responses=ERRORS)
reader = [Depends(require_read)]


class LocateRequest(Strict):
    terms: list[str] = Field(default_factory=list, max_length=MAX_LOCATE,
                             description="Words, texts or item keys to place on the map.")
    ids: list[int] = Field(default_factory=list, max_length=MAX_LOCATE,
                           description="Item ids to place (with their key, text and metadata).")
    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "examples": [{"terms": ["king", "river bank"], "ids": [1841]}]})


class Layouts:
    """The layouts of the served indexes' live versions, computed once in the background."""

    def __init__(self):
        self.ready: dict[tuple[Path, str], Layout] = {}  # (index folder, method) -> layout
        self.progress: dict[str, float] = {}  # index folder, method, fingerprint -> done
        self.failed: dict[str, str] = {}
        self.labels: dict[tuple[Path, str], tuple[str, bytes]] = {}  # -> (fingerprint, JSON)
        self.lock = threading.Lock()

    def get(self, index: Index, registry, name: str, method: str) -> Layout | None:
        """The layout if ready; else None, its computation started (or under way) in a thread
        that holds its own lease on the index."""
        key = f"{index.directory}:{method}:{fingerprint(index)}"
        with self.lock:
            layout = self.ready.get((index.directory, method))
            if layout is not None and layout.fingerprint == fingerprint(index):
                return layout
            if key in self.failed:
                raise ApiError(503, "map_unavailable", self.failed[key])
            if key in self.progress:
                return None
            saved = load_layout(index, method)
            if saved is not None:
                self.ready[(index.directory, method)] = saved
                return saved
            self.progress[key] = 0.0
        threading.Thread(target=self._compute, args=(registry, name, method, key), daemon=True,
                         name=f"map layout {name} {method}").start()
        return None

    def labels_json(self, index: Index, layout: Layout, field: str) -> bytes:
        """The shown points' keys (or the start of their text) as a JSON list, read from
        SQLite once per version (every method orders the items alike)."""
        cached = self.labels.get((index.directory, field))
        if cached is not None and cached[0] == layout.fingerprint:
            return cached[1]
        ids = layout.item_ids[:layout.shown].tolist()
        if field == "text":
            rows = index.items.rows(ids)
            labels = [" ".join((rows[i]["text"] or "").split())[:SNIPPET] if i in rows else ""
                      for i in ids]
        else:
            keys = index.keys_of(ids)
            labels = [keys.get(i, "") for i in ids]
        body = json.dumps(labels, ensure_ascii=False).encode()
        self.labels[(index.directory, field)] = (layout.fingerprint, body)
        return body

    def fraction_done(self, index: Index, method: str) -> float:
        return self.progress.get(f"{index.directory}:{method}:{fingerprint(index)}", 0.0)

    def _compute(self, registry, name: str, method: str, key: str) -> None:
        """Computes the live version's layout (a newer one than asked for, if a writer has
        published meanwhile: the next request then finds it ready)."""
        def report(done: float) -> None:
            self.progress[key] = round(done, 3)

        try:
            with registry.lease(name) as index:
                layout = index_layout(index, method, report)
                with self.lock:
                    self.ready[(index.directory, method)] = layout
        except Exception as error:  # a failed layout must say why, not leave the map waiting
            with self.lock:
                self.failed[key] = f"the map of {name} could not be computed: {error}"
        finally:
            with self.lock:
                self.progress.pop(key, None)


_layouts_lock = threading.Lock()


def layouts(request: Request) -> Layouts:
    with _layouts_lock:
        if not hasattr(request.app.state, "map_layouts"):
            request.app.state.map_layouts = Layouts()
        return request.app.state.map_layouts


def map_method(method: str = Query(DEFAULT_METHOD, description="the layout: "
                                  + " or ".join(PROJECTIONS) + " (where umap-learn is installed; "
                                  "GET /explorer/capabilities lists them)")) -> str:
    try:
        return check_method(method)
    except InputError as error:
        raise ApiError(400, "map_method_unavailable", str(error)) from None


@contextmanager
def ready_layout(request: Request, name: str, method: str) -> Iterator[tuple[Index, Layout]]:
    """`with ready_layout(request, name, method) as (index, layout):` the leased live version
    and its layout; 409 while the layout is being computed."""
    registry = request.app.state.registry
    with registry.lease(name) as index:
        layout = layouts(request).get(index, registry, name, method)
        if layout is None:
            raise ApiError(409, "map_not_ready", f"the map of {name} is still being computed: "
                                                 f"ask GET /indexes/{name}/map for its progress")
        yield index, layout


@router.get("/favicon.ico", include_in_schema=False)
def favicon():
    return FileResponse(STATIC / "favicon.svg", media_type="image/svg+xml")


@router.get("/explorer/capabilities", dependencies=reader,
            summary="What the explorer may offer: the projections this server can compute")
def capabilities():
    methods = available_methods()
    return {"projections": methods, "map_methods": methods, "map_method": DEFAULT_METHOD}


@router.get("/indexes/{name}/map", dependencies=reader,
            summary="The whole-index map's state: ready, or computing (fraction done)")
def map_state(name: str, request: Request, method: str = Depends(map_method)):
    registry = request.app.state.registry
    service = layouts(request)
    with registry.lease(name) as index:
        layout = service.get(index, registry, name, method)
        if layout is None:
            return JSONResponse({"state": "computing", "method": method, "count": index.count,
                                 "progress": service.fraction_done(index, method)})
        return JSONResponse({"state": "ready", "method": layout.method, "count": layout.count,
                             "shown": layout.shown, "fingerprint": layout.fingerprint,
                             "content": index.manifest.content})


@router.get("/indexes/{name}/map/points", dependencies=reader, response_class=Response,
            responses={200: {"content": {"application/octet-stream": {
                "schema": {"type": "string", "format": "binary"}}}}},
            summary="The shown points: int32 item ids, then float32 (x, y) pairs")
def map_points(name: str, request: Request, method: str = Depends(map_method)):
    with ready_layout(request, name, method) as (_, layout):
        shown = layout.shown
        body = layout.item_ids[:shown].astype("<i4").tobytes() + \
            np.ascontiguousarray(layout.coordinates[:shown], dtype="<f4").tobytes()
        return Response(body, media_type="application/octet-stream",
                        headers={"X-Map-Fingerprint": layout.fingerprint})


@router.get("/indexes/{name}/map/keys", dependencies=reader,
            summary="The shown points' keys (or the start of their text), in the order of "
                    "/map/points")
def map_keys(name: str, request: Request,
             field: Literal["key", "text"] = Query("key", description="key, or text: the "
                                                   "first words of each item's text"),
             method: str = Depends(map_method)):
    with ready_layout(request, name, method) as (index, layout):
        return Response(layouts(request).labels_json(index, layout, field),
                        media_type="application/json",
                        headers={"X-Map-Fingerprint": layout.fingerprint})


@router.get("/indexes/{name}/map/region", dependencies=reader,
            summary="Points beyond the shown ones inside a box, most important first")
def map_region(name: str, request: Request, x0: float = Query(..., ge=-1, le=1),
               x1: float = Query(..., ge=-1, le=1), y0: float = Query(..., ge=-1, le=1),
               y1: float = Query(..., ge=-1, le=1),
               limit: int = Query(1000, ge=1, le=MAX_REGION),
               method: str = Depends(map_method)):
    with ready_layout(request, name, method) as (index, layout):
        rows = layout.rows_in(min(x0, x1), max(x0, x1), min(y0, y1), max(y0, y1),
                              start=layout.shown, limit=limit)
        ids = layout.item_ids[rows].tolist()
        keys = index.keys_of(ids)
        coordinates = layout.coordinates[rows].round(5).tolist()
        return JSONResponse({"ids": ids, "keys": [keys.get(i, "") for i in ids],
                             "x": [c[0] for c in coordinates], "y": [c[1] for c in coordinates]})


@router.post("/indexes/{name}/map/locate", dependencies=reader,
             summary="Map positions of words, texts or item keys, and of items by id")
def map_locate(name: str, body: LocateRequest, request: Request,
               method: str = Depends(map_method)):
    with ready_layout(request, name, method) as (index, layout):
        placed_terms = []
        resolved = placeable_terms(index, body.terms)
        if resolved:
            positions = layout.place(np.stack([term.vector for term in resolved])).round(5).tolist()
            placed_terms = [{"term": term.text, "x": x, "y": y,
                             "id": next(iter(term.ids)) if len(term.ids) == 1 else None}
                            for term, (x, y) in zip(resolved, positions)]
        points = []
        if body.ids:
            live = [i for i in dict.fromkeys(body.ids) if 0 <= i < index.manifest.rows]
            rows = index.items.rows(live)
            present = [i for i in live if i in rows]
            positions = layout.place(index.vectors_of(present)).round(5).tolist() if present else []
            for item_id, (x, y) in zip(present, positions):
                row = rows[item_id]
                point = {"id": item_id, "key": row["key"], "x": x, "y": y}
                if index.manifest.content != "vocabulary":
                    text: Optional[str] = row.get("text")
                    point.update(text=text[:TEXT_PREVIEW] if text else text, source=row.get("source"),
                                 metadata=row.get("metadata"))
                points.append(point)
        return JSONResponse({"terms": placed_terms, "points": points})


def placeable_terms(index: Index, terms: list[str]) -> list:
    """The terms that resolve to a vector; one unknown word leaves out only itself (the map
    marks what it can, and the tool's own answer says which words were ignored). When no
    term resolves, the error says why."""
    try:
        return resolve_terms(index, terms) if terms else []
    except (UnknownWordsError, EncoderError) as error:
        if len(terms) == 1:
            raise
        failure = error
    placed = []
    for term in terms:
        try:
            placed.extend(resolve_terms(index, [term]))
        except (UnknownWordsError, EncoderError):
            continue
    if not placed:
        raise failure
    return placed
