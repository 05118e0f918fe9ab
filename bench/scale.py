"""`make bench-scale`: the whole corpus at bert-base's size (768-d, layer-less random model).

    python bench/scale.py [--model M] [--index DIR] [--cache DIR] [--sections cache,build,open,export,types]
                          [--subset N] [--out bench/scale-results.json]

Sections (each prints a table and goes into the results file):

cache   190 commits of 4,096 × 768 vectors into a fresh embedding cache (a new process): bytes
        written (/proc/self/io) against the final size, memory growth, every vector found.
build   `poetry-search index` of data/chinese-poetry with the model (a new process): wall time,
        peak RSS (VmHWM), bytes written by the process (/proc/self/io write_bytes) against what
        stays on disk (cache + index). Skipped with --reuse when the index exists.
open    Index.open and a cold `poetry-search query` on the whole-corpus index: median of 3 new
        processes each (page cache warm).
export  `poetry-search export` in new processes, whole process timed: `--method index` (the index's
        own batched search) on a slice of 20,000 corpus lines given as --queries, and every line of
        the corpus as a user runs it (`--method auto`: blocks when they reach the promised recall on
        a sample, else the index's search), each with the recall@10 it prints (exported neighbours
        against exact search on 300 lines). With --subset: the index path against the blocked
        export in-process, and projected hours for the whole corpus.
types   HNSW32,SQ8 (today's auto) against IVF…_HNSW32,SQ8 over the same vectors, both re-ranked
        exactly. Whole corpus: `poetry-search index --index-type T` from the warm cache (build
        time, peak RSS, the recall@10 and depth its tuning chose, warm single-query latency, size).
        With --subset N: both built in-process over N vectors, tuned to recall@10 0.97 on 300
        lines, plus batched throughput.

Figures taken while other work shares the machine are slower than on a quiet one; ratios are
measured side by side in one run. With --subset N the export and types sections use the first N
vectors of the index (or of the embedding cache with --from-cache, before any index exists).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import numpy as np
from run import say, table  # noqa: E402  (make bench's printing, shared)

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))  # the random-model builder and the live-server harness
PY = sys.executable
RESULTS: dict = {}

PROC = r"""
import json, sys, time
t = time.perf_counter()
from poetry_search.cli import cli
code = 0
try:
    cli(sys.argv[2:], prog_name="poetry-search", standalone_mode=False)
except SystemExit as e:
    code = e.code or 0
finally:
    io = dict(l.split(":") for l in open("/proc/self/io").read().splitlines())
    st = {l.split(":")[0]: l.split(":")[1] for l in open("/proc/self/status").read().splitlines() if ":" in l}
    json.dump({"seconds": time.perf_counter() - t, "write_bytes": int(io["write_bytes"]),
               "read_bytes": int(io["read_bytes"]), "peak_rss": int(st["VmHWM"].split()[0]) * 1024, "code": code},
              open(sys.argv[1], "w"))
"""


def gib(b: float) -> str:
    return f"{b / 2**30:.2f} GiB"


def cli_process(*args, env=None) -> dict:
    stats = Path(tempfile.mktemp(suffix=".json"))
    t = time.perf_counter()
    r = subprocess.run([PY, "-c", PROC, str(stats), *args], env={**os.environ, **(env or {})}, cwd=ROOT,
                       capture_output=True, text=True)
    wall = time.perf_counter() - t
    if r.returncode != 0 or not stats.exists():
        raise SystemExit(f"poetry-search {' '.join(args)} failed:\n{r.stderr[-3000:]}")
    out = json.loads(stats.read_text())
    stats.unlink()
    return {**out, "wall": wall, "stderr": r.stderr, "stdout": r.stdout}


def du(path: Path) -> int:
    return sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file())


# ---------------------------------------------------------------------------------------------


def bench_cache(args) -> None:
    with tempfile.TemporaryDirectory(dir=args.tmp) as d:
        code = (f"import json, sys; sys.path.insert(0, {str(ROOT / 'tests')!r}); from random_models import cache_churn; "
                f"print(json.dumps(cache_churn({d!r}, 190, 4096, 768)))")
        t = time.perf_counter()
        r = subprocess.run([PY, "-c", code], cwd=ROOT, capture_output=True, text=True)
        if r.returncode:
            raise SystemExit(r.stderr[-2000:])
        res = {**json.loads(r.stdout), "seconds": time.perf_counter() - t}
    RESULTS["cache"] = res
    table("cache: 190 commits of 4,096 × 768 vectors", [
        ("final size", gib(res["final_bytes"]), f"{res['segments']} segments"),
        ("written", gib(res["written_bytes"]), f"{res['write_ratio']:.2f}x the final size (need ≤ 2x)"),
        ("memory growth", gib(res["memory_growth_bytes"]), "(need ≤ 1.5 GB)"),
        ("found", f"{res['found']:,} of {res['vectors']:,}, equal {res['equal']:,}"),
        ("seconds", f"{res['seconds']:.0f}")])


def bench_build(args) -> None:
    index = Path(args.index)
    if args.reuse and (index / "poetry.db").exists():
        say(f"\n== build: reusing {index} (--reuse)")
        return
    cache_before = du(Path(args.cache)) if Path(args.cache).exists() else 0
    r = cli_process("index", "--corpus", str(ROOT / "data" / "chinese-poetry"), "--index", str(index), "--model",
                    args.model, "--cache", args.cache, "--quiet", *(["--index-type", args.index_type] if args.index_type else []))
    kept_cache, kept_index = du(Path(args.cache)), du(index)
    kept = kept_cache + kept_index
    res = {"seconds": r["wall"], "peak_rss": r["peak_rss"], "write_bytes": r["write_bytes"], "kept_cache": kept_cache,
           "kept_index": kept_index, "cache_before": cache_before, "write_ratio": r["write_bytes"] / kept,
           "summary": r["stderr"].strip().splitlines()[-1:]}
    RESULTS["build"] = res
    table("build: whole corpus, 768-d", [
        ("wall", f"{res['seconds'] / 60:.1f} min"), ("peak RSS", gib(res["peak_rss"]), "(need ≤ 8 GB)"),
        ("written", gib(res["write_bytes"]), f"{res['write_ratio']:.2f}x kept (need ≤ 3x)"),
        ("kept", f"cache {gib(kept_cache)} (before: {gib(cache_before)}), index {gib(kept_index)}")])


OPEN = r"""
import sys, time
t = time.perf_counter()
from poetry_search import Index
i = Index.open(sys.argv[1])
print(time.perf_counter() - t, len(i))
"""


def bench_open(args) -> None:
    opens, queries = [], []
    for _ in range(3):
        r = subprocess.run([PY, "-c", OPEN, args.index], cwd=ROOT, capture_output=True, text=True)
        if r.returncode:
            raise SystemExit(r.stderr[-2000:])
        opens.append(float(r.stdout.split()[0]))
    for _ in range(3):
        t = time.perf_counter()
        r = subprocess.run([PY, "-m", "poetry_search", "query", "春眠不觉晓", "--index", args.index, "-k", "10"],
                           cwd=ROOT, capture_output=True, text=True)
        queries.append(time.perf_counter() - t)
        if r.returncode:
            raise SystemExit(r.stderr[-2000:])
    RESULTS["open"] = {"index_open_seconds": opens, "cold_query_seconds": queries}
    table("open and cold query, whole-corpus index (new processes, page cache warm)", [
        ("Index.open", f"median {statistics.median(opens):.2f} s", str([round(x, 2) for x in opens]), "(need ≤ 0.5 s)"),
        ("poetry-search query", f"median {statistics.median(queries):.2f} s", str([round(x, 2) for x in queries]),
         "(need ≤ 2.5 s)")])


# -- vectors for the export and types sections ---------------------------------------------------


class ArrayVectors:
    """The exact-vector side of vectors.Vectors over an in-memory array (subset benchmarks)."""

    def __init__(self, x: np.ndarray):
        from poetry_search.store.vectors import Vectors

        self.x = x
        self.ntotal, self.d = x.shape
        self.exact = x
        self._rr = Vectors.__dict__["_rerank"]
        self.get_ = Vectors.__dict__["get"]

    def rows(self, start, count):
        return np.asarray(self.x[start:start + count], np.float32)

    def get(self, ids):
        return self.get_(self, ids)

    def _rerank(self, q, cand, k):
        return self._rr(self, q, cand, k)


def load_vectors(args) -> np.ndarray:
    if args.from_cache:
        from poetry_search.encode.cache import _Segment

        folders = [f for f in Path(args.cache).glob("vectors-*")
                   if json.loads((f / "key.json").read_text()).get("dimension") == args.dimension]
        segs = sorted(s for f in folders for s in f.glob("seg-*") if "partial" not in s.name)
        parts, total = [], 0
        for s in segs:
            v = _Segment(s).vectors_map()
            parts.append(np.array(v[: args.subset - total]))
            total += len(parts[-1])
            if total >= args.subset:
                break
        return np.concatenate(parts)
    from poetry_search.store.vectors import Vectors

    v = Vectors.load(Path(args.index))
    n = min(v.ntotal, args.subset or v.ntotal)
    return np.asarray(v.exact[:n] if v.exact is not None else v.rows(0, n), np.float32)


def build_faiss(spec: str, x: np.ndarray, train_n: int):
    import faiss

    from poetry_search.store.vectors import Vectors

    t = time.perf_counter()
    inner = faiss.index_factory(x.shape[1], spec, faiss.METRIC_INNER_PRODUCT)
    index = faiss.IndexIDMap2(inner)
    if not index.is_trained:
        rng = np.random.default_rng(0)
        index.train(x[np.sort(rng.choice(len(x), size=min(len(x), train_n), replace=False))])
    t_train = time.perf_counter() - t
    step = 65_536
    for s in range(0, len(x), step):
        index.add_with_ids(x[s:s + step], np.arange(s, min(len(x), s + step), dtype=np.int64))
    seconds = time.perf_counter() - t
    vec = Vectors(index, exact=x)
    return vec, seconds, t_train, faiss.serialize_index(index).nbytes


def bench_types(args, x: np.ndarray) -> dict:
    import faiss

    from poetry_search.store import recall, vectors

    n = len(x)
    rng = np.random.default_rng(7)
    q_ids = np.sort(rng.choice(n, size=300, replace=False))
    truth_s, _ = recall.exact_top(ArrayVectors(x), ArrayVectors(x).get(q_ids), 11)
    truth_s = truth_s[:, 1:11]  # the line itself first
    q = x[q_ids]
    out = {}
    specs = [("hnsw", f"HNSW{vectors.HNSW_M},SQ8", "ef", [32, 64, 128, 256, 512, 1024, 2048]),
             ("ivf-hnsw", f"IVF{vectors.ivf_hnsw_lists(n)}_HNSW{vectors.HNSW_M},SQ8", "nprobe",
              [8, 16, 32, 64, 128, 256, 512, 1024])]
    for name, spec, knob, values in specs:
        vec, seconds, t_train, nbytes = build_faiss(spec, x, vectors.training_size(
            faiss.downcast_index(faiss.index_factory(x.shape[1], spec, faiss.METRIC_INNER_PRODUCT)), n))
        tried = {}
        for v in values:
            vec.set_depth(**{knob: v})
            s, _ = vec.search(q, 11)
            tried[v] = recall.recall_at(s[:, 1:], truth_s, 10)
            if tried[v] >= 0.97:
                break
        chosen = next((v for v in tried if tried[v] >= 0.97), max(tried, key=tried.get))
        vec.set_depth(**{knob: chosen})
        lat = []
        for i in range(100):
            t = time.perf_counter()
            vec.search(q[i:i + 1], 10)
            lat.append(time.perf_counter() - t)
        t = time.perf_counter()
        vec.search(x[:2000], 11)
        batch_rate = 2000 / (time.perf_counter() - t)
        out[name] = {"factory": spec, "build_seconds": seconds, "train_seconds": t_train, "index_bytes": nbytes,
                     knob: chosen, "recall_at_10": tried[chosen], f"recall_by_{knob}": tried,
                     "latency_p50_ms": 1000 * statistics.median(lat), "batch_lines_per_s": batch_rate}
        del vec
    RESULTS["types"] = {"vectors": n, **out}
    h, i = out["hnsw"], out["ivf-hnsw"]
    table(f"index types over the same {n:,} vectors (768-d), exact re-ranking, tuned to recall@10 0.97 on 300 lines", [
        ("", "build", "recall@10", "depth", "p50 latency", "batched", "index size"),
        *[(k, f"{r['build_seconds']:.0f} s", f"{r['recall_at_10']:.3f}", f"{'ef' if 'ef' in r else 'nprobe'} {r.get('ef', r.get('nprobe'))}",
           f"{r['latency_p50_ms']:.1f} ms", f"{r['batch_lines_per_s']:.0f} lines/s", gib(r["index_bytes"]))
          for k, r in out.items()],
        ("ratio", f"hnsw build / ivf-hnsw build = {h['build_seconds'] / i['build_seconds']:.1f}x")])
    return out


def bench_types_builds(args) -> dict:
    """The whole corpus: `poetry-search index --index-type T` for each type, in new processes, over
    the same cached vectors (no encoding), then warm single-query latency on each."""
    from poetry_search import Index

    out = {}
    rng = np.random.default_rng(7)
    for kind in ("hnsw", "ivf-hnsw"):
        folder = Path(f"{args.index}-{kind}") if kind != "hnsw" or not (Path(args.index) / "poetry.db").exists() \
            else Path(args.index)
        if folder != Path(args.index) or "build" not in RESULTS:
            if not (args.reuse and (folder / "poetry.db").exists()):
                r = cli_process("index", "--corpus", str(ROOT / "data" / "chinese-poetry"), "--index", str(folder),
                                "--model", args.model, "--cache", args.cache, "--quiet", "--no-onnx", "--index-type", kind)
                out[kind] = {"build_seconds": r["wall"], "peak_rss": r["peak_rss"]}
        else:
            out[kind] = {"build_seconds": RESULTS["build"]["seconds"], "peak_rss": RESULTS["build"]["peak_rss"]}
        idx = Index.open(folder)
        m = idx.manifest
        out[kind].update(factory=m.get("faiss_factory"), recall_at_10=m.get("recall_at_10"), depth=m.get("search_depth"),
                         index_bytes=(folder / "vectors.faiss").stat().st_size,
                         manifest_build_seconds=m.get("build_seconds"))
        q = idx.vectors.get(np.sort(rng.choice(len(idx), size=100, replace=False)))
        lat = []
        for i in range(len(q)):
            t = time.perf_counter()
            idx.vectors.search(q[i:i + 1], 10)
            lat.append(time.perf_counter() - t)
        out[kind]["latency_p50_ms"] = 1000 * statistics.median(lat)
        idx.close()
    RESULTS["types"] = {"vectors": "whole corpus", **out}
    table("index types, whole corpus (768-d), same cached vectors, exact re-ranking, depth tuned at build to recall@10 0.97", [
        ("", "build", "peak RSS", "recall@10", "depth", "p50 latency", "index size"),
        *[(k, f"{r['build_seconds'] / 60:.1f} min" if "build_seconds" in r else "(reused)", gib(r["peak_rss"]) if "peak_rss" in r else "",
           f"{r['recall_at_10']:.3f}", str(r["depth"]), f"{r['latency_p50_ms']:.1f} ms", gib(r["index_bytes"]))
          for k, r in out.items()]])
    return out


def bench_export(args, x: np.ndarray | None) -> None:
    """lines/s of the export: whole corpus, the real command (a slice by the index, every line as a
    user runs it); with --subset, the index path against the blocked export side by side."""
    from poetry_search.search import blocked
    from poetry_search.store import recall

    res = {}
    if x is None:  # the whole-corpus index: the real `export` command, both ways, in new processes
        import re
        import sqlite3

        db = sqlite3.connect(f"file:{Path(args.index) / 'poetry.db'}?mode=ro", uri=True)
        n = db.execute("SELECT count(*) FROM texts").fetchone()[0]
        rng = np.random.default_rng(0)
        ids = np.sort(rng.choice(n, size=min(n, args.slice), replace=False)).tolist()
        texts = [db.execute("SELECT text FROM texts WHERE id = ?", (i,)).fetchone()[0] for i in ids]
        db.close()
        with tempfile.TemporaryDirectory(dir=args.tmp) as d:
            qf = Path(d) / "queries.txt"
            qf.write_text("\n".join(texts) + "\n", "utf-8")
            r = cli_process("export", "--index", args.index, "--queries", str(qf), "--out", str(Path(d) / "slice.parquet"),
                            "-k", "10", "--method", "index", "--quiet")
            res["index_lines_per_s"] = len(texts) / r["wall"]
            res["index_slice"] = {"lines": len(texts), "seconds": r["wall"], "report": r["stderr"].strip().splitlines()[-1]}
            # every line, as a user runs it: --method auto measures the blocks on a sample first and
            # falls back to the index's search when they miss the promised recall
            r = cli_process("export", "--index", args.index, "--out", str(Path(d) / "all.parquet"), "-k", "10",
                            "--quiet")
            res["whole_seconds"] = r["wall"]
            res["whole_lines_per_s"] = n / r["wall"]
            res["whole_peak_rss"] = r["peak_rss"]
            res["export_bytes"] = (Path(d) / "all.parquet").stat().st_size
        report = r["stderr"].strip().splitlines()
        m = re.search(r"on (\d+) of these queries: ([0-9.]+) \((.*)\)", report[-1])
        res["quality"] = {"recall_at_k": float(m.group(2)), "recall_sample": int(m.group(1)), "how": m.group(3),
                          "report": report[-2:]}
        idx_m = re.search(r"on (\d+) of these queries: ([0-9.]+)", res["index_slice"]["report"])
        res["index_recall_at_10"] = float(idx_m.group(2)) if idx_m else None
        res["index_depth"] = "the index's tuned depth"
        res["lines"] = n
        RESULTS["export"] = res
        table(f"export, k 10, --exclude self, whole corpus ({n:,} lines), whole processes timed", [
            ("--method index, a slice", f"{res['index_lines_per_s']:.0f} lines/s over {len(texts):,} --queries",
             f"recall@10 {res['index_recall_at_10']}"),
            ("every line (--method auto)", f"{res['whole_lines_per_s']:.0f} lines/s: {res['whole_seconds'] / 60:.1f} min",
             f"recall@10 {res['quality']['recall_at_k']:.3f} on {res['quality']['recall_sample']} lines ({res['quality']['how']})")])
        return
    else:  # a subset: the same two paths over an HNSW index of the subset
        from poetry_search.store import vectors

        n = len(x)
        vec, _, _, _ = build_faiss(f"HNSW{vectors.HNSW_M},SQ8", x, 100_000)
        av = ArrayVectors(x)
        rng = np.random.default_rng(3)
        rep = np.sort(rng.choice(n, size=300, replace=False))
        truth_s, _ = recall.exact_top(av, av.get(rep), 11)
        truth_s = truth_s[:, 1:11]
        for ef in [64, 128, 256, 512, 1024, 2048]:
            vec.set_depth(ef=ef)
            s, _ = vec.search(x[rep], 11)
            if recall.recall_at(s[:, 1:], truth_s, 10) >= 0.97:
                break
        res["index_depth"] = {"ef": ef}
        m = min(n, args.slice)
        t = time.perf_counter()
        s_idx = []
        for s in range(0, m, 1024):
            s_idx.append(vec.search(x[s:s + 1024], 11)[0])
        res["index_lines_per_s"] = m / (time.perf_counter() - t)
        t = time.perf_counter()
        plan = blocked.clustered_candidates(av, 30, 11, say=say)
        sc = []
        for s in range(0, n, 1024):
            c_s, _ = av._rerank(x[s:s + 1024], plan.candidates[s:s + 1024].astype(np.int64), 30)
            sc.append(c_s[:, 1:11])
        res["blocked_seconds"] = time.perf_counter() - t
        res["blocked_lines_per_s"] = n / res["blocked_seconds"]
        got = np.concatenate(sc)[rep]
        res["quality"] = {"recall_at_k": recall.recall_at(got, truth_s, 10), "probe": plan.probe, "nlist": plan.clusters,
                          "probe_tuning": plan.tuning, "plan_seconds": plan.seconds, "recall_sample": 300}
        s_check = np.concatenate(s_idx)[[r for r in rep if r < m]][:, 1:]
        res["index_recall_at_10"] = recall.recall_at(s_check, truth_s[[i for i, r in enumerate(rep) if r < m]], 10)
    res["lines"] = n
    res["projected_hours_whole_corpus"] = {k: 3_106_000 / res[f"{k}_lines_per_s"] / 3600 for k in ("index", "blocked")}
    RESULTS["export"] = res
    table(f"export, k 10, --exclude self, {n:,} lines" + (" (subset)" if x is not None else " (whole corpus)"), [
        ("index search", f"{res['index_lines_per_s']:.0f} lines/s at {res['index_depth']}",
         f"projected {res['projected_hours_whole_corpus']['index']:.1f} h for 3.1M lines"),
        ("blocked", f"{res['blocked_lines_per_s']:.0f} lines/s", f"projected {res['projected_hours_whole_corpus']['blocked']:.1f} h",
         f"recall@10 {res['quality']['recall_at_k']:.3f} on {res['quality']['recall_sample']} lines "
         f"({res['quality'].get('how') or 'probe %s of %s clusters' % (res['quality'].get('probe'), res['quality'].get('nlist'))})"),
        ("ratio", f"{res['blocked_lines_per_s'] / res['index_lines_per_s']:.1f}x")])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=str(ROOT / "bench" / "work" / "models" / "layerless768"))
    ap.add_argument("--index", default=str(ROOT / "bench" / "work" / "index-full768"))
    ap.add_argument("--cache", default=os.environ.get("POETRY_SEARCH_CACHE") or str(ROOT / "bench" / "work" / "cache"))
    ap.add_argument("--index-type", default=None)
    ap.add_argument("--sections", default="cache,build,open,export,types")
    ap.add_argument("--subset", type=int, default=None, help="use the first N vectors for export and types")
    ap.add_argument("--from-cache", action="store_true", help="with --subset: read the vectors from the cache")
    ap.add_argument("--dimension", type=int, default=768, help="with --from-cache: the cache folder's dimension")
    ap.add_argument("--slice", type=int, default=20_000, help="lines timed on the index path")
    ap.add_argument("--reuse", action="store_true", help="skip the build when the index exists")
    ap.add_argument("--tmp", default=None)
    ap.add_argument("--out", default=str(ROOT / "bench" / "scale-results.json"))
    args = ap.parse_args()
    if not Path(args.model).exists():
        from random_models import make_random_bert

        make_random_bert(args.model, "layerless768", seed=0)
    sections = args.sections.split(",")
    RESULTS["conditions"] = {"model": args.model, "index": args.index, "subset": args.subset, "cpus": os.cpu_count(),
                             "loadavg_at_start": os.getloadavg(), "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    if "cache" in sections:
        bench_cache(args)
    if "build" in sections:
        bench_build(args)
    if "open" in sections:
        bench_open(args)
    x = load_vectors(args) if args.subset and ({"export", "types"} & set(sections)) else None
    if "export" in sections:
        bench_export(args, x)
    if "types" in sections:
        if x is None:
            bench_types_builds(args)
        else:
            bench_types(args, x)
    RESULTS["conditions"]["loadavg_at_end"] = os.getloadavg()
    Path(args.out).write_text(json.dumps(RESULTS, indent=1, ensure_ascii=False, default=str))
    say(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
