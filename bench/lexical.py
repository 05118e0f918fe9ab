"""Lexical search speed: `Index.find` vs a plain LIKE/GLOB scan of the same table, in one run.

    python bench/lexical.py [--index PATH] [--corpus data/chinese-poetry] [--repeat 15] [--out FILE]

Without --index, builds a --lexical-only index of --corpus under bench/work/ (no model needed).
For every query: our latency through the Python API (k=10, ranked, with metadata), warm (p50,
p95), and once more with the per-index posting cache emptied before each call (SQLite and the OS
page cache stay warm); the plain scan's latency (ids only, unranked: a lower bound for a scan);
and a check that both return the same set of lines (or poems).
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


def run(index_path: Path, repeat: int) -> dict:
    from poetry_search import Index

    index = Index.open(index_path)
    store = index.store
    conn = store.conn
    lex = index.lexicon
    n_texts = len(index)
    rows = []
    for label, kind, q in QUERIES:
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
    size = conn.execute("SELECT sum(length(keys)) FROM lexicon").fetchone()[0]
    return {"index": str(index_path), "texts": n_texts, "poems": store.count("poems"), "repeat": repeat,
            "postings_bytes": size, "lexical_build_seconds": index.manifest.get("lexical", {}).get("build_seconds"),
            "queries": rows}


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--index", default=None, help="an index with the lexical tables (default: build one)")
    ap.add_argument("--corpus", default=str(ROOT / "data" / "chinese-poetry"))
    ap.add_argument("--repeat", type=int, default=15)
    ap.add_argument("--out", default=None, help="write the results as JSON here")
    args = ap.parse_args(argv)
    path = Path(args.index) if args.index else ROOT / "bench" / "work" / "lexical-full"
    if not args.index:
        from poetry_search import build_index

        t = time.perf_counter()
        build_index(args.corpus, path, lexical_only=True)
        print(f"built {path} (--lexical-only) in {time.perf_counter() - t:.0f}s", flush=True)
    res = run(path, args.repeat)
    if args.out:
        Path(args.out).write_text(json.dumps(res, ensure_ascii=False, indent=1))
    return res


if __name__ == "__main__":
    main()
