"""The page: time from the request of a search URL to its first result drawn, in headless Chromium
against a real `poetry-search serve` (tests/live_server.py, the browser tests' set-up).

    python bench/page.py --index INDEX [--runs 7]     # `make bench` runs it on the sample

Each run is a fresh browser context (an empty cache: the page, its script and its styles are
fetched as on a first visit) that navigates to ``/?q=…`` and waits for the first result card.
Two clocks: in the page, ``performance.now()`` (0 = the navigation's start) at the first animation
frame after the first ``.card`` is attached, i.e. when it is drawn; outside, the wall time of
``goto`` until the card is found. One run of each query before the measured ones warms the server
(the model loaded, SQLite's pages read); the medians are over the measured runs.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # live_server: the browser tests' server and Chromium

# a line of the corpus (its own vector, no model call), a meaning (the model encodes it), a pattern (find)
QUERIES = {"line": "春眠不觉晓", "meaning": "思念故乡的明月", "pattern": "?花*"}

# Set before the page's own script runs: when the first result card is attached, wait for the
# next frame (the browser draws it) and note the time since the navigation started.
FIRST_CARD = """
new MutationObserver((_, obs) => {
  if (!document.querySelector('.card')) return;
  obs.disconnect();
  requestAnimationFrame(() => { window.__firstCard = performance.now(); });
}).observe(document, {childList: true, subtree: true});
"""


def one_run(browser, url: str) -> tuple[float, float]:
    """(ms in the page from navigation start to the first card drawn, wall ms of goto to the card)."""
    from live_server import DESKTOP

    ctx = browser.new_context(viewport=DESKTOP)
    try:
        page = ctx.new_page()
        page.add_init_script(FIRST_CARD)
        page.set_default_timeout(120_000)
        t = time.perf_counter()
        page.goto(url)
        page.wait_for_selector(".card")
        wall = (time.perf_counter() - t) * 1000
        page.wait_for_function("window.__firstCard !== undefined")
        drawn = page.evaluate("window.__firstCard")
        return float(drawn), wall
    finally:
        ctx.close()


def bench_page(index: str | Path, runs: int = 7, say=print) -> dict:
    """Median (and min, max) ms from request to first result drawn, per query kind; {} with a
    reason where Playwright or Chromium is missing."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        say("page: skipped (pip install -e '.[test]' for playwright)")
        return {"skipped": "playwright is not installed"}
    from live_server import chromium_path, launch_chromium, live_server

    if chromium_path() is None:
        say("page: skipped (apt-get install -y chromium fonts-noto-cjk, or `make browser`)")
        return {"skipped": "no chromium"}
    out: dict = {"runs": runs, "queries": QUERIES}
    with live_server(index, cwd=ROOT) as server, sync_playwright() as p:
        browser = launch_chromium(p)
        try:
            for kind, q in QUERIES.items():
                url = f"{server}?q={quote(q)}"
                cold = one_run(browser, url)  # the first search of its kind: not counted
                got = [one_run(browser, url) for _ in range(runs)]
                drawn, wall = [g[0] for g in got], [g[1] for g in got]
                out[kind] = {"first_result_drawn_ms": {"median": round(statistics.median(drawn), 1),
                                                        "min": round(min(drawn), 1), "max": round(max(drawn), 1)},
                             "goto_to_card_wall_ms": {"median": round(statistics.median(wall), 1)},
                             "warm_up_ms": round(cold[0], 1)}
        finally:
            browser.close()
    say("\n== page: request to first result drawn (fresh browser context each run, "
        f"median of {runs}; headless Chromium)")
    for kind, q in QUERIES.items():
        r = out[kind]
        d = r["first_result_drawn_ms"]
        say(f"  {kind:<8} {q:<10} drawn {d['median']:7.1f} ms (min {d['min']}, max {d['max']})   "
            f"goto→card wall {r['goto_to_card_wall_ms']['median']:7.1f} ms   warm-up run {r['warm_up_ms']} ms")
    return out


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--index", required=True, help="a built index (e.g. index/ from `make index`)")
    ap.add_argument("--runs", type=int, default=7, help="measured runs per query (default 7)")
    ap.add_argument("--out", help="write the figures as JSON here")
    args = ap.parse_args(argv)
    got = bench_page(args.index, args.runs)
    if args.out:
        Path(args.out).write_text(json.dumps(got, ensure_ascii=False, indent=1))
    return got


if __name__ == "__main__":
    main()
