"""The HTTP face of the library: a JSON API whose calls mirror ``Index`` and the page at ``/``.

Every route checks its input, makes one library call through the ``IndexHolder`` and returns what
the library returned, as the CLI's ``--json`` would print it. No search logic lives here.
"""

from __future__ import annotations

import json
import logging
from importlib import resources
from pathlib import Path
from urllib.parse import unquote_to_bytes

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..errors import (
    IndexChangedError,
    IndexNotFoundError,
    PoemNotFoundError,
    PoetrySearchError,
    UsageProblem,
    VectorsMissingError,
)
from ..options import (
    ECHO_ORDERS,
    FIND_SORTS,
    MAX_BATCH,
    MAX_BODY_BYTES,
    MAX_FILTER_CHARS,
    MAX_K,
    MAX_OFFSET,
    MAX_POEM_ID_CHARS,
    MAX_QUERY_CHARS,
    MAX_TEXTS,
    MODES,
    SORTS,
)
from .holder import IndexHolder

log = logging.getLogger("poetry_search")

STATIC = resources.files("poetry_search.server") / "static"
PAGES = {"/": ("index.html", "text/html; charset=utf-8"), "/static/app.css": ("app.css", "text/css; charset=utf-8"),
         "/static/app.js": ("app.js", "text/javascript; charset=utf-8"),
         "/static/favicon.svg": ("favicon.svg", "image/svg+xml")}


def _status(e: Exception) -> int:
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


def create_app(index: str | Path = "index", *, holder: IndexHolder | None = None, check_interval: float = 1.0,
               max_batch: int = MAX_BATCH):
    """The FastAPI application serving ``index`` (loaded now; a missing index answers 503 until built).
    ``max_batch``: concurrent searches with the same arguments share one encoder pass, up to this
    many (1: each search encodes on its own)."""
    from .batcher import SearchBatcher

    if holder is None:
        holder = IndexHolder(index, check_interval=check_interval)
        holder.load()
    app = FastAPI(
        title="poetry-search",
        summary="Semantic and lexical search over classical Chinese poetry.",
        description="The same calls as the Python library and the CLI (`poetry-search query --json`); "
                    "errors are `{\"error\": {\"status\", \"message\"}}`.",
        version=_version(),
    )
    app.state.holder = holder
    batcher = SearchBatcher(lambda texts, args: holder.run(lambda idx: search_batch_call(idx, texts, args)),
                            max_batch=max_batch) if max_batch > 1 else None
    app.state.batcher = batcher

    def reply(status: int, message: str):
        return JSONResponse(error_body(status, message), status_code=status)

    @app.exception_handler(PoetrySearchError)
    async def _our_errors(request: Request, e: PoetrySearchError):
        return reply(_status(e), str(e))

    @app.exception_handler(RequestValidationError)
    async def _bad_params(request: Request, e: RequestValidationError):
        parts = []
        for err in e.errors():
            where = ".".join(str(x) for x in err.get("loc", ()) if x not in ("query", "path", "body"))
            parts.append(f"{where}: {err.get('msg', 'invalid')}" if where else err.get("msg", "invalid"))
        return reply(400, "; ".join(parts) + " (see /docs)")

    @app.exception_handler(StarletteHTTPException)
    async def _http_errors(request: Request, e: StarletteHTTPException):
        message = f"no such page: {request.url.path} (the API is described at /docs)" if e.status_code == 404 else str(e.detail)
        return reply(e.status_code, message)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, e: Exception):
        log.exception("unexpected error serving %s", request.url.path)
        return reply(500, f"unexpected error: {type(e).__name__} (the server log has the details; please report it)")

    @app.middleware("http")
    async def _utf8_only(request: Request, call_next):
        # Starlette would turn undecodable bytes into U+FFFD and search for that; say so instead.
        raw_qs = request.scope.get("query_string", b"")
        raw_path = request.scope.get("raw_path") or request.scope.get("path", "").encode()
        try:
            unquote_to_bytes(raw_qs).decode("utf-8")
            unquote_to_bytes(raw_path).decode("utf-8")
        except UnicodeDecodeError:
            return reply(400, "the request URL is not UTF-8: percent-encode the query as UTF-8 (e.g. q=%E6%98%A5)")
        response = await call_next(request)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        return response

    # -- input checks (one message each, naming the fix) --------------------------------------

    def text_param(value: str | None, name: str, required: bool = True) -> str | None:
        if value is None or not value.strip():
            if required:
                raise UsageProblem(f"{name} is empty: pass a line of poetry, e.g. ?{name}=大梦谁先觉")
            return None
        if len(value) > MAX_QUERY_CHARS:
            raise UsageProblem(f"{name} is {len(value):,} characters long: at most {MAX_QUERY_CHARS} are searched")
        return value

    def filter_param(value: str | None, name: str) -> str | None:
        if value is None or not value.strip():
            return None
        if len(value) > MAX_FILTER_CHARS:
            raise UsageProblem(f"{name} is {len(value):,} characters long: at most {MAX_FILTER_CHARS}")
        return value.strip()

    def bounded(value: int, name: str, low: int, high: int) -> int:
        if not low <= value <= high:
            raise UsageProblem(f"{name} must be between {low} and {high:,} (got {value:,})")
        return value

    def choice(value: str, name: str, allowed: tuple[str, ...]) -> str:
        if value not in allowed:
            raise UsageProblem(f"unknown {name} {value[:40]!r}: use one of {', '.join(allowed)}")
        return value

    def hits_json(hits) -> list[dict]:
        return [h.to_dict() for h in hits]

    # -- the API -------------------------------------------------------------------------------

    q_doc = Query(None, description="The query: a line of poetry, simplified or traditional.")

    @app.get("/api/search", tags=["search"], summary="Nearest lines (or poems) to a query")
    def api_search(q: str | None = q_doc, k: int = Query(10, description=f"Hits to return, 1-{MAX_K}."),
                   mode: str = Query("hybrid", description="hybrid, semantic or lexical."),
                   author: str | None = None, dynasty: str | None = None, collection: str | None = None,
                   form: str | None = None, poems: bool = Query(False, description="Group the hits by poem."),
                   sort: str = Query("score", description="score or popularity.")):
        """``Index.search``: the JSON of ``poetry-search query --json`` (plus the arguments used)."""
        text = text_param(q, "q")
        args = dict(k=bounded(k, "k", 1, MAX_K), mode=choice(mode, "mode", MODES),
                    author=filter_param(author, "author"), dynasty=filter_param(dynasty, "dynasty"),
                    collection=filter_param(collection, "collection"), form=filter_param(form, "form"),
                    sort=choice(sort, "sort", SORTS), poems=poems)
        if batcher is None:
            found = holder.run(lambda idx: search_call(idx, text, args))
        else:
            holder.run(lambda idx: idx.queries.normalize(text))  # a bad query fails alone, not its batch
            found = batcher.search(text, args)
        hits = hits_json(found)
        return {"query": text, **args, "hits": hits, "folds": _folds(text, _strings(hits))}

    @app.get("/api/find", tags=["search"], summary="Lines matching a pattern, title or author")
    def api_find(pattern: str | None = Query(None, description="A fragment (谁先觉); ? is one character, * any run."),
                 title: str | None = None, author: str | None = None, dynasty: str | None = None,
                 collection: str | None = None, form: str | None = None,
                 k: int = Query(10, description=f"Hits to return, 1-{MAX_K}."),
                 offset: int = Query(0, description=f"Skip this many matches (paging), 0-{MAX_OFFSET:,}."),
                 poems: bool = False, sort: str = Query("default", description="default or popularity.")):
        """``Index.find``: ``{"total", "offset", "k", "hits"}``."""
        args = dict(title=filter_param(title, "title"), author=filter_param(author, "author"),
                    dynasty=filter_param(dynasty, "dynasty"), collection=filter_param(collection, "collection"),
                    form=filter_param(form, "form"), k=bounded(k, "k", 1, MAX_K),
                    offset=bounded(offset, "offset", 0, MAX_OFFSET), sort=choice(sort, "sort", FIND_SORTS),
                    poems=poems)
        pat = text_param(pattern, "pattern", required=not (args["title"] or args["author"]))
        result = holder.run(lambda idx: idx.find(pat, **args))
        hits = hits_json(result.hits)
        return {"pattern": pat, "total": result.total, "offset": result.offset, "k": result.k,
                "hits": hits, "folds": _folds(pat, _strings(hits))}

    @app.get("/api/poems/{poem_id:path}", tags=["poems"], summary="A whole poem")
    def api_poem(poem_id: str, q: str | None = Query(None, description="Optional: a query whose characters the page highlights.")):
        """``Index.poem``: the poem with its lines (each with its ``text_id`` for echoes)."""
        if not poem_id or len(poem_id) > MAX_POEM_ID_CHARS:
            raise UsageProblem(f"a poem id is 1-{MAX_POEM_ID_CHARS} characters (got {len(poem_id)})")
        text = text_param(q, "q", required=False)

        def call(idx):
            poem = idx.poem(poem_id)
            return {**poem, "folds": _folds(text, [poem.get("title", "")] + list(poem.get("paragraphs", [])))}

        return holder.run(call)

    @app.get("/api/lines/{text_id}/echoes", tags=["poems"], summary="A line's nearest lines by other poets")
    def api_echoes(text_id: int, k: int = Query(10, description=f"Echoes to return, 1-{MAX_K}."),
                   order: str = Query("dynasty", description="dynasty (earliest first, then score) or score.")):
        """``Index.echoes``: the nearest lines by other authors (``export --exclude author``)."""
        bounded(k, "k", 1, MAX_K)
        choice(order, "order", ECHO_ORDERS)

        def call(idx):
            if not 0 <= text_id < len(idx):
                raise _not_found(f"no line has id {text_id}: ids run from 0 to {len(idx) - 1}")
            hits = idx.echoes(text_id, k=k)
            if order == "dynasty":
                from ..corpus.dynasties import earliest_first

                hits = earliest_first(hits)
            return {"id": text_id, "k": k, "order": order, "hits": hits_json(hits)}

        return holder.run(call)

    @app.post("/api/similarity", tags=["search"], summary="Cosine similarity matrix of a few texts",
              openapi_extra={"requestBody": {"required": True, "content": {"application/json": {"schema": {
                  "type": "object", "required": ["texts"], "properties": {"texts": {
                      "type": "array", "items": {"type": "string"}, "minItems": 2, "maxItems": MAX_TEXTS}}}}}}})
    async def api_similarity(request: Request):
        """``Index.similarity``: ``{"texts", "matrix"}`` as ``poetry-search similarity --json``."""
        body = await _read_body(request)
        try:
            data = json.loads(body.decode("utf-8"))
        except UnicodeDecodeError:
            raise UsageProblem("the request body is not UTF-8: send JSON like {\"texts\": [\"春眠不觉晓\", \"大梦谁先觉\"]}") from None
        except json.JSONDecodeError as e:
            raise UsageProblem(f"the request body is not JSON ({e.msg}): send {{\"texts\": [\"春眠不觉晓\", \"大梦谁先觉\"]}}") from None
        texts = data.get("texts") if isinstance(data, dict) else None
        if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
            raise UsageProblem("send {\"texts\": [...]}: a list of strings")
        if not 2 <= len(texts) <= MAX_TEXTS:
            raise UsageProblem(f"send 2 to {MAX_TEXTS} texts (got {len(texts)})")
        texts = [text_param(t, "texts[]") for t in texts]

        def call(idx):
            m = idx.similarity(texts)
            return {"texts": texts, "matrix": [[round(float(x), 4) for x in row] for row in m]}

        return await run_in_threadpool(holder.run, call)

    @app.get("/api/info", tags=["index"], summary="How the index was made, and its filter values")
    def api_info():
        """``Index.info`` (without the server's file paths) and the values the page's filters offer."""
        def call(idx):
            info = {k: v for k, v in idx.info().items() if k not in ("database", "vectors", "index", "model_path", "corpus")}
            return {**info, "has_vectors": bool(getattr(idx, "has_vectors", True)), "facets": facets(idx), "limits": {"query_chars": MAX_QUERY_CHARS, "k": MAX_K,
                                                                "offset": MAX_OFFSET, "texts": MAX_TEXTS}}

        return holder.run(call)

    @app.get("/healthz", tags=["index"], summary="200 when an index is loaded, 503 while there is none")
    def healthz():
        idx = holder.get()
        return {"status": "ok", "lines": len(idx), "generation": holder.generation}

    _facets_cache: dict[int, dict] = {}

    def facets(idx) -> dict:
        key = id(idx)
        if key not in _facets_cache:
            _facets_cache.clear()
            _facets_cache[key] = idx.facets()
        return _facets_cache[key]

    async def _read_body(request: Request) -> bytes:
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
            raise _too_large(int(declared))
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > MAX_BODY_BYTES:
                raise _too_large(size)
            chunks.append(chunk)
        return b"".join(chunks)

    def _too_large(size: int) -> UsageProblem:
        return UsageProblem(f"the request body is {size:,} bytes or more: at most {MAX_BODY_BYTES:,} "
                            f"(up to {MAX_TEXTS} texts of {MAX_QUERY_CHARS} characters)")

    # -- the page ------------------------------------------------------------------------------

    def page(path: str):
        name, media = PAGES[path]
        # Only these package files, by fixed name: nothing from the request picks a file.
        body = (STATIC / name).read_bytes()
        headers = {"Cache-Control": "no-cache"}
        if name == "index.html":
            headers["Content-Security-Policy"] = ("default-src 'self'; script-src 'self'; style-src 'self'; "
                                                  "img-src 'self' data:; object-src 'none'; base-uri 'none'")
        return Response(body, media_type=media, headers=headers)

    for path in PAGES:
        app.add_api_route(path, (lambda p: (lambda: page(p)))(path), methods=["GET"], include_in_schema=False)

    return app


def search_call(idx, text: str, args: dict):
    """``idx.search(text, **args)`` (one place, so the tests call the library exactly as the API does)."""
    return search_batch_call(idx, [text], args)[0]


def search_batch_call(idx, texts: list[str], args: dict):
    """``idx.search_batch(texts, **args)``: ``search`` is ``search_batch`` of one text."""
    return idx.search_batch(texts, **args)


def _not_found(message: str) -> PoetrySearchError:
    return PoemNotFoundError(message)


def _strings(hits: list[dict]) -> list[str]:
    """The displayed strings of hits (and of a poem hit's lines)."""
    out = []
    for h in hits:
        out += [h.get("original") or "", h.get("context") or "", h.get("title") or ""]
        out += _strings(h.get("lines") or [])
    return out


def _folds(query: str | None, texts: list[str]) -> dict:
    """What the page needs to highlight ``query``'s characters in ``texts`` in either script:
    ``{"query": folded query characters, "chars": {traditional: simplified}}`` for the characters
    of ``texts`` that fold to something else."""
    from ..corpus.normalize import fold

    chars = {c for t in texts for c in t}
    return {"query": sorted(set(fold(query))) if query else [],
            "chars": {c: f for c in sorted(chars) if (f := fold(c)) != c and len(f) == 1}}


def _version() -> str:
    from .. import __version__

    return __version__
