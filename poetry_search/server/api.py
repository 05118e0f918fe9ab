"""The JSON API: each route checks its input (``params``), calls the library on the index of the
app's ``IndexHolder`` and returns what the library returned, as the CLI's ``--json`` would print it.
No search logic lives here; what is added is for the page (``folds``: which characters to
highlight in either script).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from starlette.concurrency import run_in_threadpool

from ..errors import PoemNotFoundError
from ..options import (
    MAX_FILTER_CHARS,
    MAX_K,
    MAX_OFFSET,
    MAX_POEM_ID_CHARS,
    MAX_QUERY_CHARS,
    MAX_TEXTS,
)
from . import models, params
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


Text = Annotated[str | None, Query(max_length=MAX_QUERY_CHARS)]
Filter = Annotated[str | None, Query(max_length=MAX_FILTER_CHARS)]
K = Annotated[int, Query(ge=1, le=MAX_K, description=f"Hits to return, 1-{MAX_K}.")]
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET, description=f"Skip this many hits first (paging), 0-{MAX_OFFSET:,}.")]
AUTHOR = "Only lines by this author (either script); an author with no poems gives no hits and `suggestions`."
DYNASTY = "Only lines of this dynasty: 唐, 宋, 元… (or tang, song…); an unknown one is a 400 listing the known."
COLLECTION = "Only lines of this collection or book: songci, 唐诗三百首, 诗经…; an unknown one is a 400."
FORM = "Only poems of this form (五言绝句…) or ci-pai (浣溪沙…)."


def _suggestions(idx, author: str | None, hits: list) -> list[str]:
    """The nearest known authors when ``author`` is set, has no poems and nothing was found."""
    return idx.author_suggestions(author) if author and not hits else []


@router.get("/api/search", tags=["search"], summary="Nearest lines (or poems) to a query",
            response_model=models.SearchResult, responses=models.errors(400, 503))
def api_search(holder: Holder, batcher: Batcher,
               q: Annotated[str, Query(min_length=1, max_length=MAX_QUERY_CHARS,
                                       description="The query: a line of poetry, simplified or traditional.")],
               k: K = 10, offset: Offset = 0,
               mode: Annotated[models.Mode, Query(description="hybrid, semantic or lexical.")] = "hybrid",
               author: Annotated[Filter, Query(description=AUTHOR)] = None,
               dynasty: Annotated[Filter, Query(description=DYNASTY)] = None,
               collection: Annotated[Filter, Query(description=COLLECTION)] = None,
               form: Annotated[Filter, Query(description=FORM)] = None,
               poems: Annotated[bool, Query(description="Group the hits by poem.")] = False,
               sort: Annotated[models.Sort, Query(description="score or popularity.")] = "score"):
    """``Index.search``: the JSON of ``poetry-search query --json`` (plus the arguments used)."""
    text = params.text_param(q, "q")
    args = params.search_args(k, mode, author, dynasty, collection, form, sort, poems, offset)
    if batcher is None:
        found = holder.run(lambda idx: search_call(idx, text, args))
    else:
        holder.run(lambda idx: idx.queries.normalize(text))  # a bad query fails alone, not its batch
        found = batcher.search(text, args)
    hits = hits_json(found)
    suggestions = holder.run(lambda idx: _suggestions(idx, args["author"], hits))
    return {"query": text, **args, "hits": hits, "suggestions": suggestions, "folds": folds(text, _strings(hits))}


@router.get("/api/find", tags=["search"], summary="Lines matching a pattern, title or author",
            response_model=models.FindResult, responses=models.errors(400, 503))
def api_find(holder: Holder,
             pattern: Annotated[Text, Query(description="A fragment (谁先觉); ? is one character, * any run. "
                                                        "May be left out with a title or an author.")] = None,
             title: Annotated[Filter, Query(description="Only poems whose title contains this.")] = None,
             author: Annotated[Filter, Query(description=AUTHOR)] = None,
             dynasty: Annotated[Filter, Query(description=DYNASTY)] = None,
             collection: Annotated[Filter, Query(description=COLLECTION)] = None,
             form: Annotated[Filter, Query(description=FORM)] = None,
             k: K = 10, offset: Offset = 0, poems: bool = False,
             sort: Annotated[models.FindSort, Query(description="default or popularity.")] = "default"):
    """``Index.find``: ``{"total", "offset", "k", "hits"}``."""
    args = params.find_args(title, author, dynasty, collection, form, k, offset, sort, poems)
    pat = params.find_pattern(pattern, args)

    def call(idx):
        result = idx.find(pat, **args)
        hits = hits_json(result.hits)
        return {"pattern": pat, "total": result.total, "offset": result.offset, "k": result.k, "hits": hits,
                "suggestions": _suggestions(idx, args["author"], hits), "folds": folds(pat, _strings(hits))}

    return holder.run(call)


@router.get("/api/poems/{poem_id:path}", tags=["poems"], summary="A whole poem",
            response_model=models.Poem, responses=models.errors(400, 404, 503))
def api_poem(holder: Holder,
             poem_id: Annotated[str, Path(min_length=1, max_length=MAX_POEM_ID_CHARS,
                                          description="A hit's poem_id.")],
             q: Annotated[Text, Query(description="Optional: a query whose characters the page highlights.")] = None):
    """``Index.poem``: the poem with its lines (each with its ``text_id`` for echoes)."""
    params.poem_id_param(poem_id)
    text = params.text_param(q, "q", required=False)

    def call(idx):
        poem = idx.poem(poem_id)
        return {**poem, "folds": folds(text, [poem.get("title", "")] + list(poem.get("paragraphs", [])))}

    return holder.run(call)


@router.get("/api/lines/{text_id}/echoes", tags=["poems"], summary="A line's nearest lines by other poets",
            response_model=models.Echoes, responses=models.errors(400, 404, 503))
def api_echoes(holder: Holder, text_id: Annotated[int, Path(ge=0, le=2**62, description="A hit's id.")],
               k: Annotated[int, Query(ge=1, le=MAX_K, description=f"Echoes to return, 1-{MAX_K}.")] = 10,
               order: Annotated[models.EchoOrder, Query(description="dynasty (earliest first, then score) or score.")]
               = "dynasty"):
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


SIMILARITY_BODY = {"type": "object", "required": ["texts"], "properties": {"texts": {
    "type": "array", "minItems": 2, "maxItems": MAX_TEXTS,
    "items": {"type": "string", "minLength": 1, "maxLength": MAX_QUERY_CHARS}}}}


@router.post("/api/similarity", tags=["search"], summary="Cosine similarity matrix of a few texts",
             response_model=models.Similarity, responses=models.errors(400, 413, 503),
             openapi_extra={"requestBody": {"required": True, "content": {"application/json": {
                 "schema": SIMILARITY_BODY}}}})
async def api_similarity(holder: Holder, request: Request):
    """``Index.similarity``: ``{"texts", "matrix"}`` as ``poetry-search similarity --json``. The body
    is read here (not by a body model) so that its size is bounded before it is parsed."""
    texts = params.similarity_texts(await params.read_body(request))

    def call(idx):
        m = idx.similarity(texts)
        return {"texts": texts, "matrix": [[round(float(x), 4) for x in row] for row in m]}

    return await run_in_threadpool(holder.run, call)


@router.get("/api/info", tags=["index"], summary="How the index was made, and its filter values",
            response_model=models.Info, responses=models.errors(503))
def api_info(holder: Holder, facets: Facets):
    """``Index.info`` (without the server's file paths) and the values the page's filters offer."""
    def call(idx):
        info = {k: v for k, v in idx.info().items() if k not in PRIVATE_INFO}
        return {**info, "has_vectors": bool(getattr(idx, "has_vectors", True)), "facets": facets(idx),
                "limits": params.limits()}

    return holder.run(call)


@router.get("/healthz", tags=["index"], summary="200 when an index is loaded, 503 while there is none",
            response_model=models.Health, responses=models.errors(503))
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
