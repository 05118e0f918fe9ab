"""The checks on every input of the API: one message each, naming the fix, raised as ``UsageProblem``
(answered 400). The limits are those of ``poetry_search.options``, the same as the CLI's.

Each ``*_args`` function turns a route's raw parameters into the keyword arguments of its library
call, checked in the order the parameters are listed, so the first bad one is the one reported.
"""

from __future__ import annotations

import json

from fastapi import Request

from ..corpus.textin import check_visible, quote, read_text
from ..errors import UsageProblem
from ..options import (
    ECHO_ORDERS,
    FIND_SORTS,
    MAX_BODY_BYTES,
    MAX_CHECK_CHARS,
    MAX_FILTER_CHARS,
    MAX_K,
    MAX_OFFSET,
    MAX_POEM_ID_CHARS,
    MAX_QUERY_CHARS,
    MAX_RHYME_BOOK_CHARS,
    MAX_TEXTS,
    MODES,
    SORTS,
)


def text_param(value: str | None, name: str, required: bool = True) -> str | None:
    """A query text: valid Unicode (a lone surrogate is refused, naming ``name``), at most
    ``MAX_QUERY_CHARS``; blank (or only invisible characters) is None, or refused when ``required``."""
    if value is None or not value.strip():
        if required:
            raise UsageProblem(f"{name} is empty: pass a line of poetry, e.g. ?{name}=大梦谁先觉", code="empty_query")
        return None
    value = read_text(value, what=name)
    if len(value) > MAX_QUERY_CHARS:
        raise UsageProblem(f"{name} is {len(value):,} characters long: at most {MAX_QUERY_CHARS} are searched",
                           code="text_too_long")
    if required:
        check_visible(value, name)
    return value


def filter_param(value: str | None, name: str) -> str | None:
    """A filter value (author, dynasty, ...), stripped; blank is None (no filter)."""
    if value is None or not value.strip():
        return None
    value = read_text(value, what=name)
    if len(value) > MAX_FILTER_CHARS:
        raise UsageProblem(f"{name} is {len(value):,} characters long: at most {MAX_FILTER_CHARS}")
    return value.strip()


def bounded(value: int, name: str, low: int, high: int) -> int:
    """``value`` if ``low <= value <= high``."""
    if not low <= value <= high:
        raise UsageProblem(f"{name} must be between {low} and {high:,} (got {value:,})",
                           code="bad_offset" if name == "offset" else None)
    return value


def choice(value: str, name: str, allowed: tuple[str, ...]) -> str:
    """``value`` if it is one of ``allowed``."""
    if value not in allowed:
        raise UsageProblem(f"unknown {name} {quote(value)}: use one of {', '.join(allowed)}")
    return value


def search_args(k: int, mode: str, author: str | None, dynasty: str | None, collection: str | None,
                form: str | None, sort: str, poems: bool, offset: int = 0) -> dict:
    """The keyword arguments of ``Index.search`` (and of the batcher, which groups by them)."""
    return {"k": bounded(k, "k", 1, MAX_K), "offset": bounded(offset, "offset", 0, MAX_OFFSET),
            "mode": choice(mode, "mode", MODES),
            "author": filter_param(author, "author"), "dynasty": filter_param(dynasty, "dynasty"),
            "collection": filter_param(collection, "collection"), "form": filter_param(form, "form"),
            "sort": choice(sort, "sort", SORTS), "poems": poems}


def find_args(title: str | None, author: str | None, dynasty: str | None, collection: str | None,
              form: str | None, k: int, offset: int, sort: str, poems: bool, tones: str | None = None,
              rhyme: str | None = None, rhymes_with: str | None = None) -> dict:
    """The keyword arguments of ``Index.find`` but its pattern (which is required only without
    a title, an author, tones or a rhyme: see ``find_pattern``). ``tones``, ``rhyme`` and
    ``rhymes_with`` are only read as text here; the library checks what they say (``bad_tones``,
    ``unknown_rhyme``, ``bad_char``, ``unknown_char``)."""
    return {"title": filter_param(title, "title"), "author": filter_param(author, "author"),
            "dynasty": filter_param(dynasty, "dynasty"), "collection": filter_param(collection, "collection"),
            "form": filter_param(form, "form"), "k": bounded(k, "k", 1, MAX_K),
            "offset": bounded(offset, "offset", 0, MAX_OFFSET), "sort": choice(sort, "sort", FIND_SORTS),
            "poems": poems, "tones": tones_param(tones), "rhyme": filter_param(rhyme, "rhyme"),
            "rhymes_with": filter_param(rhymes_with, "rhymes_with")}


def tones_param(value: str | None) -> str | None:
    """A tones pattern (平平仄仄平, ?平??平): valid Unicode, at most ``MAX_QUERY_CHARS``; blank is None."""
    if value is None or not value.strip():
        return None
    value = read_text(value, what="tones")
    if len(value) > MAX_QUERY_CHARS:
        raise UsageProblem(f"tones is {len(value):,} characters long: at most {MAX_QUERY_CHARS}", code="bad_tones")
    return value.strip()


def find_pattern(pattern: str | None, args: dict) -> str | None:
    """``find``'s pattern: it may be left out when ``args`` (from ``find_args``) name a title, an
    author, tones, a rhyme group or a character to rhyme with."""
    alone = ("title", "author", "tones", "rhyme", "rhymes_with")
    return text_param(pattern, "pattern", required=not any(args[a] for a in alone))


def rhyme_args(char: str, limit: int) -> tuple[str, int]:
    """The rhyme book's character (valid Unicode; the library checks it is one character it knows)
    and its limit of characters a group, 1 to ``MAX_RHYME_BOOK_CHARS``."""
    if len(char) > MAX_FILTER_CHARS:
        raise UsageProblem(f"the rhyme book takes one character, got {len(char):,}: pass e.g. /api/rhymes/霜",
                           code="bad_char")
    return read_text(char, what="the character"), bounded(limit, "limit", 1, MAX_RHYME_BOOK_CHARS)


def poem_id_param(poem_id: str) -> str:
    """A poem id: 1 to ``MAX_POEM_ID_CHARS`` characters."""
    if not poem_id or len(poem_id) > MAX_POEM_ID_CHARS:
        raise UsageProblem(f"a poem id is 1-{MAX_POEM_ID_CHARS} characters (got {len(poem_id)})")
    return read_text(poem_id, what="the poem id")


def echo_args(k: int, order: str) -> tuple[int, str]:
    """``echoes``' k and order."""
    return bounded(k, "k", 1, MAX_K), choice(order, "order", ECHO_ORDERS)


async def read_body(request: Request) -> bytes:
    """The request body, refused past ``MAX_BODY_BYTES``: by its declared length before reading it,
    or as soon as the bytes read pass the limit."""
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
                        f"(up to {MAX_TEXTS} texts of {MAX_QUERY_CHARS} characters)", code="body_too_large")


def json_body(body: bytes, example: str):
    """A request body read as UTF-8 JSON; else a one-line UsageProblem that shows ``example``."""
    try:
        return json.loads(body.decode("utf-8"))
    except UnicodeDecodeError:
        raise UsageProblem(f"the request body is not UTF-8: send JSON like {example}") from None
    except json.JSONDecodeError as e:
        raise UsageProblem(f"the request body is not JSON ({e.msg}): send {example}") from None


def similarity_texts(body: bytes) -> list[str]:
    """The texts of a ``{"texts": [...]}`` body: 2 to ``MAX_TEXTS`` strings, each a query text."""
    data = json_body(body, '{"texts": ["春眠不觉晓", "大梦谁先觉"]}')
    texts = data.get("texts") if isinstance(data, dict) else None
    if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
        raise UsageProblem("send {\"texts\": [...]}: a list of strings")
    if not 2 <= len(texts) <= MAX_TEXTS:
        raise UsageProblem(f"send 2 to {MAX_TEXTS} texts (got {len(texts)})")
    return [text_param(t, f"texts[{i}]") for i, t in enumerate(texts)]


CHECK_EXAMPLE = '{"text": "白日依山尽，黄河入海流。欲穷千里目，更上一层楼。"}'


def check_body(body: bytes) -> dict:
    """The keyword arguments of ``Index.check`` from a ``{"text": ..., "strict": false}`` or
    ``{"poem_id": ...}`` body: one of text and poem_id, strict a boolean (default false). An empty
    text is left to the library, which says so (``empty_query``)."""
    data = json_body(body, CHECK_EXAMPLE)
    if not isinstance(data, dict):
        raise UsageProblem(f"send a JSON object: {CHECK_EXAMPLE}")
    unknown = sorted(set(data) - {"text", "poem_id", "strict"})
    if unknown:
        raise UsageProblem(f"unknown field {quote(unknown[0])}: send text (or poem_id) and, if wanted, strict")
    text, poem_id, strict = data.get("text"), data.get("poem_id"), data.get("strict", False)
    if (text is None) == (poem_id is None):
        raise UsageProblem(f"send one of text and poem_id: {CHECK_EXAMPLE} or {{\"poem_id\": \"…\"}}")
    if not isinstance(strict, bool):
        raise UsageProblem("strict is true or false")
    if text is not None:
        if not isinstance(text, str):
            raise UsageProblem(f"text is a string: {CHECK_EXAMPLE}", code="invalid_text")
        text = read_text(text, what="text")
        if len(text) > MAX_CHECK_CHARS:
            raise UsageProblem(f"text is {len(text):,} characters long: a 律诗 has 56 and its punctuation; the "
                               f"limit is {MAX_CHECK_CHARS}", code="text_too_long")
        return {"text": text, "strict": strict}
    if not isinstance(poem_id, str):
        raise UsageProblem("poem_id is a string: a hit's poem_id")
    return {"poem_id": poem_id_param(poem_id), "strict": strict}


def limits() -> dict:
    """The limits the page shows and keeps to (``/api/info``)."""
    return {"query_chars": MAX_QUERY_CHARS, "k": MAX_K, "offset": MAX_OFFSET, "texts": MAX_TEXTS,
            "check_chars": MAX_CHECK_CHARS, "rhyme_chars": MAX_RHYME_BOOK_CHARS}
