"""Query paths side by side, in one run: the ONNX Runtime query encoder vs the torch one.

    python bench/query_paths.py --index INDEX [--torch-index INDEX_WITHOUT_EXPORT] [--runs 5] [--out FILE]

`make bench` calls ``bench_query_paths`` on its sample index (bert-base-shaped random model,
flat). Measured, each path against the other on the same queries, runs interleaved so that load
from other processes falls on both alike:

* cold start: `poetry-search query 大梦谁先觉` as a new process, median of ``runs``; and a query that
  is a corpus line (春眠不觉晓: its stored vector, no model at all);
* warm: `Index.search` p50/p95 through the Python API on queries that are not corpus lines;
* agreement: min cosine of the query vectors, top-10 ids equal, max score difference;
* the build's question: encoding corpus lines with torch in the build's precision vs ONNX Runtime
  fp32, lines per second on the same lines (is an ONNX build backend worth having on this CPU?).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
COLD_QUERY = "大梦谁先觉"
CORPUS_QUERY = "春眠不觉晓"


def cold(index: Path, query: str) -> float:
    t = time.perf_counter()
    r = subprocess.run([PY, "-m", "poetry_search", "query", query, "--index", str(index)], capture_output=True,
                       text=True, cwd=ROOT, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    wall = time.perf_counter() - t
    if r.returncode != 0:
        raise SystemExit(f"poetry-search query failed:\n{r.stderr[-2000:]}")
    return wall


def torch_twin(index: Path, work: Path) -> Path:
    """The same index built without the export (every vector from the cache): the torch path."""
    out = work / (index.name + "-no-onnx")
    from poetry_search import Index

    m = Index.open(index).manifest
    if not out.exists():
        subprocess.run([PY, "-m", "poetry_search", "index", "--corpus", m["corpus"], "--index", str(out), "--model",
                        m["model"], "--precision", m["precision"], "--index-type", m["index_type"], "--no-onnx", "--quiet"],
                       cwd=ROOT, check=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    return out


def not_corpus_queries(idx, n: int) -> list[str]:
    """Corpus lines with one character changed: real-looking lines that need the model."""
    texts = [t for t in idx.store.text_column("text").to_pylist() if 4 <= len(t) <= 9]
    picked = texts[:: max(1, len(texts) // (2 * n))]
    out = [t[:-1] + ("兮" if t[-1] != "兮" else "之") for t in picked]
    known = idx.store.ids_of_texts(out)
    return [q for q in dict.fromkeys(out) if q not in known][:n]


def warm(idx, queries: list[str]) -> dict:
    for q in queries[:5]:
        idx.search(q, k=10)
    times = []
    for q in queries:
        t = time.perf_counter()
        idx.search(q, k=10)
        times.append(time.perf_counter() - t)
    return {"p50_ms": float(np.percentile(times, 50) * 1e3), "p95_ms": float(np.percentile(times, 95) * 1e3), "n": len(queries)}


def build_backends(idx_onnx, idx_torch, lines: list[str]) -> dict:
    """Lines/s encoding the same corpus lines: torch in the build's precision vs ONNX Runtime fp32."""
    from poetry_search.encode.encoder import Encoder

    m = idx_torch.manifest
    torch_enc = Encoder(m["model"], precision=m["precision"])
    onnx_enc = idx_onnx.encoder
    out = {}
    for name, fn in (("torch_" + m["precision"], torch_enc.encode), ("onnxruntime_fp32", onnx_enc.encode),
                     ("torch_" + m["precision"] + "_again", torch_enc.encode)):
        fn(lines[:64])
        t = time.perf_counter()
        fn(lines)
        out[name] = len(lines) / (time.perf_counter() - t)
    return out


def _said(what: str, value):
    print(f"  {what}: {value}", file=sys.stderr, flush=True)
    return value


def bench_query_paths(index: Path, work: Path, runs: int = 5, torch_index: Path | None = None,
                      build_lines: int = 512, n_queries: int = 100) -> dict:
    from poetry_search import Index
    from poetry_search.encode.onnx_runtime import OnnxEncoder

    torch_index = torch_index or torch_twin(index, work)
    fast, slow = Index.open(index), Index.open(torch_index)
    if not isinstance(fast.encoder, OnnxEncoder):
        raise SystemExit(f"{index} has no usable ONNX export: run poetry-search index --index {index} --export-onnx")
    if "onnx" in slow.manifest:
        raise SystemExit(f"{torch_index} has an ONNX export: pass an index built with --no-onnx")
    times = {"onnx": [], "torch": [], "onnx_corpus_line": []}
    for _ in range(runs):
        times["onnx"].append(cold(index, COLD_QUERY))
        times["torch"].append(cold(torch_index, COLD_QUERY))
        times["onnx_corpus_line"].append(cold(index, CORPUS_QUERY))
        print("  cold start run:", {k: round(v[-1], 2) for k, v in times.items()}, file=sys.stderr, flush=True)
    queries = not_corpus_queries(fast, n_queries)
    vf, vs = fast.embed(queries), slow.embed(queries)
    hf, hs = fast.search_batch(queries, k=10), slow.search_batch(queries, k=10)
    print(f"  agreement measured on {len(queries)} queries", file=sys.stderr, flush=True)
    same = sum([h.id for h in a] == [h.id for h in b] for a, b in zip(hf, hs))
    diff = max(abs(x.score - y.score) for a, b in zip(hf, hs) for x, y in zip(a, b))
    texts = fast.store.text_column("text").to_pylist()
    lines = texts[:build_lines]
    res = {
        "index": str(index), "torch_index": str(torch_index), "model": fast.manifest["model"],
        "lines": len(fast), "index_type": fast.manifest["index_type"], "precision": fast.manifest["precision"],
        "cold_start_s": {k: {"median": float(np.median(v)), "runs": v} for k, v in times.items()},
        "warm_onnx": _said("warm onnx", warm(fast, queries)), "warm_torch": _said("warm torch", warm(slow, queries)),
        "warm_corpus_line": _said("warm corpus lines", warm(fast, texts[:n_queries])),
        "agreement": {"queries": len(queries), "min_cosine": float((vf * vs).sum(1).min()),
                      "same_top10_ids": same, "max_score_diff": float(diff)},
        "build_encode_lines_per_s": build_backends(fast, slow, lines),
        "load_average": os.getloadavg(),
    }
    return res


def show(res: dict, say=print) -> None:
    c, a = res["cold_start_s"], res["agreement"]
    b = res["build_encode_lines_per_s"]
    say(f"\n== query paths: {res['lines']:,} lines ({res['index_type']}, {res['model']}), ONNX Runtime vs torch, side by side")
    rows = [
        (f"cold `query {COLD_QUERY}`, median of {len(c['onnx']['runs'])}",
         f"onnx {c['onnx']['median']:.2f} s vs torch {c['torch']['median']:.2f} s ({c['torch']['median'] / c['onnx']['median']:.1f}x)"),
        (f"cold `query {CORPUS_QUERY}` (a corpus line: stored vector)", f"{c['onnx_corpus_line']['median']:.2f} s"),
        ("warm Index.search p50 / p95",
         f"onnx {res['warm_onnx']['p50_ms']:.1f} / {res['warm_onnx']['p95_ms']:.1f} ms vs torch "
         f"{res['warm_torch']['p50_ms']:.1f} / {res['warm_torch']['p95_ms']:.1f} ms"),
        ("warm Index.search p50, corpus-line queries", f"{res['warm_corpus_line']['p50_ms']:.1f} ms"),
        (f"agreement on {a['queries']} queries", f"min cosine {a['min_cosine']:.7f}, same top-10 ids {a['same_top10_ids']}/{a['queries']}, "
                                               f"max score diff {a['max_score_diff']:.1e}"),
        ("build encode, lines/s", ", ".join(f"{k} {v:.0f}" for k, v in b.items())),
        ("load average during the run", " ".join(f"{x:.1f}" for x in res["load_average"])),
    ]
    width = max(len(r[0]) for r in rows)
    for r in rows:
        say(f"  {r[0].ljust(width)}  {r[1]}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--index", required=True, type=Path)
    ap.add_argument("--torch-index", type=Path, default=None, help="the same index built with --no-onnx")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--queries", type=int, default=100, help="warm queries per path")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    work = ROOT / "bench" / "work"
    work.mkdir(parents=True, exist_ok=True)
    res = bench_query_paths(args.index, work, args.runs, args.torch_index, n_queries=args.queries)
    show(res)
    if args.out:
        args.out.write_text(json.dumps(res, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
