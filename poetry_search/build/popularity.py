"""Popularity from the dataset's ``rank/`` folder (search-engine hit counts per poem): how famous a
poem is, on a 0-1 scale, for ordering lexical results famous first."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

log = logging.getLogger("poetry_search")

ENGINES = ("baidu", "so360", "bing", "bing_en", "google")
_RANK_FILE = re.compile(r"^(poet|ci)\.(\w+)\.rank\.(\d+)\.json$")


def _rank_source(name: str) -> str | None:
    """The corpus file a rank file describes, entry for entry: rank/poet/poet.tang.rank.3000.json
    → quantangshi/poet.tang.3000.json; rank/ci/ci.song.rank.0.json → songci/ci.song.0.json."""
    m = _RANK_FILE.match(name)
    if not m:
        return None
    kind, dyn, n = m.groups()
    return f"quantangshi/poet.{dyn}.{n}.json" if kind == "poet" else f"songci/ci.{dyn}.{n}.json"


def engine_percentiles(values: np.ndarray) -> np.ndarray:
    """Column-wise empirical percentile in [0, 1] (ties share the midpoint), NaN stays NaN."""
    out = np.full(values.shape, np.nan)
    for e in range(values.shape[1]):
        col = values[:, e]
        have = ~np.isnan(col)
        s = np.sort(col[have])
        if not s.size:
            continue
        lo = np.searchsorted(s, col[have], "left")
        hi = np.searchsorted(s, col[have], "right")
        out[have, e] = (lo + hi) / (2.0 * s.size)
    return out


def combine(values: np.ndarray) -> np.ndarray:
    """Popularity of each row of hit counts (rows: poems, columns: ENGINES): the median over the
    engines of each engine's percentile. A percentile makes engines of very different scales
    comparable, and the median ignores one or two engines that are far off for a poem (baidu's
    5.24M for 宋太祖's one-line 句, bing's 1.19M for 幸夤遜's 雲)."""
    with np.errstate(all="ignore"):
        pct = engine_percentiles(values)
        have = ~np.isnan(pct).all(axis=1)
        out = np.full(values.shape[0], np.nan)
        out[have] = np.nanmedian(pct[have], axis=1)
    return out


def read_popularity(rank_dir: Path, poems: Iterable[tuple[int, str, int, str, str]], fold: Callable[[str], str]):
    """Per-poem popularity from ``rank_dir`` (the dataset's rank/ folder).

    ``poems``: (rowid, source, position, author_norm, title_norm). A rank file lists the poems of
    one corpus file in the same order; each entry is checked against the poem at its position
    (author and title, folded) and, if they disagree, looked up by author and title in that file.
    Returns ({rowid: popularity}, {"entries", "matched", "unmatched"})."""
    # rank/poet/*.json and rank/ci/*.json; glob (unlike rglob before Python 3.13) follows a linked folder
    files = sorted(p for p in [*rank_dir.glob("*.json"), *rank_dir.glob("*/*.json")] if _rank_source(p.name))
    if not files:
        return {}, {"entries": 0, "matched": 0, "unmatched": 0}
    by_pos: dict[tuple[str, int], tuple[int, str, str]] = {}
    by_name: dict[tuple[str, str, str], list[int]] = {}
    for rowid, source, position, author, title in poems:
        by_pos[(source, position)] = (rowid, author, title)
        by_name.setdefault((source, author, title), []).append(rowid)
    rowids, counts = [], []
    entries = unmatched = 0
    for f in files:
        source = _rank_source(f.name)
        try:
            data = json.loads(f.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            log.warning(f"{f}: cannot be read ({e}); its popularity is skipped")
            continue
        if not isinstance(data, list):
            continue
        for i, rec in enumerate(data):
            if not isinstance(rec, dict):
                continue
            entries += 1
            author = fold(str(rec.get("author") or ""))
            title = fold(str(rec.get("title") or rec.get("rhythmic") or ""))
            at = by_pos.get((source, i))
            if at is not None and at[1] == author and at[2] == title:
                rowid = at[0]
            else:
                same = by_name.get((source, author, title))
                if not same:
                    unmatched += 1
                    continue
                rowid = same[0]
            row = []
            for e in ENGINES:
                v = rec.get(e)
                row.append(float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0 else np.nan)
            rowids.append(rowid)
            counts.append(row)
    if not rowids:
        return {}, {"entries": entries, "matched": 0, "unmatched": unmatched}
    pop = combine(np.array(counts, dtype=np.float64))
    out: dict[int, float] = {}
    for rowid, p in zip(rowids, pop):
        if not np.isnan(p):
            out[rowid] = max(out.get(rowid, 0.0), round(float(p), 6))
    return out, {"entries": entries, "matched": len(rowids), "unmatched": unmatched}
