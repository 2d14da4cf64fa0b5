"""Read endpoints: list and describe indexes; neighbours, analogy, similarity, odd one out,
batch search and the explorer's 2-D maps (a projection, or custom axes). Each calls one read-path function and
answers with the serializer the CLI's --json uses (`query.serialize`).

Routes are plain functions, run in the server's thread pool: FAISS and NumPy
release the GIL, so concurrent requests run in parallel, with no lock. The one
exception is a neighbours query that costs well under a millisecond (a vector or
a word, no filter, an approximate or small index): it runs on the event loop,
because the two thread hand-offs would cost more than the search (see
docs/server.md, Speed).
"""

from __future__ import annotations

import math

import numpy as np
from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from .. import query
from ..index import Index
from ..index.catalog import index_info
from ..index.filters import Where, parse_filter, untrusted_sql
from ..query.axes import axes_projection
from ..query.search import search_settings
from ..query.projection import projection
from ..query.serialize import (hits_payload, odd_one_out_payload, projection_payload,
                               similarity_payload)
from .auth import require_read
from .errors import ApiError
from .json_body import StrictJSONRoute
from .models import (AnalogyRequest, AxesRequest, AxesResponse, DoesntMatchRequest,
                     ErrorResponse, HitModel, IndexSummary,
                     NeighborsRequest, OddOneOut, ProjectionRequest, ProjectionResponse,
                     ScoreMatrix, SearchRequest, SearchResponse, SimilarityRequest)

ERRORS = {status: {"model": ErrorResponse}
          for status in (400, 401, 403, 404, 409, 413, 422, 500, 503)}
router = APIRouter(dependencies=[Depends(require_read)], responses=ERRORS,
                   route_class=StrictJSONRoute)


def leased(request: Request, name: str):
    """`with leased(request, name) as index:` the live version, kept open for the block."""
    return request.app.state.registry.lease(name)


def check_limit(what: str, value: int, limit: int) -> None:
    if value > limit:
        raise ApiError(400, "limit_exceeded", f"{what} is {value:,}; this server allows at most "
                                              f"{limit:,}")


MAX_FILTER_CHARS = 4000  # a SQL filter's text: a longer literal makes one SQL call slow
MAX_LITERAL_CHARS = 1000  # a string in a JSON filter, for the same reason


def request_where(request: Request, body) -> Where | None:
    """The request's filter: a JSON `filter`, or raw SQL `where` if the server allows it."""
    settings = request.app.state.settings
    seconds = settings.limits.sql_time_limit
    if body.filter is not None and body.where is not None:
        raise ApiError(400, "bad_filter", "give filter (JSON) or where (SQL), not both")
    if body.where is not None:
        if not settings.allow_sql:
            raise ApiError(403, "sql_not_allowed", "raw SQL filters are off on this server: use "
                                                   "the JSON filter (\"filter\"), or start the "
                                                   "server with --allow-sql")
        check_limit("the length of the SQL filter", len(body.where), MAX_FILTER_CHARS)
        return untrusted_sql(body.where, seconds)
    if body.filter is None:
        return None
    check_limit("the longest string in the filter", longest_string(body.filter),
                MAX_LITERAL_CHARS)
    return parse_filter(body.filter, seconds)


def longest_string(value) -> int:
    """The length of the longest string (key or value) in parsed JSON."""
    if isinstance(value, str):
        return len(value)
    if isinstance(value, dict):
        value = [*value.keys(), *value.values()]
    return max(map(longest_string, value), default=0) if isinstance(value, list) else 0


MIN_VECTOR_NORM = 1e-30  # shorter (the zero vector, subnormals): no direction to search in


def check_vector(index: Index, vector: list[float], position: str = "vector") -> np.ndarray:
    """The unit float32 vector of a query vector, or a 400 for a wrong length or one with no
    direction (zero, subnormal, or too long to normalise in float32)."""
    if len(vector) != index.dim:
        raise ApiError(400, "wrong_dimension", f"{position} has {len(vector)} numbers; index "
                                               f"{index.name} has dimension {index.dim}")
    array = np.asarray(vector, dtype=np.float64)
    norm = float(np.linalg.norm(array)) if np.isfinite(array).all() else math.nan
    if not MIN_VECTOR_NORM < norm < math.inf:
        raise ApiError(400, "bad_vector", f"{position} cannot be normalised (its length is "
                                          f"{norm:g}): give a vector of finite numbers that "
                                          "are not all (nearly) zero")
    unit = (array / norm).astype(np.float32)
    if not np.isfinite(unit).all():
        raise ApiError(400, "bad_vector", f"{position} cannot be normalised in float32")
    return unit


@router.get("/indexes", response_model=list[IndexSummary], summary="List the served indexes")
def list_indexes(request: Request):
    registry = request.app.state.registry
    return JSONResponse([registry.summary(d) for d in registry.directories()])


@router.get("/indexes/{name}", summary="One index's manifest, size and live version")
def describe_index(name: str, request: Request) -> dict:
    with leased(request, name) as index:
        return JSONResponse(index_info(index))


@router.post("/indexes/{name}/neighbors", response_model=list[HitModel],
             summary="Nearest neighbours of a word, text, item key or vector")
async def neighbors(name: str, body: NeighborsRequest, request: Request):
    limits = request.app.state.settings.limits
    check_limit("k", body.k, limits.max_k)
    check_limit("the number of excluded keys", len(body.exclude), limits.max_exclude)
    where = request_where(request, body)
    with request.app.state.registry.lease_if_open(name) as index:
        if index is not None and answers_quickly(index, body, where):
            return neighbors_answer(index, body, where)

    def answer():
        with leased(request, name) as index:
            return neighbors_answer(index, body, where)
    return await run_in_threadpool(answer)


APPROXIMATE_TYPES = ("hnsw", "ivfsq8", "ivfpq")
QUICK_FLAT_ROWS = 100_000  # an exact single-query scan of this many rows takes ~1 ms
QUICK_MAX_K = 100  # more neighbours: more keys to look up and more JSON to write


def answers_quickly(index: Index, body: NeighborsRequest, where: Where | None) -> bool:
    """Whether a neighbours query is cheap and bounded enough to answer on the event loop:
    no filter (its SQL may run for seconds), nothing to encode (a vector, or a word of a
    vocabulary), and an approximate index or a small exact one."""
    if where is not None or body.k > QUICK_MAX_K or len(body.exclude) > QUICK_MAX_K:
        return False
    if body.vector is None and index.manifest.content != "vocabulary":
        return False
    return index.manifest.index_type in APPROXIMATE_TYPES or index.count <= QUICK_FLAT_ROWS


def neighbors_answer(index: Index, body: NeighborsRequest, where: Where | None) -> JSONResponse:
    target = body.query if body.vector is None else check_vector(index, body.vector)
    hits = query.neighbors_batch(index, [target], k=body.k, where=where, exclude=body.exclude,
                                 **search_settings(body.mode, body.fusion, body.alpha,
                                                   body.chunks))[0]
    return JSONResponse(hits_payload(index, hits))


@router.post("/indexes/{name}/analogy", response_model=list[HitModel],
             summary="a : b :: c : ? (3CosAdd or 3CosMul), or positive/negative lists")
def analogy(name: str, body: AnalogyRequest, request: Request):
    limits = request.app.state.settings.limits
    check_limit("k", body.k, limits.max_k)
    check_limit("the number of terms", len(body.positive) + len(body.negative), limits.max_batch)
    where = request_where(request, body)
    with leased(request, name) as index:
        if body.a is not None:
            hits = query.analogy(index, body.a, body.b, body.c, k=body.k, method=body.method,
                                 where=where)
        else:
            hits = query.most_similar(index, body.positive, body.negative, k=body.k,
                                      method=body.method, where=where)
        return JSONResponse(hits_payload(index, hits))


@router.post("/indexes/{name}/similarity", response_model=ScoreMatrix,
             summary="Cosine similarity of two terms, or the matrix of several")
def similarity(name: str, body: SimilarityRequest, request: Request):
    check_limit("the number of terms", len(body.terms),
                request.app.state.settings.limits.max_batch)
    with leased(request, name) as index:
        return JSONResponse(similarity_payload(query.compare(index, body.terms)))


@router.post("/indexes/{name}/doesnt-match", response_model=OddOneOut,
             summary="The word that does not belong with the others")
def doesnt_match(name: str, body: DoesntMatchRequest, request: Request):
    check_limit("the number of words", len(body.words),
                request.app.state.settings.limits.max_batch)
    with leased(request, name) as index:
        return JSONResponse(odd_one_out_payload(query.odd_one_out(index, body.words)))


@router.post("/indexes/{name}/search", response_model=SearchResponse,
             summary="Many queries (words, texts, keys or vectors) answered together")
def search(name: str, body: SearchRequest, request: Request):
    limits = request.app.state.settings.limits
    check_limit("k", body.k, limits.max_k)
    check_limit("the number of queries", len(body.queries), limits.max_batch)
    check_limit("queries x k", len(body.queries) * body.k, limits.max_results)
    where = request_where(request, body)
    with leased(request, name) as index:
        queries = [q if isinstance(q, str) else check_vector(index, q, f"queries[{row}]")
                   for row, q in enumerate(body.queries)]
        results = query.neighbors_batch(index, queries, k=body.k, where=where,
                                        **search_settings(body.mode, body.fusion, body.alpha,
                                                          body.chunks))
        return JSONResponse({"results": [hits_payload(index, hits) for hits in results]})


@router.post("/indexes/{name}/projection", response_model=ProjectionResponse,
             summary="A 2-D map of a query's neighbourhood (or a sample) for the explorer")
def project(name: str, body: ProjectionRequest, request: Request):
    limits = request.app.state.settings.limits
    points = (body.k + 1 if body.query is not None else body.sample) + len(body.terms)
    check_limit("the number of points on the map", points, limits.max_projection)
    where = request_where(request, body)
    with leased(request, name) as index:
        mapped = projection(index, body.query, k=body.k, terms=body.terms, sample=body.sample,
                            method=body.method, where=where)
        return JSONResponse(projection_payload(index, mapped))


@router.post("/indexes/{name}/axes", response_model=AxesResponse,
             summary="A query's neighbourhood laid out along two chosen directions")
def axes(name: str, body: AxesRequest, request: Request):
    limits = request.app.state.settings.limits
    check_limit("k", body.k, limits.max_k)
    check_limit("the number of points on the map", body.k + 5, limits.max_projection)
    where = request_where(request, body)
    with leased(request, name) as index:
        x_axis, y_axis = (body.x.start, body.x.end), (body.y.start, body.y.end)
        mapped = axes_projection(index, body.query, x_axis, y_axis, k=body.k, where=where)
        return JSONResponse({**projection_payload(index, mapped),
                             "axes_cosine": mapped.axes_cosine, "ignored": mapped.ignored})
