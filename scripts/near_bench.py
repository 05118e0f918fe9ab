"""Near matches on the whole corpus: build time, memory and disk of store/near.py's index, and the
warm query time (p50, p95) of queries one character off a random corpus line, beside a numpy
scan of the same-length lines for one mismatch (the baseline in issue 21).

Usage: python scripts/near_bench.py [--queries 500] [--seed 21] [--out /tmp/attr/near.npz]
"""

from __future__ import annotations

import argparse
import os
import random
import time
from pathlib import Path

import _layout  # noqa: F401
import corpus_cache
import numpy as np

from poetry_search.corpus.variants import match_key
from poetry_search.store.near import NearIndex


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS"):
                return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--queries", type=int, default=500)
    ap.add_argument("--seed", type=int, default=21)
    ap.add_argument("--out", type=Path, default=Path("/tmp/attr/near.npz"))
    args = ap.parse_args()
    texts = corpus_cache.load()["texts"]
    keys = [match_key(s) for s in texts]
    t = time.perf_counter()
    idx = NearIndex.build(keys)
    build_s = time.perf_counter() - t
    idx.save(args.out)
    disk = os.path.getsize(args.out)
    before = rss_mb()
    t = time.perf_counter()
    idx = NearIndex.load(args.out)
    load_s = time.perf_counter() - t
    filed = sum(t["ids"].size for t in idx.tables.values())
    print(f"filed {filed:,} of {len(keys):,} lines (5+ chars); alphabet {len(idx.alphabet):,}; build {build_s:.1f} s; "
          f"disk {disk / 2**20:.0f} MiB; in memory {idx.nbytes() / 2**20:.0f} MiB (RSS +{rss_mb() - before:.0f} MiB); "
          f"load {load_s:.2f} s")
    rng = random.Random(args.seed)
    alphabet = list(idx.alphabet)
    long = [k for k in keys if len(k) >= 5]
    queries = []
    for _ in range(args.queries):
        s = rng.choice(long)
        j = rng.randrange(len(s))
        queries.append(s[:j] + rng.choice(alphabet) + s[j + 1:])
    for q in queries[:20]:
        idx.near(q)  # warm
    times, found = [], 0
    for q in queries:
        t = time.perf_counter()
        got = idx.near(q)
        times.append(time.perf_counter() - t)
        found += got.size > 0
    times = np.array(times) * 1000
    print(f"{len(queries)} queries one character off a corpus line: p50 {np.median(times):.2f} ms, "
          f"p95 {np.percentile(times, 95):.2f} ms, max {times.max():.1f} ms; {found} with a near line")
    q = match_key("远近高低各不同")
    got = idx.near(q)
    print(f"远近高低各不同 → {[texts[i] for i in got]}")
    # baseline: numpy scan of the same-length matrix for one mismatch
    table = idx.tables[7]
    qa = np.array([idx.alphabet.get(c, len(idx.alphabet)) for c in q])
    t = time.perf_counter()
    for _ in range(5):
        hit = ((table["chars"] != qa[None, :]).sum(axis=1) == 1)
    scan_ms = (time.perf_counter() - t) / 5 * 1000
    print(f"numpy scan of the {table['ids'].size:,} seven-character lines: {scan_ms:.0f} ms "
          f"({[texts[i] for i in table['ids'][hit]]})")


if __name__ == "__main__":
    main()
