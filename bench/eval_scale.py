"""How long the corpus-side work of `poetry-search eval` takes on a whole-corpus database.

    .venv/bin/python bench/eval_scale.py --db index-full/poetry.db [--sample 1000]

Needs only the SQLite database (no vectors, no model): it times reading the couplets of regulated
verse and the （一作…） variants, building the BM25-over-characters baseline over every distinct line,
and ranking the sampled queries' answers with it, the parts of `eval` whose cost grows with the
corpus. The model's side is the index's own search (see `make bench` for its per-query time).
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # this checkout's package, not another install

from poetry_search.corpus.normalize import Normalizer  # noqa: E402
from poetry_search.evaluate.tasks import (  # noqa: E402
    RECALL_KS,
    VARIANT_BOOKS,
    VARIANT_MARKER,
    CharBM25,
    baseline_ranks,
    line_variants,
    ranking_metrics,
    regulated_couplets,
)
from poetry_search.store.db import Store  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", required=True, help="poetry.db of a whole-corpus index")
    ap.add_argument("--sample", type=int, default=1000, help="couplet queries to rank")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    store = Store.__new__(Store)  # read-only: never touch someone's index
    store.conn = sqlite3.connect(f"file:{args.db}?mode=ro", uri=True)
    store.path = Path(args.db)
    out: dict = {}

    t = time.perf_counter()
    texts = store.text_column("text").to_pylist()
    out["read_texts_s"] = round(time.perf_counter() - t, 1)
    lengths = np.fromiter(map(len, texts), np.int64, len(texts))

    t = time.perf_counter()
    pairs = regulated_couplets(*store.line_layout(), lengths)
    out["couplets_s"] = round(time.perf_counter() - t, 1)
    out["couplets"] = len(pairs)

    t = time.perf_counter()
    norm = Normalizer(store.glyphs())
    variants = {(v, tid) for tid, o in store.annotated_lines(VARIANT_BOOKS, VARIANT_MARKER) for v in line_variants(o, norm)}
    out["variants_s"] = round(time.perf_counter() - t, 1)
    out["variants"] = len(variants)

    t = time.perf_counter()
    bm25 = CharBM25(texts)
    out["bm25_build_s"] = round(time.perf_counter() - t, 1)
    out["lines"] = bm25.n
    out["postings"] = int(len(bm25.rows))

    rng = np.random.default_rng([args.seed, 0])
    pick = np.sort(rng.choice(len(pairs), size=min(args.sample, len(pairs)), replace=False))
    q_ids, targets = pairs[pick, 0], pairs[pick, 1]
    t = time.perf_counter()
    g, ties = baseline_ranks(bm25, [texts[i] for i in q_ids], targets, q_ids)
    dt = time.perf_counter() - t
    out["baseline_queries"] = len(pick)
    out["baseline_ms_per_query"] = round(1000 * dt / max(1, len(pick)), 1)
    out["baseline_couplets"] = {k: round(v, 4) for k, v in ranking_metrics(g, ties, RECALL_KS["couplets"]).items()}
    v = sorted(variants)
    own = store.ids_of_texts([x[0] for x in v])
    t = time.perf_counter()
    vg, vt = baseline_ranks(bm25, [x[0] for x in v], np.array([x[1] for x in v]),
                            np.array([own.get(x[0], -1) for x in v]))
    out["baseline_variants_s"] = round(time.perf_counter() - t, 1)
    out["baseline_variants_all"] = {k: round(x, 4) for k, x in ranking_metrics(vg, vt, RECALL_KS["variants"]).items()}
    print(json.dumps(out, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
