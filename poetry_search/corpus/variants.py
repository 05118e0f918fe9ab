"""Variant forms folded for matching: the key a line is matched by, never the text it is shown or
embedded as.

OpenCC's t2s leaves some variant forms apart (著/着, 沈/沉, 聴/听, 疎/疏), so a reader who types
守着窗儿 misses the corpus' 守著窗兒. ``match_key`` folds them to one form, character by
character, after the text has been normalised (``Normalizer.text`` or ``fold``: simplified
script, no punctuation). The table is ``data/variants.tsv``, made by ``scripts/make_variants.py``
from OpenCC's variant dictionaries and Unicode's Unihan variants (sources, licences and the rule
in that script and in the file's header; what it merges: docs/attribution.md).

The key keeps the length of the text (one character for one), so a position in the key is the
same position in the line.
"""

from __future__ import annotations

import functools
from pathlib import Path

from ..errors import PoetrySearchError

VARIANTS_FILE = Path(__file__).resolve().parent / "data" / "variants.tsv"


@functools.lru_cache(maxsize=4)
def variant_table(path: str | Path = VARIANTS_FILE) -> dict[int, str]:
    """The folding table as a ``str.translate`` map (code point → representative)."""
    try:
        text = Path(path).read_text("utf-8")
    except OSError as e:
        raise PoetrySearchError(f"cannot read the variant table {path} ({e}): reinstall poetry-search "
                                "or rebuild it with scripts/make_variants.py") from None
    table: dict[int, str] = {}
    for n, line in enumerate(text.splitlines(), 1):
        if not line or line.startswith("#"):
            continue
        parts = line.split("\t")
        if len(parts) < 2 or len(parts[0]) != 1 or len(parts[1]) != 1:
            raise PoetrySearchError(f"{path}:{n}: expected 'variant<TAB>representative': rebuild it with scripts/make_variants.py")
        table[ord(parts[0])] = parts[1]
    return table


def match_key(text: str) -> str:
    """The matching key of a normalised line or query: each variant form replaced by its group's
    representative (著 → 着, 沈 → 沉's representative, 聴 → 听). Same length as ``text``."""
    return text.translate(variant_table()) if text else text


def variants_of(char: str) -> set[str]:
    """Every character whose key is ``char``'s key (``char`` included): what a search for it matches."""
    key = match_key(char)
    table = variant_table()
    return {char, key} | {chr(c) for c, rep in table.items() if rep == key}
