"""Near matches by kind of edit on a built index: for random corpus lines of 6+ characters with
one character replaced, left out or added, the warm time of ``NearIndex.near`` with and without
the left-out/added lookups, and how many queries get a near line back; for lines of 7+ with two
characters of one half replaced, the same for ``NearIndex.two_replaced``; two neighbours swapped
(``transposed``) and five-character lines with a middle character lost (``left_out``).

Usage: python scripts/near_edits_bench.py --index INDEX [--queries 500] [--seed 21]
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import time
from pathlib import Path

import _layout  # noqa: F401
import numpy as np

from poetry_search.corpus.variants import match_key
from poetry_search.store.near import TWO_MIN_LENGTH, NearIndex


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--index", type=Path, required=True)
    ap.add_argument("--queries", type=int, default=500)
    ap.add_argument("--seed", type=int, default=21)
    args = ap.parse_args()
    near = NearIndex.load(args.index / "near.npz")
    db = sqlite3.connect(f"file:{args.index / 'poetry.db'}?mode=ro", uri=True)
    top = db.execute("SELECT max(id) FROM texts").fetchone()[0]
    rng = random.Random(args.seed)
    texts: list[str] = []
    while len(texts) < args.queries:
        row = db.execute("SELECT text FROM texts WHERE id = ?", (rng.randrange(top + 1),)).fetchone()
        if row and len(row[0]) >= 6:
            texts.append(match_key(row[0]))
    alphabet = sorted(set("".join(texts)))
    print(f"| edit | lookups | p50 | p95 | max | queries with a near line |\n| --- | --- | --- | --- | --- | --- |")
    for kind in ("replaced", "left out", "added"):
        queries = []
        for t in texts:
            i, c = rng.randrange(len(t)), rng.choice(alphabet)
            queries.append({"replaced": t[:i] + c + t[i + 1:], "left out": t[:i] + t[i + 1:], "added": t[:i] + c + t[i:]}[kind])
        for indels in (False, True):
            near.near(queries[0], indels=indels)
            times, answered = [], 0
            for q in queries:
                t0 = time.perf_counter()
                answered += near.near(q, indels=indels).size > 0
                times.append((time.perf_counter() - t0) * 1000)
            ms = np.array(times)
            print(f"| {kind} | {'all three' if indels else 'replaced only'} | {np.median(ms):.2f} ms | "
                  f"{np.percentile(ms, 95):.2f} ms | {ms.max():.1f} ms | {answered}/{len(queries)} |")
    # two characters replaced in one half of a line of 7+ (what two_replaced answers), and the
    # time it adds to a miss: the lookup a query of 7+ pays when nothing is one edit away
    long_texts = [t for t in texts if len(t) >= TWO_MIN_LENGTH]
    queries = []
    for t in long_texts:
        h = len(t) // 2
        half = list(range(h)) if rng.random() < 0.5 else list(range(h, len(t)))
        q = list(t)
        for i in rng.sample(half, 2):
            q[i] = rng.choice(alphabet)
        queries.append("".join(q))
    times, answered = [], 0
    for q in queries:
        t0 = time.perf_counter()
        answered += near.two_replaced(q).size > 0
        times.append((time.perf_counter() - t0) * 1000)
    ms = np.array(times)
    print(f"| two replaced in one half | two_replaced | {np.median(ms):.2f} ms | {np.percentile(ms, 95):.2f} ms | "
          f"{ms.max():.1f} ms | {answered}/{len(queries)} |")
    # two neighbours swapped anywhere (transposed), and five-character lines with one of their
    # middle three characters lost: four-character fragments (left_out)
    swapped, lost = [], []
    for t in texts:
        i = rng.randrange(len(t) - 1)
        swapped.append(t[:i] + t[i + 1] + t[i] + t[i + 2:])
    while len(lost) < args.queries:
        row = db.execute("SELECT text FROM texts WHERE id = ?", (rng.randrange(top + 1),)).fetchone()
        if row and len(row[0]) == 5:
            t, j = match_key(row[0]), rng.randrange(1, 4)
            lost.append(t[:j] + t[j + 1:])
    for label, fn, queries in (("two neighbours swapped", near.transposed, swapped),
                               ("four characters, one of five lost", near.left_out, lost)):
        times, answered = [], 0
        for q in queries:
            t0 = time.perf_counter()
            answered += fn(q).size > 0
            times.append((time.perf_counter() - t0) * 1000)
        ms = np.array(times)
        print(f"| {label} | {fn.__name__} | {np.median(ms):.2f} ms | {np.percentile(ms, 95):.2f} ms | "
              f"{ms.max():.1f} ms | {answered}/{len(queries)} |")


if __name__ == "__main__":
    main()
