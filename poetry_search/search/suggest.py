""""Did you mean 李白?": the nearest known names to one that matched nothing, by edit distance.

Decisions, each on purpose:

* Levenshtein distance over characters (a typed or mis-converted name differs by a character or
  two: 李百 for 李白, 王之换 for 王之涣), at most 1 for names of up to 3 characters and 2 for
  longer ones: a 2-character name at distance 2 shares nothing with the one typed.
* Ties keep the order of ``known``: the caller passes the names most poems first, so among the
  dozens of 李X at distance 1 from 李百, 李白 comes first.
* RapidFuzz (C++) when installed: one call over the whole author table answers in well under a
  millisecond; otherwise the same distances in pure Python, with the same results.
* Both ``name`` and ``known`` are compared as given: pass them folded (``normalize.fold``), as the
  ``author_norm`` column holds them, so a traditional-script query meets simplified names.
"""

from __future__ import annotations

from collections.abc import Sequence


def max_distance(name: str) -> int:
    """The largest edit distance still offered as a suggestion for ``name``."""
    return 1 if len(name) <= 3 else 2


def suggest_names(name: str, known: Sequence[str], n: int = 3) -> list[str]:
    """Up to ``n`` names of ``known`` nearest to ``name`` (edit distance, then the order of
    ``known``), never ``name`` itself; ``[]`` when none is near enough."""
    if not name or n < 1 or not known:
        return []
    limit = max_distance(name)
    try:
        from rapidfuzz import process
        from rapidfuzz.distance import Levenshtein
    except ImportError:
        return _suggest_python(name, known, n, limit)
    # one extra, in case ``name`` itself is among ``known``; all for one character (see _shares)
    found = process.extract(name, known, scorer=Levenshtein.distance, score_cutoff=limit,
                            limit=None if len(name) == 1 else n + 1)
    found.sort(key=lambda m: (m[1], m[2]))  # distance, then position in known (ties: not promised by RapidFuzz)
    return [m[0] for m in found if m[1] > 0 and _shares(name, m[0], m[1])][:n]


def _shares(name: str, candidate: str, distance: int) -> bool:
    # 白 -> 李白 (one insertion) is a suggestion; 白 -> 张 (one substitution) shares nothing
    return distance < max(len(name), len(candidate))


def levenshtein(a: str, b: str, limit: int | None = None) -> int:
    """Edit distance between ``a`` and ``b`` (insert, delete, substitute one character); with
    ``limit``, any distance above it is reported as ``limit + 1``."""
    if len(a) < len(b):
        a, b = b, a
    if limit is not None and len(a) - len(b) > limit:
        return limit + 1
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, start=1):
        current = [i]
        for j, cb in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        if limit is not None and min(current) > limit:
            return limit + 1
        previous = current
    return previous[-1]


def _suggest_python(name: str, known: Sequence[str], n: int, limit: int) -> list[str]:
    scored = []
    for pos, candidate in enumerate(known):
        if abs(len(candidate) - len(name)) > limit or candidate == name:
            continue
        d = levenshtein(name, candidate, limit)
        if d <= limit and _shares(name, candidate, d):
            scored.append((d, pos, candidate))
    scored.sort()
    return [c for _, _, c in scored[:n]]
