"""`make bench`: every figure measured in this run, side by side on the same texts.

    python bench/run.py [--quick] [--skip-full] [--out bench/results.json]

Sections (each prints a table and goes into bench/results.json):

1. roofline  fp32 vs bf16 matrix products of bert-base's FFN shape: the ceiling for any bf16 speed-up.
2. encode    `poetry-search index` end to end (a whole process) vs plain sentence-transformers fp32
             `encode` (its default batch size) and vs the reference one-line-at-a-time loop, on the
             same distinct lines of 全唐诗, with a random model of bert-base-chinese's exact shape.
             Speed does not depend on weight values; the scores of a random model mean nothing.
             Also: min cosine of the stored vectors to fp32, the rebuild from the cache, peak memory.
3. query     warm single-query latency (p50/p95) through the Python API on the sample (flat, base
             shape), split into encode and search; and on a full-corpus-sized index (tiny model), flat
             vs HNSW, with HNSW's recall@10 against flat on 300 corpus lines.
4. export    export throughput vs raw batched FAISS search on the same index, same k.
5. cli       cold start of `poetry-search query` and `poetry-search --help`.
6. server    `poetry-search serve` under load from a second process (bench/server.py): p50/p95 and
             requests/s of /api/search on the sample and the whole corpus, and a rebuild swapped in
             during the load.
7. lexical   `find` fragments/patterns/titles/authors/tones/rhymes vs a plain LIKE/GLOB scan (bench/lexical.py),
             on a --lexical-only index of the whole corpus (the sample with --quick or --skip-full).
8. page      request to first result drawn on the page, in headless Chromium against `serve` on the
             sample (bench/page.py): median of 7 fresh browser contexts for a line, a meaning, a pattern.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # the random-model builder lives with the tests
WORK = ROOT / "bench" / "work"
FULL = ROOT / "data" / "chinese-poetry"
SAMPLE = ROOT / "data" / "sample"
PY = sys.executable
RESULTS: dict = {}

CHILD = r"""
import json, resource, sys, time
t = time.perf_counter()
from poetry_search.cli import cli
try:
    cli(sys.argv[2:], prog_name="poetry-search", standalone_mode=False)
finally:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    open(sys.argv[1], "w").write(json.dumps({"seconds": time.perf_counter() - t, "peak_rss": peak}))
"""


def say(msg: str = "") -> None:
    print(msg, flush=True)


def table(title: str, rows: list[tuple]) -> None:
    say(f"\n== {title}")
    width = max(len(str(r[0])) for r in rows)
    for r in rows:
        say(f"  {str(r[0]).ljust(width)}  " + "  ".join(str(x) for x in r[1:]))


def cli_process(*args, env=None) -> dict:
    """Run a poetry-search command as its own process; wall time (process start included) and peak RSS."""
    stats = Path(tempfile.mktemp(suffix=".json"))
    t = time.perf_counter()
    r = subprocess.run([PY, "-c", CHILD, str(stats), *args], env={**os.environ, **(env or {})},
                       cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - t
    if r.returncode != 0:
        raise SystemExit(f"poetry-search {' '.join(args)} failed:\n{r.stderr[-2000:]}")
    out = json.loads(stats.read_text())
    stats.unlink()
    out["wall"] = wall
    out["stderr"] = r.stderr
    return out


def model(shape: str) -> str:
    from random_models import make_random_bert

    path = WORK / "models" / f"random-{shape}"
    if not (path / "model.safetensors").exists():
        make_random_bert(path, shape, seed=0)
    return str(path)


def tang_corpus(n_lines: int) -> Path:
    """A corpus folder of the first poems of 全唐诗 holding about n_lines lines (sample if no corpus)."""
    out = WORK / f"corpus-tang-{n_lines}"
    if (out / "quantangshi" / "poet.tang.0.json").exists():
        return out
    src = FULL / "quantangshi"
    poems, lines = [], 0
    if src.exists():
        files = sorted(src.glob("poet.tang.*.json"), key=lambda p: int(p.name.split(".")[2]))
    else:
        files = [SAMPLE / "quantangshi" / "唐诗三百首.json"]
    for f in files:
        for p in json.loads(f.read_text("utf-8")):
            poems.append(p)
            lines += sum(max(1, para.count("，") + para.count("。")) for para in p.get("paragraphs", []))
            if lines >= n_lines:
                break
        if lines >= n_lines:
            break
    (out / "quantangshi").mkdir(parents=True, exist_ok=True)
    (out / "quantangshi" / "poet.tang.0.json").write_text(json.dumps(poems, ensure_ascii=False), "utf-8")
    return out


def index_texts(index_dir: Path) -> list[str]:
    from poetry_search.store.db import Store

    s = Store(index_dir / "poetry.db")
    texts = s.text_column("text").to_pylist()
    s.close()
    return texts


def stored_vectors(index_dir: Path) -> np.ndarray:
    from poetry_search.store.vectors import Vectors

    v = Vectors.load(index_dir)
    return v.rows(0, v.ntotal)


# ---------------------------------------------------------------------------------------------


def bench_roofline() -> None:
    import torch

    a32, b32 = torch.randn(2048, 768), torch.randn(768, 3072)
    res = {}
    for name, dt in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
        a, b = a32.to(dt), b32.to(dt)
        for _ in range(3):
            a @ b
        t = time.perf_counter()
        for _ in range(20):
            a @ b
        res[name] = 2 * 2048 * 768 * 3072 * 20 / (time.perf_counter() - t) / 1e12
    RESULTS["roofline"] = {"fp32_tflops": res["fp32"], "bf16_tflops": res["bf16"], "ratio": res["bf16"] / res["fp32"],
                           "threads": torch.get_num_threads()}
    table("roofline: matrix product 2048x768 @ 768x3072 (bert-base FFN)", [
        ("fp32", f"{res['fp32']:.3f} TFLOP/s"), ("bf16", f"{res['bf16']:.3f} TFLOP/s"),
        ("bf16 / fp32", f"{res['bf16'] / res['fp32']:.2f}x  (the ceiling for a bf16 speed-up on this CPU)")])


def bench_encode(n_lines: int, n_reference: int) -> None:
    import torch
    from sentence_transformers import SentenceTransformer

    from poetry_search.encode.encoder import _st_modules

    base = model("base")
    corpus = tang_corpus(n_lines)
    cache = WORK / "cache-encode"
    shutil.rmtree(cache, ignore_errors=True)
    out = WORK / "index-encode"
    shutil.rmtree(out, ignore_errors=True)

    ours = cli_process("index", "--corpus", str(corpus), "--index", str(out), "--model", base, "--quiet",
                       env={"POETRY_SEARCH_CACHE": str(cache)})
    texts = index_texts(out)
    n = len(texts)
    rebuild = cli_process("index", "--corpus", str(corpus), "--index", str(out), "--model", base, "--quiet",
                          env={"POETRY_SEARCH_CACHE": str(cache)})

    # plain sentence-transformers, fp32, default batch size, on the same distinct lines
    Transformer, Pooling, Normalize = _st_modules()
    t_load = time.perf_counter()
    tr = Transformer(base)
    st = SentenceTransformer(modules=[tr, Pooling(tr.get_embedding_dimension(), "mean"), Normalize()], device="cpu")
    t_load = time.perf_counter() - t_load
    t = time.perf_counter()
    v32 = st.encode(texts, convert_to_numpy=True, show_progress_bar=False)
    t_st = time.perf_counter() - t

    # the reference loop, one line a forward pass
    from transformers import AutoModel, AutoTokenizer

    tok, ref_model = AutoTokenizer.from_pretrained(base), AutoModel.from_pretrained(base).eval()
    sub = texts[:n_reference]
    t = time.perf_counter()
    with torch.inference_mode():
        for line in sub:
            v = torch.mean(ref_model(tok.encode(line, return_tensors="pt")).last_hidden_state, dim=1)
            v / v.norm()
    t_ref = (time.perf_counter() - t) * n / len(sub)

    stored = stored_vectors(out)
    cos = (stored * v32).sum(1)
    from poetry_search.store.db import Store

    m = Store(out / "poetry.db").manifest()
    full_distinct = 3_108_389
    ours_rate = n / ours["wall"]
    RESULTS["encode"] = {
        "model": "random weights, bert-base-chinese shape (12 layers, hidden 768, 12 heads, vocab 21128)",
        "corpus": str(corpus.relative_to(ROOT)), "distinct_lines": n, "precision": m["precision"],
        "ours_process_seconds": ours["wall"], "ours_lines_per_s": ours_rate,
        "st_fp32_encode_seconds": t_st, "st_fp32_lines_per_s": n / t_st, "st_model_load_seconds": t_load,
        "reference_loop_lines_per_s": n / t_ref, "reference_loop_measured_on": len(sub),
        "ratio_vs_st_fp32": t_st / ours["wall"], "ratio_vs_reference_loop": t_ref / ours["wall"],
        "min_cosine_to_fp32": float(cos.min()), "mean_cosine_to_fp32": float(cos.mean()),
        "rebuild_from_cache_seconds": rebuild["wall"], "peak_rss_build": ours["peak_rss"],
        "projected_full_corpus_hours": full_distinct / ours_rate / 3600,
        "projected_full_corpus_hours_st_fp32": full_distinct / (n / t_st) / 3600,
    }
    r = RESULTS["encode"]
    table(f"encode: {n:,} distinct lines of 全唐诗, random bert-base-shaped model (speed does not depend on weights)", [
        ("poetry-search index (whole process)", f"{ours['wall']:.1f} s", f"{ours_rate:.0f} lines/s", f"precision {m['precision']}"),
        ("plain sentence-transformers fp32 encode", f"{t_st:.1f} s", f"{n / t_st:.0f} lines/s", "batch 32 (default), model load not counted"),
        ("reference loop (one line a pass)", f"{t_ref:.1f} s", f"{n / t_ref:.0f} lines/s", f"measured on {len(sub)} lines, time projected to {n:,}"),
        ("ratio vs sentence-transformers fp32", f"{r['ratio_vs_st_fp32']:.2f}x"),
        ("ratio vs reference loop", f"{r['ratio_vs_reference_loop']:.1f}x"),
        ("stored vectors vs fp32: min / mean cosine", f"{r['min_cosine_to_fp32']:.6f} / {r['mean_cosine_to_fp32']:.6f}"),
        ("rebuild, every vector from the cache", f"{rebuild['wall']:.1f} s"),
        ("peak memory of the build", f"{ours['peak_rss'] / 2**20:.0f} MiB"),
        ("projected whole corpus (3.1M distinct lines)", f"{r['projected_full_corpus_hours']:.1f} h ours",
         f"{r['projected_full_corpus_hours_st_fp32']:.1f} h sentence-transformers fp32"),
    ])


def latency(index, queries: list[str]) -> dict:
    for q in queries[:5]:
        index.search(q, k=10)
    enc, tot = [], []
    for q in queries:
        t0 = time.perf_counter()
        index.embed([q])
        t1 = time.perf_counter()
        index.search(q, k=10)
        tot.append(time.perf_counter() - t1)
        enc.append(t1 - t0)
    return {"p50_ms": float(np.percentile(tot, 50) * 1e3), "p95_ms": float(np.percentile(tot, 95) * 1e3),
            "encode_p50_ms": float(np.percentile(enc, 50) * 1e3), "n": len(queries)}


def raw_faiss_latency(index, vectors: np.ndarray) -> dict:
    times = []
    for v in vectors:
        t = time.perf_counter()
        index.vectors.index.search(v[None, :], 10)
        times.append(time.perf_counter() - t)
    return {"p50_ms": float(np.percentile(times, 50) * 1e3), "p95_ms": float(np.percentile(times, 95) * 1e3)}


def bench_query_sample() -> Path:
    from poetry_search import Index

    out = WORK / "index-sample-base"
    r = cli_process("index", "--corpus", str(SAMPLE), "--index", str(out), "--model", model("base"), "--quiet",
                    env={"POETRY_SEARCH_CACHE": str(WORK / "cache-sample")})
    idx = Index.open(out)
    built = f"{idx.manifest['encoded']:,} encoded, {idx.manifest['from_cache']:,} from cache"
    texts = index_texts(out)
    queries = [texts[i] for i in range(0, len(texts), max(1, len(texts) // 200))][:200]
    lat = latency(idx, queries)
    raw = raw_faiss_latency(idx, idx.embed(queries[:100]))
    RESULTS["query_sample"] = {"model": "random bert-base-shaped", "index_type": "flat", "lines": len(texts),
                               "python_api": lat, "raw_faiss_search": raw, "build_seconds": r["wall"],
                               "peak_rss_build": r["peak_rss"]}
    table(f"query: sample index ({len(texts):,} lines, flat, random bert-base-shaped model), warm, k=10", [
        ("Index.search p50 / p95", f"{lat['p50_ms']:.1f} ms / {lat['p95_ms']:.1f} ms", f"(encoding the query: {lat['encode_p50_ms']:.1f} ms p50)"),
        ("raw FAISS search p50 / p95", f"{raw['p50_ms']:.2f} ms / {raw['p95_ms']:.2f} ms"),
        ("build (whole process)", f"{r['wall']:.1f} s", built, f"peak {r['peak_rss'] / 2**20:.0f} MiB"),
    ])
    return out


def bench_export(index_dir: Path, label: str, k: int = 10) -> dict:
    from poetry_search import Index
    from poetry_search.search.export import export_neighbours

    idx = Index.open(index_dir)
    n = len(idx)
    t = time.perf_counter()
    for s in range(0, n, 1024):
        q = idx.vectors.rows(s, min(1024, n - s))
        idx.vectors.index.search(q, k + 1)
    raw = time.perf_counter() - t
    out = WORK / f"export-{label}.parquet"
    t = time.perf_counter()
    res = export_neighbours(idx, out, k=k, exclude="self", batch_size=1024)
    ours = time.perf_counter() - t
    size = out.stat().st_size
    out.unlink()
    r = {"lines": n, "k": k, "raw_faiss_seconds": raw, "export_seconds": ours, "overhead": ours / raw - 1,
         "export_lines_per_s": n / ours, "raw_lines_per_s": n / raw, "rows": res["rows"], "parquet_bytes": size}
    RESULTS.setdefault("export", {})[label] = r
    table(f"export: {label} ({n:,} lines, k={k}, --exclude self, Parquet)", [
        ("raw batched FAISS search (k+1)", f"{raw:.2f} s", f"{n / raw:,.0f} lines/s"),
        ("poetry-search export", f"{ours:.2f} s", f"{n / ours:,.0f} lines/s", f"{res['rows']:,} rows, {size / 1e6:.1f} MB"),
        ("overhead (normalisation, metadata, writing)", f"{100 * (ours / raw - 1):.0f}%"),
    ])
    return r


def bench_full() -> None:
    """A full-corpus index with the tiny model (`--index-type auto` → HNSW): build time and peak
    memory, recall@10 and latency against exact search over the same vectors."""
    import faiss

    from poetry_search import Index
    from poetry_search.store.vectors import Vectors

    if not FULL.exists():
        say("\n== full corpus: skipped (run `make corpus` first)")
        return
    tiny = model("tiny")
    out = WORK / "index-full-tiny"
    r = cli_process("index", "--corpus", str(FULL), "--index", str(out), "--model", tiny, "--quiet",
                    env={"POETRY_SEARCH_CACHE": str(WORK / "cache-full-tiny")})
    approx = Index.open(out)
    m = approx.manifest
    n = len(approx)
    # the exact comparison: a flat index of the very same vectors, in this process
    flat_faiss = faiss.IndexIDMap2(faiss.IndexFlatIP(approx.vectors.d))
    for s in range(0, n, 1 << 18):
        v = approx.vectors.rows(s, min(1 << 18, n - s))
        flat_faiss.add_with_ids(v, np.arange(s, s + len(v), dtype=np.int64))
    flat = Index(out, approx.store, Vectors(flat_faiss), m)
    ids = np.random.default_rng(1).choice(n, 300, replace=False)
    q = approx.vectors.get(ids)
    _, truth = flat.vectors.search(q, 10)
    _, got = approx.vectors.search(q, 10)
    recall = float(np.mean([len(set(a) & set(b)) / 10 for a, b in zip(got, truth)]))
    qtexts = approx.store.text_column("text").take(np.sort(ids[:150])).to_pylist()
    lat_a, lat_f = latency(approx, qtexts), latency(flat, qtexts)
    files = {p.name: p.stat().st_size for p in out.iterdir()}
    res = {"model": "random tiny BERT (2 layers, hidden 32): index speed, not bert-base speed",
           "lines": n, "index_type": m["index_type"], "faiss_factory": m["faiss_factory"],
           "build_seconds": r["wall"], "peak_rss_build": r["peak_rss"], "encoded": m["encoded"], "from_cache": m["from_cache"],
           "files": files, "recall_at_10_build": m.get("recall_at_10"), "search_depth": m.get("search_depth"),
           "recall_at_10_vs_flat_300_lines": recall, "latency_approx": lat_a, "latency_flat": lat_f,
           "bytes_per_vector_in_memory": files["vectors.faiss"] / n}
    RESULTS["full_corpus_tiny"] = res
    table(f"full corpus: {n:,} distinct lines, random tiny model (index speed, not bert-base speed)", [
        ("build (whole process)", f"{r['wall']:.0f} s", f"{m['encoded']:,} encoded, {m['from_cache']:,} from cache",
         f"peak {r['peak_rss'] / 2**30:.2f} GiB"),
        (f"{m['index_type']} index ({m['faiss_factory']})", f"{files['vectors.faiss'] / 2**20:.0f} MiB in memory",
         f"{files['vectors.faiss'] / n:.0f} bytes a vector at d={approx.vectors.d}",
         f"+ {files.get('vectors.f32', 0) / 2**20:.0f} MiB exact vectors on disk (memory-mapped, re-ranking)"),
        ("recall@10 vs exact (300 corpus lines)", f"{recall:.3f}", f"build-time measurement {m.get('recall_at_10'):.3f} at {m.get('search_depth')}"),
        ("Index.search p50 / p95, approximate", f"{lat_a['p50_ms']:.2f} / {lat_a['p95_ms']:.2f} ms"),
        ("Index.search p50 / p95, exact flat", f"{lat_f['p50_ms']:.2f} / {lat_f['p95_ms']:.2f} ms"),
    ])


def bench_cli(index_dir: Path) -> None:
    runs = {"help": [], "query": []}
    for _ in range(3):
        t = time.perf_counter()
        subprocess.run([PY, "-m", "poetry_search", "--help"], capture_output=True, cwd=ROOT, check=True)
        runs["help"].append(time.perf_counter() - t)
        t = time.perf_counter()
        subprocess.run([PY, "-m", "poetry_search", "query", "春眠不觉晓", "--index", str(index_dir)],
                       capture_output=True, cwd=ROOT, check=True)
        runs["query"].append(time.perf_counter() - t)
    RESULTS["cli_cold_start"] = {k: {"median_s": float(np.median(v)), "runs": v} for k, v in runs.items()}
    table("cli cold start (whole process, median of 3)", [
        ("poetry-search --help", f"{np.median(runs['help']):.2f} s"),
        ("poetry-search query 春眠不觉晓 (sample, bert-base-shaped; a corpus line: its stored vector)", f"{np.median(runs['query']):.2f} s"),
    ])


def bench_200k() -> None:
    """A ~200k-line flat index (tiny model) for the export overhead at size."""
    out = WORK / "index-200k-tiny"
    corpus = tang_corpus(200_000)
    cli_process("index", "--corpus", str(corpus), "--index", str(out), "--model", model("tiny"), "--quiet",
                "--index-type", "flat", env={"POETRY_SEARCH_CACHE": str(WORK / "cache-full-tiny")})
    bench_export(out, "200k lines, flat, tiny model", k=10)


def bench_lexical(small: bool) -> None:
    sys.path.insert(0, str(ROOT / "bench"))
    import lexical as lexical_bench  # bench/lexical.py

    say("\n== lexical: find vs a plain LIKE/GLOB scan of the same table")
    corpus = SAMPLE if small else FULL
    RESULTS["lexical"] = lexical_bench.main(["--corpus", str(corpus), "--repeat", "7" if small else "15"])


def bench_ray(lines: int) -> None:
    """Local encoding against Ray with 1 and 2 CPU actors, same texts, one run (bench/ray_encode.py
    starts its own head on 127.0.0.1 and ends it); skipped where the ray extra is not installed."""
    import importlib.util

    if importlib.util.find_spec("ray") is None:
        say("ray: skipped (pip install -e '.[ray]')")
        return
    out = WORK / "ray-results.json"
    r = subprocess.run([sys.executable, str(ROOT / "bench" / "ray_encode.py"), "--lines", str(lines), "--out", str(out)],
                       cwd=ROOT, capture_output=True, text=True)
    say(r.stdout[-3000:])
    if r.returncode:
        say(f"ray: failed ({r.stderr[-500:]})")
        return
    RESULTS["ray"] = json.loads(out.read_text())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small sizes, for a smoke run (about 3 minutes)")
    ap.add_argument("--skip-full", action="store_true", help="skip the full-corpus-sized indexes")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results.json"))
    args = ap.parse_args()
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    WORK.mkdir(parents=True, exist_ok=True)
    import torch

    RESULTS["machine"] = {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
                          "torch": torch.__version__, "threads": torch.get_num_threads(),
                          "when": time.strftime("%Y-%m-%d %H:%M:%S")}
    t0 = time.perf_counter()
    bench_roofline()
    bench_encode(2_000 if args.quick else 10_000, 100 if args.quick else 300)
    sample_index = bench_query_sample()
    from query_paths import (  # bench/ is on sys.path: this script's folder
        bench_query_paths,
        show,
    )

    RESULTS["query_paths"] = bench_query_paths(sample_index, WORK)
    show(RESULTS["query_paths"], say)
    bench_export(sample_index, "sample, flat, bert-base-shaped", k=10)
    if not args.quick:
        bench_200k()
    if not (args.quick or args.skip_full):
        bench_full()
    bench_cli(sample_index)
    from server import bench_server  # bench/server.py

    full = None if (args.quick or args.skip_full) else WORK / "index-full-tiny"
    bench_server(sample_index, full, RESULTS, model=model("base"), corpus=SAMPLE, cache=str(WORK / "cache-sample"),
                 work=WORK, requests=300 if args.quick else 2000)
    from page import bench_page  # bench/page.py

    RESULTS["page"] = bench_page(sample_index, runs=3 if args.quick else 7, say=say)
    bench_lexical(args.quick or args.skip_full)
    bench_ray(500 if args.quick else 2000)
    RESULTS["bench_seconds"] = time.perf_counter() - t0
    Path(args.out).write_text(json.dumps(RESULTS, ensure_ascii=False, indent=1))
    say(f"\nwrote {args.out} ({RESULTS['bench_seconds'] / 60:.1f} min)")


if __name__ == "__main__":
    main()
