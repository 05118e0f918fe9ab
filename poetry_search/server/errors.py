"""Every error the server answers, in one shape: ``{"error": {"status", "message"}}``.

The library's exceptions become status codes here and nowhere else (``status_of``); FastAPI's own
errors (a parameter of the wrong type, an unknown page) and anything unexpected get the same body.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..errors import (
    IndexChangedError,
    IndexNotFoundError,
    PoemNotFoundError,
    PoetrySearchError,
    UsageProblem,
    VectorsMissingError,
)

log = logging.getLogger("poetry_search")


def status_of(e: PoetrySearchError) -> int:
    """The HTTP status of a library error: 404 no such poem (or line), 400 the fix is in the
    request, 503 no index (yet), 500 the rest."""
    if isinstance(e, PoemNotFoundError):
        return 404
    if isinstance(e, (UsageProblem, VectorsMissingError)):  # the fix is in the request: mode=lexical
        return 400
    if isinstance(e, (IndexNotFoundError, IndexChangedError)):
        return 503
    return 500


def error_body(status: int, message: str) -> dict:
    """The JSON of every error: ``{"error": {"status", "message"}}``."""
    return {"error": {"status": status, "message": message}}


def reply(status: int, message: str) -> JSONResponse:
    """An error response: ``error_body`` with its status."""
    return JSONResponse(error_body(status, message), status_code=status)


async def _our_errors(request: Request, e: PoetrySearchError):
    return reply(status_of(e), str(e))


async def _bad_params(request: Request, e: RequestValidationError):
    parts = []
    for err in e.errors():
        where = ".".join(str(x) for x in err.get("loc", ()) if x not in ("query", "path", "body"))
        parts.append(f"{where}: {err.get('msg', 'invalid')}" if where else err.get("msg", "invalid"))
    return reply(400, "; ".join(parts) + " (see /docs)")


async def _http_errors(request: Request, e: StarletteHTTPException):
    message = f"no such page: {request.url.path} (the API is described at /docs)" if e.status_code == 404 else str(e.detail)
    return reply(e.status_code, message)


async def _unexpected(request: Request, e: Exception):
    log.exception("unexpected error serving %s", request.url.path)
    return reply(500, f"unexpected error: {type(e).__name__} (the server log has the details; please report it)")


def install(app: FastAPI) -> None:
    """Answer every error of ``app`` with ``error_body``."""
    app.add_exception_handler(PoetrySearchError, _our_errors)
    app.add_exception_handler(RequestValidationError, _bad_params)
    app.add_exception_handler(StarletteHTTPException, _http_errors)
    app.add_exception_handler(Exception, _unexpected)
