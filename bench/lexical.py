"""Lexical search speed: `Index.find` vs a plain LIKE/GLOB scan of the same table, in one run.

    python bench/lexical.py [--index PATH] [--corpus data/chinese-poetry] [--repeat 15] [--out FILE] [--only prosody]

Without --index, builds a --lexical-only index of --corpus under bench/work/ (no model needed).
For every query: our latency through the Python API (k=10, ranked, with metadata), warm (p50,
p95), and once more with the per-index posting cache emptied before each call (SQLite and the OS
page cache stay warm); the plain scan's latency (ids only, unranked: a lower bound for a scan);
and a check that both return the same set of lines (or poems). The 平仄/韵 finds (``PROSODY``)
likewise, against a GLOB/LIKE scan of the stored tone strings and rhyme groups, their second
figure with the filter masks emptied too (a filter's first search).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# (label, kind, query): kind is fragment/pattern (lines), title/author (poem listings)
QUERIES = [
    ("fragment, 3 chars, rare", "fragment", "谁先觉"),
    ("fragment, 2 chars, common", "fragment", "明月"),
    ("fragment, 2 chars", "fragment", "春风"),
    ("fragment, 1 char, very common", "fragment", "不"),
    ("fragment, 5 chars", "fragment", "床前明月光"),
    ("pattern ?花* (花 second)", "pattern", "?花*"),
    ("pattern *楼 (ends in 楼)", "pattern", "*楼"),
    ("pattern 明月?时有", "pattern", "明月?时有"),
    ("pattern 春*花", "pattern", "春*花"),
    ("pattern *山?水*", "pattern", "*山?水*"),
    ("title 静夜思", "title", "静夜思"),
    ("title 月 (1 char)", "title", "月"),
    ("author 李白", "author", "李白"),
    ("author 苏轼", "author", "苏轼"),
]

# (label, pattern, find's 平水韵 arguments and filters): each against a plain scan of the stored
# tone strings and rhyme groups (GLOB / LIKE on the prosody table, joined as the filter needs)
PROSODY = [
    ("tones 平平仄仄平", None, {"tones": "平平仄仄平"}),
    ("tones ?平??平", None, {"tones": "?平??平"}),
    ("tones 平*仄*平", None, {"tones": "平*仄*平"}),
    ("tones *仄平", None, {"tones": "*仄平"}),
    ("rhyme 七阳", None, {"rhyme": "七阳"}),
    ("rhymes-with 霜", None, {"rhymes_with": "霜"}),
    ("tones + author 李白", None, {"tones": "平平仄仄平", "author": "李白"}),
    ("tones + rhyme + dynasty 唐", None, {"tones": "仄仄平平仄仄平", "rhyme": "七阳", "dynasty": "唐"}),
    ("?花* + tones + rhymes-with 香", "?花*", {"tones": "?平??平", "rhymes_with": "香"}),
]
_TONE_GLOB = {"平": "[平中]", "仄": "[仄中]", "中": "[平仄中]", "?": "?", "*": "*"}


def prosody_scan(index, pattern: str | None, kw: dict):
    """The plain scan a tones/rhyme find is measured against: ids from SQLite alone."""
    from poetry_search.search.prosody import rhyme_group, rhymes_of

    where, params = [], []
    if kw.get("tones"):
        where.append("prosody.tones GLOB ?")
        params.append("".join(_TONE_GLOB[c] for c in kw["tones"]))
    for groups in ([rhyme_group(kw["rhyme"]).name] if kw.get("rhyme") else None,
                   [g.name for g in rhymes_of(kw["rhymes_with"])] if kw.get("rhymes_with") else None):
        if groups:
            where.append("(" + " OR ".join("(' ' || prosody.rhyme || ' ') LIKE ?" for _ in groups) + ")")
            params += [f"% {g} %" for g in groups]
    if pattern:
        where.append("texts.text GLOB ?")
        params.append(pattern)
    args = {k: v for k, v in index.filters(kw.get("author"), kw.get("dynasty")).store_args().items() if v}
    if args:
        cols = {"author": "poems.author_canon", "dynasty": "poems.dynasty"}
        where.append("texts.id IN (SELECT lines.text_id FROM lines JOIN poems ON poems.id = lines.poem_id WHERE "
                     + " AND ".join(f"{cols[k]} = ?" for k in args) + ")")
        params += list(args.values())
    sql = "SELECT texts.id FROM texts JOIN prosody ON prosody.text_id = texts.id WHERE " + " AND ".join(where)
    return [r[0] for r in index.store.conn.execute(sql, params)]


def forget_filters(index) -> None:
    """Empty what a filtered find keeps between calls: the posting caches and the filter masks."""
    for ci in index.lexicon.fields.values():
        ci._cache.clear()
    getattr(index.lexical, "_masks", {}).clear()
    getattr(index.lexical, "_seen", {}).clear()


def timed(fn, repeat: int, before=None) -> tuple[list[float], list[float]]:
    """Wall and CPU milliseconds of each call. On a shared machine the wall time includes waiting
    for a core; the CPU time of this thread does not."""
    wall, cpu = [], []
    for _ in range(repeat):
        if before:
            before()
        t, c = time.perf_counter(), time.thread_time()
        fn()
        cpu.append((time.thread_time() - c) * 1000)
        wall.append((time.perf_counter() - t) * 1000)
    return wall, cpu


def summary(times: tuple[list[float], list[float]]) -> dict:
    s, c = sorted(times[0]), sorted(times[1])
    return {"p50_ms": round(statistics.median(s), 2), "p95_ms": round(s[min(len(s) - 1, int(0.95 * len(s)))], 2),
            "cpu_p50_ms": round(statistics.median(c), 2)}


def run(index_path: Path, repeat: int, only: str = "all") -> dict:
    from poetry_search import Index

    index = Index.open(index_path)
    store = index.store
    conn = store.conn
    lex = index.lexicon
    n_texts = len(index)
    rows = []
    for label, kind, q in QUERIES if only in ("all", "find") else []:
        if kind in ("fragment", "pattern"):
            ours = lambda: index.find(q, k=10)  # noqa: E731
            if kind == "fragment":
                scan = lambda: store.like_scan(like=f"%{q}%")  # noqa: E731
            else:
                scan = lambda: store.like_scan(glob=q)  # noqa: E731
            what = "lines"
        elif kind == "title":
            ours = lambda: index.find(title=q, k=10)  # noqa: E731
            scan = lambda: [r[0] for r in conn.execute("SELECT rowid FROM poems WHERE title_norm LIKE ?", (f"%{q}%",))]  # noqa: E731
            what = "poems"
        else:
            ours = lambda: index.find(author=q, k=10)  # noqa: E731
            # not indexed on purpose: the scan a table without poems_author_norm would need
            scan = lambda: [r[0] for r in conn.execute("SELECT rowid FROM poems NOT INDEXED WHERE author_norm = ?", (q,))]  # noqa: E731
            what = "poems"
        first = ours()  # warms SQLite pages and the posting cache
        scan_ids = scan()
        if kind in ("fragment", "pattern"):
            got = sorted(h.id for h in index.find(q, k=10**8).hits)
        else:
            got = sorted(store.poem_rowid(h.poem_id) for h in (index.find(title=q, k=10**8) if kind == "title"
                                                                else index.find(author=q, k=10**8)).hits)
        same = got == sorted(scan_ids)
        warm = summary(timed(ours, repeat))
        cold = summary(timed(ours, repeat, before=lambda: [ci._cache.clear() for ci in lex.fields.values()]))
        plain = summary(timed(scan, max(3, repeat // 3)))
        rows.append({"query": label, "pattern": q, "kind": kind, "total": first.total, "unit": what,
                     "same_as_scan": same, "ours_warm": warm, "ours_cold_postings": cold, "scan": plain,
                     "speedup_p50": round(plain["p50_ms"] / max(warm["p50_ms"], 1e-6), 1)})
        print(f"{label:32s} {first.total:>8,} {what:5s}  ours p50 {warm['p50_ms']:7.2f} ms (cpu {warm['cpu_p50_ms']:.2f}, "
              f"p95 {warm['p95_ms']:.2f}; postings re-read {cold['p50_ms']:.2f})  scan p50 {plain['p50_ms']:8.1f} ms "
              f"(cpu {plain['cpu_p50_ms']:.1f})  x{rows[-1]['speedup_p50']:<7} same set: {same}", flush=True)
    t = time.perf_counter()
    index.prosody.match(tones="平")  # the tone arrays are read once an index
    tone_load = round(time.perf_counter() - t, 2)
    for label, pattern, kw in PROSODY if only in ("all", "prosody") else []:
        ours = lambda: index.find(pattern, k=10, **kw)  # noqa: E731
        scan = lambda: prosody_scan(index, pattern, kw)  # noqa: E731
        first = ours()
        scan_ids = scan()
        # every hit compared where there are few; else the count, and the page among the scan's
        got = (sorted(h.id for h in index.find(pattern, k=max(1, first.total), **kw).hits) if first.total <= 20_000
               else None)
        same = (got == sorted(scan_ids)) if got is not None else (
            first.total == len(scan_ids) and {h.id for h in first.hits} <= set(scan_ids))
        warm = summary(timed(ours, repeat))
        cold = summary(timed(ours, repeat, before=lambda: forget_filters(index)))
        plain = summary(timed(scan, 1))  # a scan of every tone string takes seconds: once
        rows.append({"query": label, "pattern": pattern, "kind": "prosody", "find": kw, "total": first.total, "unit": "lines",
                     "same_as_scan": same, "ours_warm": warm, "ours_cold_postings": cold, "scan": plain,
                     "speedup_p50": round(plain["p50_ms"] / max(warm["p50_ms"], 1e-6), 1)})
        print(f"{label:32s} {first.total:>8,} lines  ours p50 {warm['p50_ms']:7.2f} ms (cpu {warm['cpu_p50_ms']:.2f}, "
              f"p95 {warm['p95_ms']:.2f}; filters re-read {cold['p50_ms']:.2f})  scan p50 {plain['p50_ms']:8.1f} ms "
              f"(cpu {plain['cpu_p50_ms']:.1f})  x{rows[-1]['speedup_p50']:<7} same set: {same}", flush=True)
    size = conn.execute("SELECT sum(length(keys)) FROM lexicon").fetchone()[0]
    return {"index": str(index_path), "texts": n_texts, "poems": store.count("poems"), "repeat": repeat,
            "postings_bytes": size, "tone_arrays_load_seconds": tone_load, "lexical_build_seconds": index.manifest.get("lexical", {}).get("build_seconds"),
            "queries": rows}


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--index", default=None, help="an index with the lexical tables (default: build one)")
    ap.add_argument("--corpus", default=str(ROOT / "data" / "chinese-poetry"))
    ap.add_argument("--repeat", type=int, default=15)
    ap.add_argument("--out", default=None, help="write the results as JSON here")
    ap.add_argument("--only", choices=("all", "find", "prosody"), default="all",
                    help="find: fragments, patterns, titles, authors; prosody: the tones/rhyme finds")
    args = ap.parse_args(argv)
    path = Path(args.index) if args.index else ROOT / "bench" / "work" / "lexical-full"
    if not args.index:
        from poetry_search import build_index

        t = time.perf_counter()
        build_index(args.corpus, path, lexical_only=True)
        print(f"built {path} (--lexical-only) in {time.perf_counter() - t:.0f}s", flush=True)
    res = run(path, args.repeat, args.only)
    if args.out:
        Path(args.out).write_text(json.dumps(res, ensure_ascii=False, indent=1))
    return res


if __name__ == "__main__":
    main()
