"""Every error the server answers, in one shape: ``{"error": {"status", "code", "message"}}``.

The library's exceptions become status codes here and nowhere else (``status_of``); FastAPI's own
errors (a parameter out of its declared limits, an unknown page, a method a route does not take)
and anything unexpected get the same body. ``code`` is stable (``CODES``, the table of
docs/http-api.md), so clients can show their own words; the message is for people.
"""

from __future__ import annotations

import logging
import re

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..errors import (
    IndexChangedError,
    IndexDamagedError,
    IndexNotFoundError,
    PoemNotFoundError,
    PoetrySearchError,
    UsageProblem,
    VectorsMissingError,
)
from ..options import MAX_QUERY_CHARS

log = logging.getLogger("poetry_search")

#: Every ``code`` an error body can carry, with its status: the library's (``PoetrySearchError.code``)
#: and the server's own. docs/http-api.md has this table; tests/test_server_contract.py checks both.
CODES: dict[str, int] = {
    "bad_request": 400, "empty_query": 400, "text_too_long": 400, "invalid_text": 400, "bad_encoding": 400,
    "bad_offset": 400, "unknown_dynasty": 400, "unknown_collection": 400, "unknown_form": 400, "no_vectors": 400,
    "model_mismatch": 400, "body_too_large": 413, "not_found": 404, "poem_not_found": 404, "author_not_found": 404,
    "bad_tones": 400, "unknown_rhyme": 400, "bad_char": 400, "unknown_char": 400,
    "method_not_allowed": 405, "index_not_found": 503, "index_changed": 503, "index_damaged": 503,
    "unexpected": 500, "error": 500, "corpus_unreadable": 500, "model_not_found": 500, "build_failed": 500,
    "missing_dependency": 500, "bad_commit_every": 500,  # a build's environment: the server cannot fix it
}

# An absolute path in a message (a file of the server's): shown by its last part only.
_ABSOLUTE = re.compile(r"(?<![\w.:/])/(?:[^\s/`'\"()]+/)+([^\s/`'\"():;,]+)")


def status_of(e: PoetrySearchError) -> int:
    """The HTTP status of a library error: 404 no such poem (or line), 413 a body too large, 400
    the fix is in the request, 503 no index (yet) or a damaged one, 500 the rest."""
    if isinstance(e, PoemNotFoundError):
        return 404
    if e.code == "body_too_large":
        return 413
    if isinstance(e, (UsageProblem, VectorsMissingError)):  # the fix is in the request: mode=lexical
        return 400
    if isinstance(e, (IndexNotFoundError, IndexChangedError, IndexDamagedError)):
        return 503
    return 500


def code_of(e: PoetrySearchError) -> str:
    """``e.code`` when it is one of ``CODES``; else the generic code of its status."""
    if e.code in CODES:
        return e.code
    return {400: "bad_request", 404: "not_found", 413: "body_too_large", 503: "index_not_found"}.get(status_of(e), "error")


def public(message: str) -> str:
    """``message`` without the server's absolute paths (each becomes its last part)."""
    return _ABSOLUTE.sub(lambda m: m.group(1), message)


def error_body(status: int, message: str, code: str | None = None) -> dict:
    """The JSON of every error: ``{"error": {"status", "code", "message"}}``."""
    return {"error": {"status": status, "code": code or _generic(status), "message": message}}


def _generic(status: int) -> str:
    return {400: "bad_request", 404: "not_found", 405: "method_not_allowed", 413: "body_too_large",
            503: "index_not_found"}.get(status, "error" if status < 500 else "unexpected")


def reply(status: int, message: str, code: str | None = None, headers: dict | None = None) -> JSONResponse:
    """An error response: ``error_body`` with its status."""
    return JSONResponse(error_body(status, message, code), status_code=status, headers=headers)


async def _our_errors(request: Request, e: PoetrySearchError):
    status = status_of(e)
    message = public(str(e)) if status >= 500 else str(e)
    return reply(status, message, code_of(e))


# pydantic's error types, in the words of the API's own checks (params.py says the same things).
def _validation_message(err: dict) -> tuple[str, str]:
    loc = [str(x) for x in err.get("loc", ()) if x not in ("query", "path", "body")]
    where = ".".join(loc) or "the request"
    kind, ctx, got = err.get("type", ""), err.get("ctx") or {}, err.get("input")
    if kind == "missing":
        if where in ("q", "pattern"):
            return "empty_query", f"{where} is empty: pass a line of poetry, e.g. ?{where}=大梦谁先觉"
        return "bad_request", f"{where} is missing (see /docs)"
    if kind == "string_too_short":
        return "empty_query", f"{where} is empty: pass a line of poetry, e.g. ?{where}=大梦谁先觉"
    if kind == "string_too_long":
        limit = ctx.get("max_length")
        code = "text_too_long" if limit == MAX_QUERY_CHARS else "bad_request"
        n = len(got) if isinstance(got, str) else "too many"
        return code, f"{where} is {n:,} characters long: at most {limit} are searched" if isinstance(n, int) else \
            f"{where} is too long: at most {limit} characters"
    if kind in ("greater_than_equal", "less_than_equal"):
        low, high = _bounds(err)
        shown = f"{got:,}" if isinstance(got, int) else str(got)[:20]
        return ("bad_offset" if where == "offset" else "bad_request"), \
            f"{where} must be between {low} and {high} (got {shown})"
    if kind == "literal_error":
        allowed = ctx.get("expected", "")
        return "bad_request", f"unknown {where} {str(got)[:40]!r}: use one of {allowed.replace(chr(39), '')}"
    return "bad_request", f"{where}: {err.get('msg', 'invalid')} (see /docs)"


def _bounds(err: dict) -> tuple[str, str]:
    # pydantic reports the one bound crossed; the route's declared range is in the schema.
    from ..options import MAX_K, MAX_OFFSET, MAX_RHYME_BOOK_CHARS, MAX_START_POETS

    name = [str(x) for x in err.get("loc", ())][-1]
    high = {"k": MAX_K, "offset": MAX_OFFSET, "poets": MAX_START_POETS, "limit": MAX_RHYME_BOOK_CHARS}.get(name)
    low = err.get("ctx", {}).get("ge", 0 if name == "offset" else 1)
    return str(low), f"{high:,}" if high is not None else str(err.get("ctx", {}).get("le", "…"))


async def _bad_params(request: Request, e: RequestValidationError):
    errs = e.errors()
    codes, messages = zip(*(_validation_message(err) for err in errs)) if errs else (("bad_request",), ("invalid request",))
    return reply(400, "; ".join(messages), codes[0])


async def _http_errors(request: Request, e: StarletteHTTPException):
    if e.status_code == 404:
        message = f"no such page: {request.url.path[:100]} (the API is described at /docs)"
    elif e.status_code == 405:
        allow = (e.headers or {}).get("Allow") or (e.headers or {}).get("allow", "")
        message = f"{request.method[:20]} is not allowed here: use {allow or 'another method'} (see /docs)"
    else:
        message = str(e.detail)
    return reply(e.status_code, message, headers=dict(e.headers) if e.headers else None)


async def _unexpected(request: Request, e: Exception):
    log.exception("unexpected error serving %s", request.url.path)
    return reply(500, f"unexpected error: {type(e).__name__} (the server log has the details; please report it)", "unexpected")


def install(app: FastAPI) -> None:
    """Answer every error of ``app`` with ``error_body``."""
    app.add_exception_handler(PoetrySearchError, _our_errors)
    app.add_exception_handler(RequestValidationError, _bad_params)
    app.add_exception_handler(StarletteHTTPException, _http_errors)
    app.add_exception_handler(Exception, _unexpected)
