"""How many distinct corpus lines merge under the variant key (poetry_search/corpus/variants.py),
which variant pairs cause the merges, and a random sample of merged groups to read.

Usage: python scripts/variant_merges.py [--corpus DIR] [--cache PKL] [--sample 50] [--seed 21]
"""

from __future__ import annotations

import argparse
import random
import time
from collections import Counter

import _layout  # noqa: F401
import corpus_cache

from poetry_search.corpus.variants import match_key


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", default=corpus_cache.DEFAULT_CORPUS)
    ap.add_argument("--cache", default=corpus_cache.DEFAULT_CACHE)
    ap.add_argument("--sample", type=int, default=50)
    ap.add_argument("--seed", type=int, default=21)
    args = ap.parse_args()
    texts = corpus_cache.load(args.corpus, args.cache)["texts"]
    t = time.perf_counter()
    keys = [match_key(s) for s in texts]
    took = time.perf_counter() - t
    groups: dict[str, list[str]] = {}
    for s, k in zip(texts, keys):
        groups.setdefault(k, []).append(s)
    merged = {k: v for k, v in groups.items() if len(v) > 1}
    changed = sum(1 for s, k in zip(texts, keys) if s != k)
    lost = len(texts) - len(groups)
    print(f"distinct lines {len(texts):,}; distinct keys {len(groups):,}; lines whose key differs from the text "
          f"{changed:,}; keys shared by 2+ lines {len(merged):,} (holding {sum(map(len, merged.values())):,} lines); "
          f"lines that merge into another: {lost:,} ({lost / len(texts):.3%}); key time {took:.1f} s")
    pairs: Counter = Counter()
    for k, members in merged.items():
        for s in members:
            for a, b in zip(s, k):
                if a != b:
                    pairs[(a, b)] += 1
    print("variant → key, lines merged by it (top 40):")
    print("  " + "  ".join(f"{a}→{b} {n}" for (a, b), n in pairs.most_common(40)))
    rng = random.Random(args.seed)
    sample = rng.sample(sorted(merged), min(args.sample, len(merged)))
    print(f"random sample of {len(sample)} merged groups (seed {args.seed}):")
    for k in sample:
        print("  " + " | ".join(merged[k]))


if __name__ == "__main__":
    main()
