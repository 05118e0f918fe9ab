"""One poet, one name: the corpus's other names for a poet (全唐诗's 後主煜 is 李煜), folded.

The table is ``data/author_aliases.tsv``, made by ``scripts/make_author_aliases.py`` from the
corpus's own author records and poem authors, each entry with the rule and the evidence that
made it (no entry is written by hand). Apply ``canonical_author`` wherever an author is compared
(filters, attribution, "names the poet" in eval); show the corpus's own name beside it.
"""

from __future__ import annotations

import functools
from pathlib import Path

from ..errors import PoetrySearchError
from .normalize import fold

ALIASES_FILE = Path(__file__).resolve().parent / "data" / "author_aliases.tsv"


@functools.lru_cache(maxsize=4)
def alias_table(path: str | Path = ALIASES_FILE) -> dict[str, str]:
    """{folded alias: folded name}."""
    try:
        text = Path(path).read_text("utf-8")
    except OSError as e:
        raise PoetrySearchError(f"cannot read the author aliases {path} ({e}): reinstall poetry-search "
                                "or rebuild it with scripts/make_author_aliases.py") from None
    out: dict[str, str] = {}
    for n, line in enumerate(text.splitlines(), 1):
        if not line or line.startswith("#"):
            continue
        parts = line.split("\t")
        if len(parts) < 2 or not parts[0] or not parts[1]:
            raise PoetrySearchError(f"{path}:{n}: expected 'alias<TAB>name': rebuild it with scripts/make_author_aliases.py")
        out[parts[0]] = parts[1]
    return out


def canonical_author(name: str | None) -> str:
    """The folded name a poet is compared by: 後主煜 → 李煜, 蘇軾 → 苏轼; '' for no author."""
    folded = fold(name)
    return alias_table().get(folded, folded)


def names_of(name: str | None) -> set[str]:
    """Every folded name of the poet ``name`` (its canonical name and each alias): what a filter
    for that poet matches."""
    canon = canonical_author(name)
    return {canon} | {a for a, c in alias_table().items() if c == canon} if canon else set()
