"""Local Encoder against Ray Data with 1 and 2 CPU actors, side by side in one run, on the same texts.

    python bench/ray_encode.py [--lines 2000] [--shape base|tiny|layerless768] [--model DIR]
                               [--out bench/ray-results.json]

A head node is started on 127.0.0.1 for the run (tests/ray_cluster.py: its own process group,
token authentication on) and ended by that group. Each configuration encodes the same distinct
lines of data/sample with the same model at fp32:

local       Encoder(model, device="cpu") in this process: model load, then encode; once before the
            Ray runs and once after, which brackets the drift of a shared machine's load.
ray xN      encode_on_ray with N actors (N=1: one actor with both cores; N=2: one core each),
            after connect and probe_cluster (timed apart). Each actor reports its model load and
            its time inside Encoder.encode; the overhead is the wall time beyond the slowest
            actor's load + encode (pool start, scheduling, moving blocks and vectors, the
            driver). Driver RSS: its growth while vectors stream (sampled at each block).

The projection for the whole corpus (3.11M distinct lines) assumes N workers each at the
per-worker rate measured here, scaling linearly, plus the measured start-up: it is a projection,
not a measurement. The machine is shared with other work while it runs.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
from run import say, table  # noqa: E402

CORPUS_LINES = 3_110_000  # distinct lines of chinese-poetry@2.0.1 (the index's texts table)


def rss() -> int:
    with open("/proc/self/status") as f:
        return int(next(line for line in f if line.startswith("VmRSS:")).split()[1]) * 1024


def sample_texts(n: int) -> list[str]:
    from poetry_search.corpus.reader import CorpusReader, poem_lines

    reader = CorpusReader(ROOT / "data" / "sample")
    norm = reader.normalizer()
    distinct = list(dict.fromkeys(line.text for poem in reader.poems() for line in poem_lines(poem, norm)))
    if len(distinct) < n:
        raise SystemExit(f"data/sample has {len(distinct)} distinct lines, fewer than --lines {n}")
    return distinct[::len(distinct) // n][:n]


def run_local(model: str, texts: list[str], label: str = "local") -> tuple[dict, np.ndarray]:
    from poetry_search.encode.encoder import Encoder

    t = time.perf_counter()
    enc = Encoder(model, device="cpu", precision="fp32")
    load = time.perf_counter() - t
    t = time.perf_counter()
    vecs = enc.encode(texts)
    seconds = time.perf_counter() - t
    import torch

    return {"config": label, "threads": torch.get_num_threads(), "load_s": load, "encode_s": seconds,
            "first_vectors_s": load + seconds, "wall_s": load + seconds, "overhead_s": 0.0,
            "lines_per_s": len(texts) / (load + seconds), "encode_lines_per_s": len(texts) / seconds}, vecs


def run_ray(address: str, model: str, texts: list[str], actors: int, block_lines: int) -> tuple[dict, np.ndarray]:
    from poetry_search.build.ray_encode import encode_on_ray, probe_cluster

    t = time.perf_counter()
    plan = probe_cluster(model, address=address, device="cpu", precision="fp32", concurrency=actors)
    probe = time.perf_counter() - t
    got = np.zeros((len(texts), 0), np.float32)
    out: dict[int, np.ndarray] = {}
    base = rss()
    peak = [base]

    def on_batch(ids, vectors):
        for i, v in zip(ids.tolist(), vectors):
            out[i] = v
        peak[0] = max(peak[0], rss())

    r = encode_on_ray(np.arange(len(texts)), texts, model, on_batch=on_batch, plan=plan, block_lines=block_lines)
    got = np.stack([out[i] for i in range(len(texts))])
    slowest = max(w.load_seconds + w.seconds for w in r.workers)
    return {"config": f"ray x{actors}", "actors": actors, "cpus_per_actor": plan.cpus_per_worker,
            "probe_s": probe, "first_vectors_s": r.first_batch_seconds, "wall_s": r.seconds,
            "load_s": max(w.load_seconds for w in r.workers), "encode_s": max(w.seconds for w in r.workers),
            # the wall time beyond the slowest actor's own model load and encoding: pool start-up,
            # scheduling, moving blocks and vectors, the driver's side
            "overhead_s": r.seconds - slowest,
            "lines_per_s": len(texts) / r.seconds,
            "encode_lines_per_s": len(texts) / max(w.seconds for w in r.workers),
            "workers": [{"pid": w.pid, "device": w.device, "lines": w.lines, "load_s": w.load_seconds,
                         "encode_s": w.seconds, "lines_per_s": w.rate()} for w in r.workers],
            "driver_rss_growth_mb": (peak[0] - base) / 2**20, "batches": r.batches}, got


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lines", type=int, default=2000)
    ap.add_argument("--shape", default="base", choices=["base", "tiny", "layerless768"])
    ap.add_argument("--model", help="a model folder (default: a random BERT of --shape, built once in /tmp)")
    ap.add_argument("--block-lines", type=int, default=256, help="lines per Ray block (default 256: 8 blocks an actor)")
    ap.add_argument("--out", default=str(ROOT / "bench" / "ray-results.json"))
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    model = args.model
    if not model:
        from random_models import make_random_bert

        folder = Path(tempfile.gettempdir()) / f"poetry-search-bench-{args.shape}-bert"
        if not (folder / "config.json").exists():
            make_random_bert(folder, args.shape)
        model = str(folder)
    texts = sample_texts(args.lines)
    say(f"{len(texts):,} distinct lines of data/sample, model {args.shape} ({model}), fp32, {os.cpu_count()} cores")

    from ray_cluster import start_head, stop_head

    rows = []
    local, ref = run_local(model, texts, "local (before)")
    rows.append(local)
    head = start_head(num_cpus=os.cpu_count() or 2)
    os.environ.update(head.env)
    import ray

    from poetry_search.build.ray_encode import connect

    try:
        t = time.perf_counter()
        connect(head.address)
        connect_s = time.perf_counter() - t
        for actors in (1, 2):
            row, vecs = run_ray(head.address, model, texts, actors, args.block_lines)
            row["min_cosine_to_local"] = float((vecs * ref).sum(1).min())
            rows.append(row)
    finally:
        ray.shutdown()
        left = stop_head(head)
    # again after Ray, on the same machine: the load other work puts on it drifts during a run
    rows.append(run_local(model, texts, "local (after)")[0])
    say(f"Ray head on {head.address}: up in {head.startup_seconds:.1f}s, driver connected in {connect_s:.1f}s; "
        f"{len(left)} processes left after its process group was ended")

    table("same texts, fp32 (wall: call to last vector; encode: the slowest worker inside Encoder.encode)",
          [("config", "lines/s wall", "lines/s encode", "wall s", "first vectors s", "model load s", "encode s",
            "overhead s", "probe s", "min cos to local")] + [
        (r["config"], f"{r['lines_per_s']:.1f}", f"{r['encode_lines_per_s']:.1f}", f"{r['wall_s']:.1f}",
         f"{r['first_vectors_s']:.1f}", f"{r['load_s']:.1f}", f"{r['encode_s']:.1f}", f"{r['overhead_s']:.1f}",
         f"{r.get('probe_s', 0):.1f}", f"{r.get('min_cosine_to_local', 1.0):.6f}") for r in rows])
    ray_rows = [r for r in rows if r["config"].startswith("ray")]
    table("per Ray worker", [("config", "pid", "device", "lines", "load s", "encode s", "lines/s")] + [
        (r["config"], w["pid"], w["device"], w["lines"], f"{w['load_s']:.1f}", f"{w['encode_s']:.1f}",
         f"{w['lines_per_s']:.1f}") for r in ray_rows for w in r["workers"]])
    say("  driver RSS growth while vectors stream: " + ", ".join(
        f"{r['config']} {r['driver_rss_growth_mb']:.0f} MB" for r in ray_rows))
    one, two = ray_rows
    per_worker = one["workers"][0]["lines_per_s"]
    per_core = float(np.mean([w["lines_per_s"] for w in two["workers"]]))
    proj = []
    for n in (1, 2, 4, 8, 16, 32):
        proj.append((n, f"{(CORPUS_LINES / (n * per_worker) + one['first_vectors_s']) / 3600:.2f} h",
                     f"{(CORPUS_LINES / (n * per_core) + two['first_vectors_s']) / 3600:.2f} h"))
    table(f"PROJECTION (not measured): hours to encode {CORPUS_LINES:,} lines with N workers, linear scaling at the "
          "per-worker rates above, plus the start-up measured", [("N workers", f"2-core actor ({per_worker:.0f} lines/s each)",
                                       f"1-core actor ({per_core:.0f} lines/s each)")] + proj)
    result = {"lines": len(texts), "shape": args.shape, "block_lines": args.block_lines, "cores": os.cpu_count(),
              "head_startup_s": head.startup_seconds, "connect_s": connect_s, "left_after_stop": left, "rows": rows,
              "projection_hours": {str(n): {"2core_actor": float(a.split()[0]), "1core_actor": float(b.split()[0])}
                                   for n, a, b in proj}}
    Path(args.out).write_text(json.dumps(result, indent=1))
    say(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
