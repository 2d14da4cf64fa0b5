"""The FastAPI application: the API routes, the explorer's static files, errors, limits, keys.

    app = create_app(["glove-6b-50d"])
    uvicorn.run(app, host="127.0.0.1", port=8000)
"""

from __future__ import annotations

import json
import os
from contextlib import asynccontextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Sequence

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from .errors import RequestGuard, install_error_handlers
from .registry import IndexRegistry
from .routes_map import router as map_router
from .routes_read import router as read_router
from .routes_write import router as write_router
from .settings import Limits, Settings

STATIC = Path(__file__).parent / "static"
SETTINGS_VARIABLE = "EMBEDSEARCH_SERVER_SETTINGS"
DESCRIPTION = """Query embedsearch indexes over HTTP: neighbours, analogies, similarity, the
odd one out, batch search and 2-D maps; add and delete items of corpus indexes.
Every error is `{"error": {"code", "message"}}`. The explorer is at `/`."""


@asynccontextmanager
async def _single_threaded_blas(app: FastAPI):
    """Concurrent requests are the parallelism: each query's NumPy products run on one thread,
    so 16 clients do not start 16 x cores BLAS threads on the same cores."""
    import faiss  # noqa: F401  (loads FAISS's BLAS, so that the limit covers it too)
    from threadpoolctl import threadpool_limits

    limiter = threadpool_limits(limits=1, user_api="blas")
    try:
        yield
    finally:
        limiter.restore_original_limits()
        app.state.registry.close()


def create_app(names: Sequence[str] | None = None, *, api_key: str | None = None,
               read_api_key: str | None = None, limits: Limits | None = None,
               allow_sql: bool = False, allowed_hosts: Sequence[str] = ()) -> FastAPI:
    """The server for `names` (index names or paths; None or empty: every index in the home).

    Without keys it answers only requests whose Host is loopback or in `allowed_hosts`."""
    settings = Settings(tuple(names) if names else None, api_key or None, read_api_key or None,
                        allow_sql, limits or Limits(), tuple(allowed_hosts))
    app = FastAPI(title="embedsearch", description=DESCRIPTION, version="1",
                  lifespan=_single_threaded_blas)
    app.state.settings = settings
    app.state.registry = IndexRegistry(settings.names)
    install_error_handlers(app)
    app.include_router(read_router)
    app.include_router(write_router)
    app.include_router(map_router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/", include_in_schema=False)
    def explorer():
        return FileResponse(STATIC / "index.html")

    keyless = settings.api_key is None and settings.read_api_key is None
    app.add_middleware(RequestGuard, max_body_bytes=settings.limits.max_body_bytes,
                       allowed_hosts=settings.allowed_hosts if keyless else None)
    return app


def settings_for_workers(names: Sequence[str] | None, *, api_key: str | None = None,
                         read_api_key: str | None = None, limits: Limits | None = None,
                         allow_sql: bool = False, allowed_hosts: Sequence[str] = ()) -> str:
    """`create_app`'s arguments as the JSON that `app_from_environment` reads in each worker."""
    return json.dumps({"names": list(names) if names else None, "api_key": api_key,
                       "read_api_key": read_api_key, "allow_sql": allow_sql,
                       "limits": asdict(limits or Limits()), "allowed_hosts": list(allowed_hosts)})


def app_from_environment() -> FastAPI:
    """The app of one worker process of `serve --workers N`: worker processes are started fresh,
    so they get the parent's settings as JSON in EMBEDSEARCH_SERVER_SETTINGS."""
    arguments = json.loads(os.environ[SETTINGS_VARIABLE])
    return create_app(limits=Limits(**arguments.pop("limits")), **arguments)
