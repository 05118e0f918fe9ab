"""Poets as a reader meets them: a poet's name, dynasty and biography from the corpus's author
records, and their poems, most popular first, page by page; the best-known poets; a famous poem
for the day.

    from poetry_search.search.poets import poet
    poet(store, "李白", k=20)   # {"name", "dynasty", "biography", "total", "poems", ...}

A poet is one canonical name (``corpus.authors``): the corpus's other names for them (後主煜 for
李煜) fold into it, so a poet's page holds every poem filed under any of their names.
"""

from __future__ import annotations

import datetime as _dt
import json
from collections import Counter

from ..build.fame import CURATED_BOOKS
from ..corpus.authors import canonical_author, names_of
from ..corpus.normalize import fold
from ..errors import PoemNotFoundError, UsageProblem
from ..options import MAX_K, MAX_OFFSET
from .suggest import suggest_names

FAMOUS_POOL = 100  # the poem of the day is drawn from this many famous poems


def _check_page(k: int, offset: int) -> None:
    if not 1 <= k <= MAX_K:
        raise UsageProblem(f"-k must be between 1 and {MAX_K}", code="bad_request")
    if not 0 <= offset <= MAX_OFFSET:
        raise UsageProblem(f"--offset must be between 0 and {MAX_OFFSET:,}", code="bad_offset")


def poet(store, name: str, k: int = 20, offset: int = 0) -> dict:
    """The poet ``name`` (either script, or one of their other names): ``name`` (the corpus's name
    for them), ``canonical`` (the folded name they are compared by), ``aliases`` (their other
    corpus names that have poems here), ``dynasty``, ``biography`` (the first author record with a
    biography; '' when the corpus has none), ``records`` (every matching author record: name,
    dynasty, biography, source), ``total`` (their poems), ``offset``, ``k`` and ``poems`` (most
    popular first, unranked poems after in corpus order: poem_id, title, author, dynasty,
    collection, book, form, popularity, first_line).

    An unknown poet raises ``PoemNotFoundError`` (code ``author_not_found``) naming the nearest
    known names."""
    _check_page(k, offset)
    canon = canonical_author(name)
    if not canon:
        raise UsageProblem("give a poet's name (e.g. 李白)", code="empty_query")
    names = sorted(names_of(name))
    records = store.author_records(names)
    total, rows = store.poems_of_authors(names, k, offset)
    if not total and not records:
        near = suggest_names(canon, [a for a, _ in store.author_counts()], 3)
        hint = f"did you mean {'、'.join(near)}?" if near else "check the spelling (find --author lists a poet's poems)"
        raise PoemNotFoundError(f"no poet named {name!r} in this index: {hint}", code="author_not_found")
    # Records of the canonical name first: an alias's record may be another poet of that name.
    records.sort(key=lambda r: r[1] != canon)
    own = [r for r in records if r[1] == canon] or records
    with_bio = [r for r in own if (r[3] or "").strip()]
    poems = _poem_rows(rows)
    shown = own[0][0] if own else _most_common_name(store, canon, [p["author"] for p in poems])
    seen = Counter(p["dynasty"] for p in poems if p["dynasty"]).most_common(1)
    dynasty = (own[0][2] if own else "") or (seen[0][0] if seen else "")
    return {"name": shown, "canonical": canon,
            "aliases": [a for a in names if a != canon and store.has_author(a)],
            "dynasty": dynasty, "biography": (with_bio[0][3] if with_bio else "").strip(),
            "records": [{"name": r[0], "dynasty": r[2], "biography": (r[3] or "").strip(), "source": r[4]} for r in records],
            "total": total, "offset": offset, "k": k, "poems": poems}


def browse(store, filters, k: int = 20, offset: int = 0) -> dict:
    """The poems passing ``filters`` (``Filters``: a dynasty, a collection…), most popular first:
    ``{"total", "offset", "k", "poems"}`` with poems as in ``poet``."""
    _check_page(k, offset)
    total, rows = store.poems_filtered(k, offset, **filters.store_args())
    return {"total": total, "offset": offset, "k": k, "poems": _poem_rows(rows)}


def _poem_rows(rows) -> list[dict]:
    return [{"poem_id": r[0], "title": r[1], "author": r[2], "dynasty": r[4], "collection": r[5], "book": r[6],
             "form": r[7] or "", "popularity": r[8], "first_line": _first(r[9])} for r in rows]


def best_known(store, n: int = 12) -> list[dict]:
    """The ``n`` best-known poets: the most poems in the curated editions (``CURATED_BOOKS``: the
    editors' choice of famous poems), then popularity summed over their poems, then the most
    poems: ``name``, ``canonical``, ``poems``, aliases folded. Popularity alone would crown the
    most prolific (陆游's ten thousand poems outweigh 王维's four hundred)."""
    if n < 1:
        raise UsageProblem("-n must be at least 1")
    merged: dict[str, dict] = {}
    for norm, shown, count, chosen, pop in store.best_known_authors(n * 2, CURATED_BOOKS):  # aliases merge: spare rows
        canon = canonical_author(norm)
        m = merged.setdefault(canon, {"name": shown if norm == canon else canon, "canonical": canon, "poems": 0,
                                      "chosen": 0, "score": 0.0})
        if norm == canon:
            m["name"] = shown
        m["poems"] += count
        m["chosen"] += chosen or 0
        m["score"] += pop or 0.0
    ranked = sorted(merged.values(), key=lambda m: (-m["chosen"], -m["score"], -m["poems"], m["canonical"]))[:n]
    return [{"name": m["name"], "canonical": m["canonical"], "poems": m["poems"]} for m in ranked]


def famous_poems(store, n: int = FAMOUS_POOL) -> list[str]:
    """Ids of the ``n`` most popular poems of the curated editions (of every poem where the index
    has none of them)."""
    return store.most_popular_poems(n, CURATED_BOOKS) or store.most_popular_poems(n)


def poem_of_day(store, day: _dt.date | None = None) -> str | None:
    """The id of the day's poem: one of the ``FAMOUS_POOL`` famous poems (``famous_poems``), a
    different one each day (in turn through the pool); None for an empty index."""
    pool = famous_poems(store)
    if not pool:
        return None
    day = day or _dt.date.today()
    return pool[day.toordinal() % len(pool)]


def _first(paragraphs: str | None) -> str:
    got = json.loads(paragraphs or "[]")
    return got[0] if got else ""


def _most_common_name(store, canon: str, shown: list[str]) -> str:
    """The name the corpus writes most for a poet with no author record: among this page's poems,
    the commonest spelling of the canonical name itself, else the canonical name."""
    own = [s for s in shown if fold(s) == canon]
    return Counter(own).most_common(1)[0][0] if own else canon
