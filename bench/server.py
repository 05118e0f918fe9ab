"""Load test of `poetry-search serve`: the server in one process, this process the client, on
127.0.0.1 only, with a bounded number of requests and a bounded concurrency.

    python bench/server.py --sample-index INDEX [--full-index INDEX] [--requests 2000] [--concurrency 32]

Reports p50/p95/p99 latency and requests/s of GET /api/search (k=10, the page's default mode) on
each index, and a third run on a copy of the sample index during which `poetry-search index`
rebuilds that copy and swaps it in: every request must succeed and return the same first hit.
`bench/run.py` (`make bench`) calls ``bench_server``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))  # the live-server harness

from live_server import live_server  # noqa: E402

MAX_REQUESTS = 20_000     # bounds, whatever the arguments say
MAX_CONCURRENCY = 256


def corpus_queries(index: Path, n: int = 300) -> list[str]:
    """``n`` lines of the index spread over it (the query mix; the same for every run)."""
    from poetry_search.store.db import DB_NAME, Store

    store = Store(index / DB_NAME, read_only=True)
    texts = store.text_column("text")
    store.close()
    step = max(1, len(texts) // n)
    return [texts[i].as_py() for i in range(0, len(texts), step)][:n]


async def _load(url: str, queries: list[str], requests: int, concurrency: int, expect: dict | None,
                mode: str | None = None) -> dict:
    import httpx

    lat: list[float] = []
    failures: list[str] = []
    todo = iter(range(requests))
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=120.0) as client:
        async def worker():
            for i in todo:
                q = queries[i % len(queries)]
                t = time.perf_counter()
                try:
                    r = await client.get("/api/search", params={"q": q, "k": 10, **({"mode": mode} if mode else {})})
                    ok = r.status_code == 200
                    if ok and expect is not None:
                        hits = r.json()["hits"]
                        ok = bool(hits) and hits[0]["id"] == expect[q]
                    if not ok:
                        failures.append(f"{r.status_code} {r.text[:200]}")
                except httpx.HTTPError as e:
                    failures.append(f"{type(e).__name__}: {e}")
                lat.append(time.perf_counter() - t)

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        wall = time.perf_counter() - t0
    ms = np.array(lat) * 1000
    return {"requests": requests, "concurrency": concurrency, "failed": len(failures), "failures": failures[:5],
            "seconds": wall, "requests_per_s": requests / wall, "p50_ms": float(np.percentile(ms, 50)),
            "p95_ms": float(np.percentile(ms, 95)), "p99_ms": float(np.percentile(ms, 99)),
            "max_ms": float(ms.max())}


def load(url: str, queries: list[str], requests: int = 2000, concurrency: int = 32, expect: dict | None = None,
         mode: str | None = None) -> dict:
    """``requests`` searches, ``concurrency`` at a time, against the server at ``url`` (loopback only)."""
    from urllib.parse import urlparse

    from poetry_search.server.run import is_loopback

    if not is_loopback(urlparse(url).hostname or ""):
        raise SystemExit(f"refusing to load-test {url}: only loopback addresses")
    requests, concurrency = min(requests, MAX_REQUESTS), min(concurrency, MAX_CONCURRENCY)
    return asyncio.run(_load(url, queries, requests, concurrency, expect, mode))


def first_hits(url: str, queries: list[str]) -> dict:
    import httpx

    with httpx.Client(base_url=url, timeout=120.0) as c:
        return {q: c.get("/api/search", params={"q": q, "k": 10}).json()["hits"][0]["id"] for q in queries}


def generation(url: str) -> int:
    import httpx

    return httpx.get(url + "healthz", timeout=60).json()["generation"]


def run_one(label: str, index: Path, requests: int, concurrency: int, max_batch: int = 32, mode: str | None = None) -> dict:
    queries = corpus_queries(index)
    t = time.perf_counter()
    with live_server(index, cwd=ROOT, args=("--max-batch", str(max_batch))) as url:
        ready = time.perf_counter() - t
        load(url, queries[:20], requests=64, concurrency=8, mode=mode)  # warm-up, not counted
        res = load(url, queries, requests, concurrency, mode=mode)
    res.update(label=f"{label}, --max-batch {max_batch}" + (f", mode={mode}" if mode else ""), index=str(index),
               start_seconds=ready, max_batch=max_batch, mode=mode or "hybrid (default)")
    return res


def run_swap(index: Path, corpus: Path, model: str, cache: str | None, requests: int, concurrency: int,
             work: Path) -> dict:
    """Load a copy of ``index`` while `poetry-search index` rebuilds it in place (same corpus and model)."""
    target = work / "serve-swap"
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(index, target)
    queries = corpus_queries(target)
    env = {**os.environ, **({"POETRY_SEARCH_CACHE": cache} if cache else {})}
    with live_server(target, cwd=ROOT) as url:
        expect = first_hits(url, queries)
        gen0 = generation(url)
        build = subprocess.Popen([sys.executable, "-m", "poetry_search", "index", "--corpus", str(corpus), "--index",
                                  str(target), "--model", model, "--quiet"], cwd=ROOT, env=env,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        res = load(url, queries, requests, concurrency, expect=expect)
        rebuild_rc = build.wait()
        err = build.stderr.read()
        # requests after the swap are served by the new index: a few more, checked the same way
        deadline = time.monotonic() + 120
        while generation(url) == gen0 and time.monotonic() < deadline:
            time.sleep(0.5)
        after = load(url, queries, 200, concurrency, expect=expect)
        res.update(label="sample, rebuilt and swapped in during the load", rebuild_exit=rebuild_rc,
                   rebuild_stderr=err[-500:], generations=generation(url) - gen0, failed_after_swap=after["failed"])
    shutil.rmtree(target, ignore_errors=True)
    return res


def table(results: list[dict]) -> None:
    print("\n== server: GET /api/search k=10, from a second process on 127.0.0.1", flush=True)
    for r in results:
        extra = ""
        if "generations" in r:
            extra = (f"; index swapped in {r['generations']}x during the load (rebuild exit {r['rebuild_exit']}), "
                     f"{r['failed_after_swap']} failed of 200 after")
        print(f"  {r['label']}: {r['requests']:,} requests, {r['concurrency']} at a time: {r['failed']} failed, "
              f"{r['requests_per_s']:.1f} req/s, p50 {r['p50_ms']:.0f} ms, p95 {r['p95_ms']:.0f} ms, "
              f"p99 {r['p99_ms']:.0f} ms{extra}", flush=True)


def bench_server(sample_index: Path, full_index: Path | None, results: dict, *, model: str, corpus: Path,
                 cache: str | None, work: Path, requests: int = 2000, concurrency: int = 32,
                 lexical_full_index: Path | None = None) -> None:
    """The `make bench` hook: fills ``results["server"]``. ``lexical_full_index``: a whole-corpus
    ``--lexical-only`` index, loaded with ``mode=lexical`` (no encoder in the loop)."""
    # side by side: each search encoded on its own (1) vs concurrent searches sharing a pass (32)
    runs = [] if sample_index is None else [
        run_one("sample (flat, random bert-base-shaped model)", sample_index, requests, concurrency, max_batch=b)
        for b in (1, 32)]
    if full_index is not None and full_index.exists():
        from poetry_search.store.db import DB_NAME, Store

        # name the index's own model and type: the label must not claim a model the index was not built with
        store = Store(full_index / DB_NAME)
        meta = store.manifest()
        store.close()
        runs.append(run_one(f"whole corpus ({Path(str(meta.get('model'))).name}, {meta.get('dimension')}-d, {meta.get('index_type')})",
                            full_index, requests, concurrency))
    if lexical_full_index is not None and lexical_full_index.exists():
        runs.append(run_one("whole corpus (--lexical-only index)", lexical_full_index, requests, concurrency,
                            mode="lexical"))
    if sample_index is not None:
        runs.append(run_swap(sample_index, corpus, model, cache, requests, concurrency, work))
    results["server"] = runs
    table(runs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sample-index", type=Path, required=True, help="the sample index (bert-base-shaped model)")
    ap.add_argument("--full-index", type=Path, default=None, help="a whole-corpus index (tiny model is fine)")
    ap.add_argument("--lexical-full-index", type=Path, default=None, help="a whole-corpus --lexical-only index (mode=lexical)")
    ap.add_argument("--skip-sample", action="store_true", help="only the whole-corpus runs")
    ap.add_argument("--corpus", type=Path, default=ROOT / "data" / "sample", help="corpus of the sample index (for the rebuild)")
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--work", type=Path, default=ROOT / "bench" / "work")
    ap.add_argument("--out", type=Path, default=None, help="write the results as JSON here")
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    args.work.mkdir(parents=True, exist_ok=True)
    from poetry_search.store.db import DB_NAME, Store

    store = Store(args.sample_index / DB_NAME, read_only=True)
    model = store.manifest()["model"]
    store.close()
    results: dict = {"machine": {"cores": os.cpu_count(), "when": time.strftime("%Y-%m-%d %H:%M:%S")}}
    bench_server(None if args.skip_sample else args.sample_index, args.full_index, results, model=model,
                 corpus=args.corpus, cache=os.environ.get("POETRY_SEARCH_CACHE"), work=args.work,
                 requests=args.requests, concurrency=args.concurrency, lexical_full_index=args.lexical_full_index)
    if args.out:
        args.out.write_text(json.dumps(results, ensure_ascii=False, indent=1))
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
