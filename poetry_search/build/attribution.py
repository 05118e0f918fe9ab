"""One attribution per line: of the poems that hold a line, the one a reader would cite.

Decided at build time from the line's occurrences, so a hit costs nothing more at query time.
The rule, in order (docs/attribution.md has the measurements that chose it):

1. **The earliest dynasty** among the occurrences. A line is older than its quotations: a Song
   集句 (李龏's 梅花集句), a 偈颂 or a 水调歌头 that borrows a Tang line never takes it from its
   Tang poet, and 曹操's 对酒当歌 is his whatever later poems quote it. Dynasties are ranked by
   ``chronology.DYNASTY_ORDER``; an unknown dynasty comes last.
2. **A named poet** before 无名氏 / 不详 of the same dynasty.
3. **Fame** (``build/fame.py``): rank/ hit counts corrected for shared titles, with a prior for
   collections without rank data. Within one dynasty this separates the poet from his imitators
   and from 全唐诗's doubtful second attributions (朱斌's copy of 登鹳雀楼).
4. **A curated edition** (唐诗三百首, 宋词三百首, 千家诗) before a complete collection.
5. **Reading order** (a stable, documented last resort).

``cite_rank`` gives every occurrence a global rank under this order: the attributed poem of a
line is its occurrence of least rank, and under a filter the most citable occurrence that passes
is the one of least rank among those. Stored as one integer per line occurrence, that answers
both without recomputing anything.
"""

from __future__ import annotations

import numpy as np

from ..corpus.dynasties import DYNASTY_ORDER, dynasty_rank

UNKNOWN_ERA = len(DYNASTY_ORDER) + 1


def era_of(dynasty: str | None) -> int:
    """A dynasty's place in time (``chronology.dynasty_rank``), also for the corpus's compound
    names: 两汉 → 汉, 魏晋 → 晋, 北宋 → 宋 (the longest known suffix); unknown: ``UNKNOWN_ERA``."""
    r = dynasty_rank(dynasty)
    if r < len(DYNASTY_ORDER) or not dynasty:
        return r if dynasty else UNKNOWN_ERA
    d = dynasty.rstrip("朝代")
    for cut in range(1, len(d)):
        r = dynasty_rank(d[cut:])
        if r < len(DYNASTY_ORDER):
            return r
    return UNKNOWN_ERA


def cite_rank(era: np.ndarray, fame: np.ndarray, curated: np.ndarray, order: np.ndarray,
              anonymous: np.ndarray | None = None, era_weight: float = float("inf"),
              agreement: np.ndarray | None = None) -> np.ndarray:
    """Rank (0 = most citable) of every occurrence under the attribution rule; arrays are per
    occurrence: ``era`` (``era_of`` its poem's dynasty), ``fame`` (its poem's, NaN counts as 0),
    ``curated`` (its poem is in a curated edition), ``order`` (reading order, e.g. the line id),
    ``anonymous`` (its poem names no poet: 无名氏, 不详; such an occurrence yields to a named
    one of the same dynasty), ``agreement`` (how many books give this line to this occurrence's
    poet: ``agreement``; more comes first, before fame).

    ``era_weight``: infinite (the default) makes the earliest dynasty decide outright; a finite
    weight w instead scores ``fame - w * era``, so a later poem wins only when it is more famous by
    w for each step of time between them. Ranks are comparable between occurrences of the same
    line (and, being global, of any)."""
    f = np.nan_to_num(np.asarray(fame, np.float64), nan=0.0)
    era = np.asarray(era, np.int64)
    anon = np.zeros(era.size, bool) if anonymous is None else np.asarray(anonymous, bool)
    cur = ~np.asarray(curated, bool)
    agree = np.zeros(era.size, np.int64) if agreement is None else -np.asarray(agreement, np.int64)
    if np.isinf(era_weight):
        perm = np.lexsort((order, cur, -f, agree, anon, era))
    else:
        perm = np.lexsort((order, cur, -(f - era_weight * era), agree, anon))
    rank = np.empty(perm.size, np.int64)
    rank[perm] = np.arange(perm.size)
    return rank


def attribute(text_ids: np.ndarray, rank: np.ndarray, n_texts: int, allowed: np.ndarray | None = None) -> np.ndarray:
    """For each text id 0..n_texts-1, the index of its most citable occurrence (least ``rank``),
    or -1 when it has none (among ``allowed`` occurrences, when given: a filter)."""
    text_ids = np.asarray(text_ids, np.int64)
    idx = np.arange(text_ids.size)
    if allowed is not None:
        idx = idx[np.asarray(allowed, bool)]
    by_rank = idx[np.argsort(rank[idx], kind="stable")]
    texts, first = np.unique(text_ids[by_rank], return_index=True)
    out = np.full(n_texts, -1, np.int64)
    out[texts] = by_rank[first]
    return out


def agreement(text_ids: np.ndarray, poet_ids: np.ndarray, book_ids: np.ndarray,
              allowed: np.ndarray | None = None) -> np.ndarray:
    """Per occurrence: in how many distinct books the same line is given to the same poet (among
    ``allowed`` occurrences when given; others count 0)."""
    t, a, b = (np.asarray(x, np.int64) for x in (text_ids, poet_ids, book_ids))
    ok = np.ones(t.size, bool) if allowed is None else np.asarray(allowed, bool)
    ta = t * (int(a.max(initial=0)) + 1) + a
    uniq_ta, inv = np.unique(ta, return_inverse=True)
    pairs = np.unique(np.stack([inv[ok], b[ok]], axis=1), axis=0)
    n = np.bincount(pairs[:, 0], minlength=uniq_ta.size) if pairs.size else np.zeros(uniq_ta.size, np.int64)
    return np.where(ok, n[inv], 0)


def poems_per_text(text_ids: np.ndarray, poem_ids: np.ndarray, n_texts: int) -> np.ndarray:
    """How many distinct poems hold each text (the page's 又见于 N-1 首)."""
    pairs = np.unique(np.stack([np.asarray(text_ids, np.int64), np.asarray(poem_ids, np.int64)], axis=1), axis=0)
    return np.bincount(pairs[:, 0], minlength=n_texts)
