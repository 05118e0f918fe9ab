"""Why the lexical index is per-character positional postings: the alternatives measured.

    python bench/lexical_choice.py --index PATH [--limit N] [--out FILE]

Copies the distinct lines of an index (all, or the first --limit) into a scratch database and
builds there (1) SQLite FTS5 over the lines with their characters space-separated (the default
unicode61 tokenizer then makes one token per character; a fragment is a phrase query), and (2)
FTS5 with the trigram tokenizer (fragments of 3+ characters only). Prints the build time, the
size, and the time to fetch every matching id for the same fragments, next to our postings
(`CharIndex.match`) and a plain LIKE scan, all on the same texts in one run.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

FRAGMENTS = ["谁先觉", "床前明月光", "明月", "春风", "不"]


def ms(fn, repeat=5):
    out = []
    for _ in range(repeat):
        t = time.perf_counter()
        r = fn()
        out.append((time.perf_counter() - t) * 1000)
    return round(statistics.median(out), 2), r


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--index", required=True)
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    from poetry_search import Index
    from poetry_search.store.lexicon import Pattern

    index = Index.open(args.index)
    rows = index.store.conn.execute("SELECT id, text FROM texts ORDER BY id" + (f" LIMIT {int(args.limit)}" if args.limit else "")).fetchall()
    n = len(rows)
    res: dict = {"texts": n, "build": {}, "size_bytes": {}, "queries": []}
    (ROOT / "bench" / "work").mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=ROOT / "bench" / "work") as tmp:
        db = sqlite3.connect(os.path.join(tmp, "alt.db"))
        db.execute("PRAGMA journal_mode=OFF")
        db.execute("CREATE TABLE texts (id INTEGER PRIMARY KEY, text TEXT)")
        db.executemany("INSERT INTO texts VALUES (?, ?)", rows)
        db.commit()
        base = os.path.getsize(os.path.join(tmp, "alt.db"))
        t = time.perf_counter()
        db.execute("CREATE VIRTUAL TABLE chars USING fts5(t, content='', detail='full')")
        db.executemany("INSERT INTO chars (rowid, t) VALUES (?, ?)", ((i, " ".join(s)) for i, s in rows))
        db.commit()
        res["build"]["fts5_chars"] = round(time.perf_counter() - t, 1)
        s1 = os.path.getsize(os.path.join(tmp, "alt.db"))
        res["size_bytes"]["fts5_chars"] = s1 - base
        t = time.perf_counter()
        db.execute("CREATE VIRTUAL TABLE tri USING fts5(t, content='', tokenize='trigram', detail='full')")
        db.executemany("INSERT INTO tri (rowid, t) VALUES (?, ?)", rows)
        db.commit()
        res["build"]["fts5_trigram"] = round(time.perf_counter() - t, 1)
        res["size_bytes"]["fts5_trigram"] = os.path.getsize(os.path.join(tmp, "alt.db")) - s1
        res["size_bytes"]["ours_postings"] = index.store.conn.execute(
            "SELECT sum(length(keys)) FROM lexicon WHERE field = 'text'").fetchone()[0]
        res["build"]["ours_all_fields_and_popularity"] = index.manifest.get("lexical", {}).get("build_seconds")
        ci = index.lexicon.text()
        limit = n
        for frag in FRAGMENTS:
            phrase = '"' + " ".join(frag) + '"'
            t_ours, ours = ms(lambda: ci.match(Pattern(frag, (frag,), False, False)))
            ours = [int(i) for i in ours if i < limit]
            t_chars, chars = ms(lambda: [r[0] for r in db.execute("SELECT rowid FROM chars WHERE chars MATCH ?", (phrase,))])
            if len(frag) >= 3:
                t_tri, tri = ms(lambda: [r[0] for r in db.execute("SELECT rowid FROM tri WHERE tri MATCH ?", (f'"{frag}"',))])
            else:
                t_tri, tri = None, None  # the trigram tokenizer cannot look up 1-2 characters
            t_like, like = ms(lambda: [r[0] for r in db.execute("SELECT id FROM texts WHERE text LIKE ?", (f"%{frag}%",))], 3)
            row = {"fragment": frag, "matches": len(like), "ours_ms": t_ours, "fts5_chars_ms": t_chars,
                   "fts5_trigram_ms": t_tri, "like_scan_ms": t_like,
                   "agree": sorted(ours) == sorted(like) == sorted(chars) and (tri is None or sorted(tri) == sorted(like))}
            res["queries"].append(row)
            print(json.dumps(row, ensure_ascii=False), flush=True)
        db.close()
    print(json.dumps({k: v for k, v in res.items() if k != "queries"}, ensure_ascii=False), flush=True)
    if args.out:
        Path(args.out).write_text(json.dumps(res, ensure_ascii=False, indent=1))
    return res


if __name__ == "__main__":
    main()
