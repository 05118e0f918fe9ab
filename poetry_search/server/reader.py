"""The reader's routes: a poet (``Index.poet``), the start page's ways in (the day's poem, the
best-known poets, example lines), and the page's 简/繁 conversion with OpenCC.

Conversion: ``t2s`` (traditional to simplified) and ``s2t`` (simplified to traditional), OpenCC's
own configurations. ``s2t`` is one-to-many and guesses by phrase: 后 may be 后 (queen) or 後
(after), 云 may be 云 (to say) or 雲 (cloud), 发 發/髮, 里 裏/里; it is right in the common
phrases and can be wrong in a line of poetry. ``script=orig`` (the default) leaves the corpus's
own text, which is always one click away on the page.
"""

from __future__ import annotations

import datetime as _dt
import functools
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from starlette.concurrency import run_in_threadpool

from ..corpus.textin import read_text
from ..errors import UsageProblem
from ..prosody.rhymes import is_han
from ..options import MAX_FILTER_CHARS, MAX_K, MAX_OFFSET, MAX_START_POETS
from . import models, params
from .api import Holder, folds

router = APIRouter()
SCRIPTS = ("orig", "s", "t")
CONFIGS = {"s": "t2s", "t": "s2t"}  # the OpenCC configuration that writes each script
EXAMPLE_LINES = 3
_START: dict[tuple, dict] = {}  # the start page of the index being served, today


@functools.lru_cache(maxsize=2)
def _converter(config: str):
    import opencc

    return opencc.OpenCC(config)


def convert(obj, script: str):
    """Every string in ``obj`` (dicts, lists) written in ``script`` (``s`` simplified, ``t``
    traditional) with OpenCC; ``orig`` returns ``obj`` as it is. Keys and ids are kept."""
    if script == "orig":
        return obj
    conv = _converter(CONFIGS[script])

    def walk(x, key=""):
        if isinstance(x, str):
            return x if key in _KEEP else conv.convert(x)
        if isinstance(x, list):
            return [walk(v, key) for v in x]
        if isinstance(x, dict):
            return {k: walk(v, k) for k, v in x.items()}
        return x

    return walk(obj)


_KEEP = {"poem_id", "id", "canonical", "source", "collection"}  # what names a record, not what a reader reads

ScriptParam = Annotated[models.Script, Query(
    description="orig (the corpus's own script), s (简体, OpenCC t2s) or t (繁體, OpenCC s2t).")]
K = Annotated[int, Query(ge=1, le=MAX_K, description=f"Poems to return, 1-{MAX_K}.")]
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET, description=f"Skip this many poems (paging), 0-{MAX_OFFSET:,}.")]
Filter = Annotated[str | None, Query(max_length=MAX_FILTER_CHARS)]


def _script(script: str) -> str:
    return params.choice(script, "script", SCRIPTS)


@router.get("/api/authors/{name}", tags=["poems"], summary="A poet: dynasty, biography and poems by popularity",
            response_model=models.Poet, responses=models.errors(400, 404, 503))
def api_author(holder: Holder,
               name: Annotated[str, Path(min_length=1, max_length=MAX_FILTER_CHARS,
                                         description="A poet's name, either script, or one of their other names.")],
               k: K = 20, offset: Offset = 0, script: ScriptParam = "orig"):
    """``Index.poet``: ``{"name", "canonical", "aliases", "dynasty", "biography", "records", "total",
    "offset", "k", "poems"}``; 404 for a poet the index does not know."""
    name = params.filter_param(name, "name")
    script = _script(script)
    return convert(holder.run(lambda idx: idx.poet(name, k=k, offset=offset)), script)


@router.get("/api/start", tags=["poems"], summary="The start page: the day's poem, best-known poets, example lines",
            response_model=models.Start, responses=models.errors(400, 503))
def api_start(holder: Holder, script: ScriptParam = "orig",
              poets: Annotated[int, Query(ge=1, le=MAX_START_POETS,
                                          description=f"Best-known poets to list, 1-{MAX_START_POETS}.")] = 12):
    """``{"poem": the day's poem (Index.poem) or null, "poets": [{"name", "canonical", "poems"}],
    "lines": famous first lines to search for}``: the day's poem is one of the most popular,
    another each day."""
    from ..search import poets as P

    script = _script(script)
    n = params.bounded(poets, "poets", 1, MAX_START_POETS)

    def call(idx):
        # The same for every visitor of one index on one day: read once (a scan of every poem).
        key = (id(idx), _dt.date.today().toordinal(), n)
        if key not in _START:
            _START.clear()
            _START[key] = start(idx)
        return _START[key]

    def start(idx):
        pid = P.poem_of_day(idx.store)
        poem = idx.poem(pid) if pid else None
        if poem is not None:  # the shape of /api/poems/{id}, with no query to highlight
            poem["folds"] = folds(None, [poem.get("title", "")] + list(poem.get("paragraphs", [])))
        lines = []
        for other in P.famous_poems(idx.store):
            if other != pid and len(lines) < EXAMPLE_LINES:
                first = [ln["original"] for ln in idx.poem(other)["lines"] if ln["original"]]
                # a line to type: whole (no □ for a lost character), of Chinese characters only
                if first and all(is_han(c) for c in first[0]) and first[0] not in lines:
                    lines.append(first[0])
        return {"poem": poem, "poets": P.best_known(idx.store, n), "lines": lines}

    return convert(holder.run(call), script)


@router.get("/api/browse", tags=["poems"], summary="Poems of a dynasty or collection, most popular first",
            response_model=models.Browse, responses=models.errors(400, 503))
def api_browse(holder: Holder,
               dynasty: Annotated[Filter, Query(description="唐, 宋… (or tang, song…); an unknown one is a 400.")] = None,
               collection: Annotated[Filter, Query(description="songci, 唐诗三百首…; an unknown one is a 400.")] = None,
               k: K = 20, offset: Offset = 0, script: ScriptParam = "orig"):
    """``{"dynasty", "collection", "total", "offset", "k", "poems"}``: browsing without a query."""
    from ..search import poets as P

    script = _script(script)
    dynasty, collection = params.filter_param(dynasty, "dynasty"), params.filter_param(collection, "collection")
    if not (dynasty or collection):
        raise UsageProblem("pass dynasty or collection, e.g. ?dynasty=唐")

    def call(idx):
        return {"dynasty": dynasty, "collection": collection,
                **P.browse(idx.store, idx.filters(dynasty=dynasty, collection=collection), k=k, offset=offset)}

    return convert(holder.run(call), script)


@router.get("/poet/{name}", include_in_schema=False)
def poet_page(name: str):
    """A poet's page at a path of its own: the page, which reads the name from the path."""
    from .page import page

    return page("/")


@router.post("/api/convert", tags=["poems"], summary="Texts in 简体 or 繁體 (OpenCC t2s / s2t)",
             response_model=models.Converted, responses=models.errors(400, 413),
             openapi_extra={"requestBody": {"required": True, "content": {"application/json": {"schema": {
                 "type": "object", "required": ["texts", "script"], "properties": {
                     "texts": {"type": "array", "items": {"type": "string"}},
                     "script": {"type": "string", "enum": ["s", "t"]}}}}}}})
async def api_convert(request: Request):
    """``{"script", "texts"}``: each text converted (s: OpenCC t2s, t: OpenCC s2t), in order; the
    page sends what it shows, in pieces under the body limit."""
    data = params.json_body(await params.read_body(request), '{"texts": ["床前明月光"], "script": "t"}')
    texts = data.get("texts") if isinstance(data, dict) else None
    script = data.get("script") if isinstance(data, dict) else None
    if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
        raise UsageProblem('send {"texts": [...], "script": "s"}: a list of strings')
    if script not in CONFIGS:
        raise UsageProblem("script must be s (简体) or t (繁體)")
    texts = [read_text(t, what=f"texts[{i}]") for i, t in enumerate(texts)]  # a lone surrogate is refused
    out = await run_in_threadpool(convert, texts, script)
    return {"script": script, "texts": out}
