"""Bearer API keys: one that may write, one that may only read, compared in constant time.

The checks are `async` although they never wait: FastAPI runs a plain-function
dependency in its thread pool, one extra thread hand-off on every request.
"""

from __future__ import annotations

import hmac

from fastapi import Request

from .errors import ApiError


def _presented_key(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def _matches(presented: str, expected: str | None) -> bool:
    return expected is not None and hmac.compare_digest(presented.encode(), expected.encode())


async def require_read(request: Request) -> None:
    """Allow the request if no key is configured, or it carries the read or the write key."""
    settings = request.app.state.settings
    if settings.api_key is None and settings.read_api_key is None:
        return
    presented = _presented_key(request)
    if presented is None:
        raise ApiError(401, "unauthorized", "this server needs an API key: send it as "
                                            "'Authorization: Bearer KEY'")
    # Both comparisons always run, so the time taken says nothing about which key matched.
    read_ok = _matches(presented, settings.read_api_key)
    write_ok = _matches(presented, settings.api_key)
    if not (read_ok or write_ok):
        raise ApiError(401, "unauthorized", "the API key is not valid for this server")


async def require_write(request: Request) -> None:
    """Allow a write if no key is configured, or the request carries the write key."""
    settings = request.app.state.settings
    if settings.api_key is None and settings.read_api_key is None:
        return
    await require_read(request)
    if not _matches(_presented_key(request), settings.api_key):
        raise ApiError(403, "forbidden", "this key may only read: writes need the write key "
                                         "(--api-key)" if settings.api_key else
                       "this server takes no writes: start it with --api-key to allow them")
