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
    MAX_CHECK_CHARS,
    MAX_FILTER_CHARS,
    MAX_K,
    MAX_OFFSET,
    MAX_POEM_ID_CHARS,
    MAX_QUERY_CHARS,
    MAX_RHYME_BOOK_CHARS,
    MAX_TEXTS,
    RHYME_BOOK_CHARS,
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
TONES = ("Only lines of these 平水韵 tones, the whole line: 平, 仄, 中 (a character of both readings; 平 and 仄 "
         "match it too), ? one character, * any run: 平平仄仄平, ?平??平.")
RHYME = "Only lines ending in a character of this 平水韵 group: 七阳, 七陽, 下平七阳 or its number (22)."
RHYMES_WITH = "Only lines ending in a character of a group of this one character: 霜."


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
             sort: Annotated[models.FindSort, Query(description="default or popularity.")] = "default",
             tones: Annotated[Text, Query(description=TONES)] = None,
             rhyme: Annotated[Filter, Query(description=RHYME)] = None,
             rhymes_with: Annotated[Filter, Query(description=RHYMES_WITH)] = None):
    """``Index.find``: ``{"total", "offset", "k", "hits"}``; by 平仄 and 韵 with ``tones``, ``rhyme``
    and ``rhymes_with``, alone or with a pattern and the filters."""
    args = params.find_args(title, author, dynasty, collection, form, k, offset, sort, poems, tones, rhyme, rhymes_with)
    pat = params.find_pattern(pattern, args)

    def call(idx):
        result = idx.find(pat, **args)
        hits = hits_json(result.hits)
        return {"pattern": pat, "tones": args["tones"], "rhyme": args["rhyme"], "rhymes_with": args["rhymes_with"],
                "total": result.total, "offset": result.offset, "k": result.k, "hits": hits,
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


@router.get("/api/rhymes/{char:path}", tags=["prosody"], summary="The rhyme book: a character's 平水韵 groups",
            response_model=models.RhymeBook, responses=models.errors(400, 404, 503))
def api_rhymes(holder: Holder,
               char: Annotated[str, Path(min_length=1, max_length=MAX_FILTER_CHARS,
                                         description="One character, either script: 霜.")],
               limit: Annotated[int, Query(ge=1, le=MAX_RHYME_BOOK_CHARS, description=(
                   f"Characters to list a group, most used first, 1-{MAX_RHYME_BOOK_CHARS:,}."))] = RHYME_BOOK_CHARS):
    """``Index.rhyme``: ``{"char", "form", "limit", "groups": [{"number", "name", "full_name", "tone",
    "characters": [{"char", "lines"}]}]}``, counts of lines of this index's corpus. (404: a path
    the router cannot read as one, such as one holding a line break.)"""
    char, limit = params.rhyme_args(char, limit)
    return {**holder.run(lambda idx: idx.rhyme(char, limit=limit).to_dict()), "limit": limit}


CHECK_BODY = {"type": "object", "additionalProperties": False, "properties": {
    "text": {"type": "string", "minLength": 1, "maxLength": MAX_CHECK_CHARS,
             "description": "The poem: its lines, punctuated or one a line, either script."},
    "poem_id": {"type": "string", "minLength": 1, "maxLength": MAX_POEM_ID_CHARS,
                "description": "Or a corpus poem's id (a hit's poem_id)."},
    "strict": {"type": "boolean", "default": False,
               "description": "三仄尾 and 特拗 with a 仄 first character as faults (default: notes)."}},
    "oneOf": [{"required": ["text"], "not": {"required": ["poem_id"]}},
              {"required": ["poem_id"], "not": {"required": ["text"]}}],
    "example": {"text": "白日依山尽，黄河入海流。欲穷千里目，更上一层楼。", "strict": False}}


@router.post("/api/check", tags=["prosody"], summary="The 格律 check of a 五绝, 七绝, 五律 or 七律",
             response_model=models.Verdict, responses=models.errors(400, 404, 413, 503),
             openapi_extra={"requestBody": {"required": True, "content": {"application/json": {"schema": CHECK_BODY}}}})
async def api_check(holder: Holder, request: Request):
    """``Index.check``: the verdict (合律, 合律（拗救）, 不合 or 非近体: each a 200) with the form, the
    pattern, each character 合/不合, the faults, the 拗救 and the rhyme. The body is read here, bounded
    before it is parsed, like /api/similarity's."""
    args = params.check_body(await params.read_body(request))
    return await run_in_threadpool(holder.run, lambda idx: idx.check(**args).as_dict())


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
