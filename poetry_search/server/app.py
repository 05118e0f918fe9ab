"""The HTTP face of the library: a JSON API whose calls mirror ``Index`` and the page at ``/``.

``create_app`` assembles the parts: the index holder and the search batcher (``app.state``), the
API routes (``api``), the page (``page``), one answer for every error (``errors``), and the checks
every request goes through (UTF-8 URLs, ``nosniff``). No search logic lives in the server.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote_to_bytes

from fastapi import FastAPI, Request
from fastapi_offline import FastAPIOffline

from ..options import MAX_BATCH, MAX_BODY_BYTES
from . import api, docs, errors, page, reader
from .api import search_batch_call, search_call  # noqa: F401 - the tests call the library as the API does
from .batcher import SearchBatcher
from .errors import error_body  # noqa: F401 - the shape of every error body
from .holder import IndexHolder


def create_app(index: str | Path = "index", *, holder: IndexHolder | None = None, check_interval: float = 1.0,
               max_batch: int = MAX_BATCH) -> FastAPI:
    """The FastAPI application serving ``index`` (loaded now; a missing index answers 503 until built).
    ``max_batch``: concurrent searches with the same arguments share one encoder pass, up to this
    many (1: each search encodes on its own)."""
    if holder is None:
        holder = IndexHolder(index, check_interval=check_interval)
        holder.load()
    # /docs and /redoc from the package's own copies of Swagger UI and ReDoc: they work offline.
    app = FastAPIOffline(
        title="poetry-search",
        summary="Semantic and lexical search over classical Chinese poetry.",
        description="The same calls as the Python library and the CLI (`poetry-search query --json`); "
                    "errors are `{\"error\": {\"status\", \"code\", \"message\"}}` with a stable `code` "
                    "(the table is in docs/http-api.md). Swagger UI (Apache-2.0) and ReDoc (MIT) are served "
                    "from the package; their licences are at /docs-licences/.",
        version=_version(),
    )
    app.state.holder = holder
    app.state.batcher = SearchBatcher(lambda texts, args: holder.run(lambda idx: search_batch_call(idx, texts, args)),
                                      max_batch=max_batch) if max_batch > 1 else None
    app.state.facets = api.FacetsCache()
    errors.install(app)
    app.middleware("http")(_utf8_only)
    app.include_router(api.router)
    app.include_router(reader.router)
    app.include_router(page.router)
    app.include_router(docs.router)
    docs.declare_errors_only(app)
    return app


async def _utf8_only(request: Request, call_next):
    # Starlette would turn undecodable bytes into U+FFFD and search for that; say so instead.
    raw_qs = request.scope.get("query_string", b"")
    raw_path = request.scope.get("raw_path") or request.scope.get("path", "").encode()
    bad = _not_utf8(raw_qs, raw_path)
    if bad:
        return errors.reply(400, bad, "bad_encoding")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        return errors.reply(413, f"the request body is {int(declared):,} bytes: at most {MAX_BODY_BYTES:,}", "body_too_large")
    response = await call_next(request)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    return response


def _not_utf8(raw_qs: bytes, raw_path: bytes) -> str | None:
    """What is wrong with a URL that is not UTF-8 (a lone surrogate's bytes are not UTF-8 either),
    naming the parameter; None when it is."""
    for part in raw_qs.split(b"&"):
        name, _, value = part.partition(b"=")
        for what, raw in ((name, value), (None, name)):
            try:
                unquote_to_bytes(raw.replace(b"+", b" ")).decode("utf-8")
            except UnicodeDecodeError as e:
                field = "a parameter name" if what is None else \
                    unquote_to_bytes(what).decode("utf-8", "replace")[:40] or "a parameter"
                return (f"{field} is not UTF-8 (byte {e.start}; a lone surrogate is not text either): "
                        "percent-encode the query as UTF-8 (e.g. q=%E6%98%A5)")
    try:
        unquote_to_bytes(raw_path).decode("utf-8")
    except UnicodeDecodeError as e:
        return f"the request path is not UTF-8 (byte {e.start}): percent-encode it as UTF-8"
    return None


def _version() -> str:
    from .. import __version__

    return __version__
