"""The JSON API: each route checks its input (``params``), calls the library on the index of the
app's ``IndexHolder`` and returns what the library returned, as the CLI's ``--json`` would print it.
No search logic lives here; what is added is for the page (``folds``: which characters to
highlight in either script).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from starlette.concurrency import run_in_threadpool

from ..errors import PoemNotFoundError
from ..options import MAX_K, MAX_OFFSET, MAX_TEXTS
from . import params
from .batcher import SearchBatcher
from .holder import IndexHolder

# Index.info's file paths are the server's business, not the caller's.
PRIVATE_INFO = ("database", "vectors", "index", "model_path", "corpus")

router = APIRouter()


class FacetsCache:
    """``Index.facets`` of the index being served, read once per index (the page asks on every load)."""

    def __init__(self):
        self._cache: dict[int, dict] = {}

    def __call__(self, idx) -> dict:
        key = id(idx)
        if key not in self._cache:
            self._cache.clear()
            self._cache[key] = idx.facets()
        return self._cache[key]


async def _holder(request: Request) -> IndexHolder:
    return request.app.state.holder


async def _batcher(request: Request) -> SearchBatcher | None:
    return request.app.state.batcher


async def _facets(request: Request) -> FacetsCache:
    return request.app.state.facets


Holder = Annotated[IndexHolder, Depends(_holder)]
Batcher = Annotated[SearchBatcher | None, Depends(_batcher)]
Facets = Annotated[FacetsCache, Depends(_facets)]


def search_call(idx, text: str, args: dict):
    """``idx.search(text, **args)`` (one place, so the tests call the library exactly as the API does)."""
    return search_batch_call(idx, [text], args)[0]


def search_batch_call(idx, texts: list[str], args: dict):
    """``idx.search_batch(texts, **args)``: ``search`` is ``search_batch`` of one text."""
    return idx.search_batch(texts, **args)


def hits_json(hits) -> list[dict]:
    return [h.to_dict() for h in hits]


q_doc = Query(None, description="The query: a line of poetry, simplified or traditional.")


@router.get("/api/search", tags=["search"], summary="Nearest lines (or poems) to a query")
def api_search(holder: Holder, batcher: Batcher, q: str | None = q_doc,
               k: int = Query(10, description=f"Hits to return, 1-{MAX_K}."),
               mode: str = Query("hybrid", description="hybrid, semantic or lexical."),
               author: str | None = None, dynasty: str | None = None, collection: str | None = None,
               form: str | None = None, poems: bool = Query(False, description="Group the hits by poem."),
               sort: str = Query("score", description="score or popularity.")):
    """``Index.search``: the JSON of ``poetry-search query --json`` (plus the arguments used)."""
    text = params.text_param(q, "q")
    args = params.search_args(k, mode, author, dynasty, collection, form, sort, poems)
    if batcher is None:
        found = holder.run(lambda idx: search_call(idx, text, args))
    else:
        holder.run(lambda idx: idx.queries.normalize(text))  # a bad query fails alone, not its batch
        found = batcher.search(text, args)
    hits = hits_json(found)
    return {"query": text, **args, "hits": hits, "folds": folds(text, _strings(hits))}


@router.get("/api/find", tags=["search"], summary="Lines matching a pattern, title or author")
def api_find(holder: Holder,
             pattern: str | None = Query(None, description="A fragment (谁先觉); ? is one character, * any run."),
             title: str | None = None, author: str | None = None, dynasty: str | None = None,
             collection: str | None = None, form: str | None = None,
             k: int = Query(10, description=f"Hits to return, 1-{MAX_K}."),
             offset: int = Query(0, description=f"Skip this many matches (paging), 0-{MAX_OFFSET:,}."),
             poems: bool = False, sort: str = Query("default", description="default or popularity.")):
    """``Index.find``: ``{"total", "offset", "k", "hits"}``."""
    args = params.find_args(title, author, dynasty, collection, form, k, offset, sort, poems)
    pat = params.find_pattern(pattern, args)
    result = holder.run(lambda idx: idx.find(pat, **args))
    hits = hits_json(result.hits)
    return {"pattern": pat, "total": result.total, "offset": result.offset, "k": result.k,
            "hits": hits, "folds": folds(pat, _strings(hits))}


@router.get("/api/poems/{poem_id:path}", tags=["poems"], summary="A whole poem")
def api_poem(holder: Holder, poem_id: str,
             q: str | None = Query(None, description="Optional: a query whose characters the page highlights.")):
    """``Index.poem``: the poem with its lines (each with its ``text_id`` for echoes)."""
    params.poem_id_param(poem_id)
    text = params.text_param(q, "q", required=False)

    def call(idx):
        poem = idx.poem(poem_id)
        return {**poem, "folds": folds(text, [poem.get("title", "")] + list(poem.get("paragraphs", [])))}

    return holder.run(call)


@router.get("/api/lines/{text_id}/echoes", tags=["poems"], summary="A line's nearest lines by other poets")
def api_echoes(holder: Holder, text_id: int, k: int = Query(10, description=f"Echoes to return, 1-{MAX_K}."),
               order: str = Query("dynasty", description="dynasty (earliest first, then score) or score.")):
    """``Index.echoes``: the nearest lines by other authors (``export --exclude author``)."""
    k, order = params.echo_args(k, order)

    def call(idx):
        # Over HTTP an unknown line is a 404, like an unknown poem (the library says UsageProblem).
        if not 0 <= text_id < len(idx):
            raise PoemNotFoundError(f"no line has id {text_id}: ids run from 0 to {len(idx) - 1}")
        hits = idx.echoes(text_id, k=k)
        if order == "dynasty":
            from ..corpus.dynasties import earliest_first

            hits = earliest_first(hits)
        return {"id": text_id, "k": k, "order": order, "hits": hits_json(hits)}

    return holder.run(call)


@router.post("/api/similarity", tags=["search"], summary="Cosine similarity matrix of a few texts",
             openapi_extra={"requestBody": {"required": True, "content": {"application/json": {"schema": {
                 "type": "object", "required": ["texts"], "properties": {"texts": {
                     "type": "array", "items": {"type": "string"}, "minItems": 2, "maxItems": MAX_TEXTS}}}}}}})
async def api_similarity(holder: Holder, request: Request):
    """``Index.similarity``: ``{"texts", "matrix"}`` as ``poetry-search similarity --json``."""
    texts = params.similarity_texts(await params.read_body(request))

    def call(idx):
        m = idx.similarity(texts)
        return {"texts": texts, "matrix": [[round(float(x), 4) for x in row] for row in m]}

    return await run_in_threadpool(holder.run, call)


@router.get("/api/info", tags=["index"], summary="How the index was made, and its filter values")
def api_info(holder: Holder, facets: Facets):
    """``Index.info`` (without the server's file paths) and the values the page's filters offer."""
    def call(idx):
        info = {k: v for k, v in idx.info().items() if k not in PRIVATE_INFO}
        return {**info, "has_vectors": bool(getattr(idx, "has_vectors", True)), "facets": facets(idx),
                "limits": params.limits()}

    return holder.run(call)


@router.get("/healthz", tags=["index"], summary="200 when an index is loaded, 503 while there is none")
def healthz(holder: Holder):
    idx = holder.get()
    return {"status": "ok", "lines": len(idx), "generation": holder.generation}


def _strings(hits: list[dict]) -> list[str]:
    """The displayed strings of hits (and of a poem hit's lines)."""
    out = []
    for h in hits:
        out += [h.get("original") or "", h.get("context") or "", h.get("title") or ""]
        out += _strings(h.get("lines") or [])
    return out


def folds(query: str | None, texts: list[str]) -> dict:
    """What the page needs to highlight ``query``'s characters in ``texts`` in either script:
    ``{"query": folded query characters, "chars": {traditional: simplified}}`` for the characters
    of ``texts`` that fold to something else."""
    from ..corpus.normalize import fold

    chars = {c for t in texts for c in t}
    return {"query": sorted(set(fold(query))) if query else [],
            "chars": {c: f for c in sorted(chars) if (f := fold(c)) != c and len(f) == 1}}
