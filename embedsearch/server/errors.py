"""Every failure as one JSON shape, {"error": {"code", "message"}}, and never a traceback.

Domain errors (`EmbedsearchError`) map to 4xx codes a client can act on;
request validation errors name the field; anything else is a bug: it is
logged with the request's id and the client gets a 500 that quotes that id.
The middleware here also gives every request an id (the X-Request-ID
response header) and caps the request body.
"""

from __future__ import annotations

import logging
import re
import uuid

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from ..errors import (EmbedsearchError, EncoderChangedError, EncoderError, FilterError,
                      IndexCorruptError, IndexLockedError, IndexNotFoundError, UnknownWordsError)
from .hosts import host_allowed

logger = logging.getLogger("embedsearch.server")

# Most specific first: the first class an error is an instance of gives its status and code.
DOMAIN_ERRORS = (
    (IndexNotFoundError, 404, "index_not_found"),
    (UnknownWordsError, 404, "unknown_term"),
    (FilterError, 400, "bad_filter"),
    (IndexLockedError, 409, "index_busy"),
    (EncoderChangedError, 409, "encoder_changed"),
    (EncoderError, 400, "encoder_error"),
    (IndexCorruptError, 503, "index_unavailable"),
    (EmbedsearchError, 400, "bad_request"),
)
HTTP_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
              413: "body_too_large", 415: "unsupported_media_type"}


class ApiError(Exception):
    """A client error raised by the server layer itself (auth, limits, policy)."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


MAX_MESSAGE_CHARS = 500  # an error quotes what was wrong, not the whole input
PATH = re.compile(r"(?<![\w.~])(?:/[^\s/'\"():,]+)+/?")


def error_response(status: int, code: str, message: str, headers: dict | None = None) -> JSONResponse:
    if len(message) > MAX_MESSAGE_CHARS:
        message = message[:MAX_MESSAGE_CHARS - 25] + f"... ({len(message):,} characters)"
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status,
                        headers=headers)


def without_paths(message: str) -> str:
    """`message` with each server file path cut to its last part (an index or file name):
    clients of an unavailable index need its name, not the server's folders."""
    return PATH.sub(lambda match: match.group(0).rstrip("/").rsplit("/", 1)[-1], message)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(request: Request, error: ApiError):
        headers = {"WWW-Authenticate": "Bearer"} if error.status == 401 else None
        return error_response(error.status, error.code, error.message, headers)

    @app.exception_handler(EmbedsearchError)
    async def domain_error(request: Request, error: EmbedsearchError):
        status, code = next((s, c) for cls, s, c in DOMAIN_ERRORS if isinstance(error, cls))
        if status >= 500:
            logger.error("request %s: %s", request_id(request), error)
            return error_response(status, code, without_paths(str(error)))
        return error_response(status, code, str(error))

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, error: RequestValidationError):
        problems = error.errors()
        if any(p.get("type") == "json_invalid" for p in problems):
            return error_response(400, "bad_json", "the request body is not valid JSON: "
                                  + "; ".join(p.get("ctx", {}).get("error", p["msg"])
                                              for p in problems))
        return error_response(422, "invalid_request", "; ".join(_describe(p) for p in problems))

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, error: HTTPException):
        return error_response(error.status_code, HTTP_CODES.get(error.status_code, "http_error"),
                              str(error.detail), getattr(error, "headers", None))


def _describe(problem: dict) -> str:
    location = ".".join(str(part) for part in problem.get("loc", ()) if part != "body")
    return f"{location}: {problem['msg']}" if location else problem["msg"]


def request_id(request: Request) -> str:
    return request.scope.get("request_id", "-")


class RequestGuard:
    """ASGI middleware: a request id, a Host check, a body-size cap, and a logged 500 for any bug.

    Plain ASGI rather than a `BaseHTTPMiddleware`, which would cost a task
    and a copy of every response per request.
    """

    def __init__(self, app, max_body_bytes: int, allowed_hosts: tuple[str, ...] | None = None):
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.allowed_hosts = allowed_hosts  # None: any Host (the server checks keys instead)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        scope["request_id"] = identifier = uuid.uuid4().hex[:12]
        started = False

        async def send_with_id(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message["headers"] = list(message.get("headers", [])) + [
                    (b"x-request-id", identifier.encode())]
            await send(message)

        headers = dict(scope.get("headers", []))
        if self.allowed_hosts is not None:
            host = headers.get(b"host")
            if not host_allowed(None if host is None else host.decode("latin-1"),
                                self.allowed_hosts):
                return await error_response(
                    403, "host_not_allowed", "this server answers only requests for this "
                    "machine (Host localhost or 127.0.0.1); behind a proxy, start it with "
                    "--allowed-host NAME")(scope, receive, send_with_id)
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
            return await self._too_large(scope, receive, send_with_id)
        received = 0

        async def receive_capped():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    raise HTTPException(413, self._too_large_message())
            return message

        try:
            await self.app(scope, receive_capped, send_with_id)
        except Exception:
            logger.exception("request %s (%s %s) failed", identifier, scope.get("method"),
                             scope.get("path"))
            if not started:
                response = error_response(500, "internal_error",
                                          f"internal server error (request id {identifier}); "
                                          "the server log has the details")
                await response(scope, receive, send_with_id)

    def _too_large_message(self) -> str:
        return (f"the request body is larger than {self.max_body_bytes:,} bytes: "
                "send fewer queries or items per request")

    async def _too_large(self, scope, receive, send):
        await error_response(413, "body_too_large", self._too_large_message())(scope, receive, send)
