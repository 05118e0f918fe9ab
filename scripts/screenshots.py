"""Screenshots of the page for the README: start, results, poem, poet, a poem's 平仄 and its 格律,
desktop and phone width.

    python scripts/screenshots.py --index index --out docs     # what `make screenshots` runs

On an index built with --lexical-only the poem is shown without its echoes (they need vectors).

Same set-up as the browser tests (live_server): a real `poetry-search serve` in a
child process, Debian's Chromium driven headless by Playwright.
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))  # the live-server harness

from live_server import DESKTOP, PHONE, launch_chromium, live_server  # noqa: E402

QUERY = "春眠不觉晓"  # by meaning too: the page fills with its nearest lines
LEXICAL_QUERY = "明月"  # an index without vectors shows a line's own hits only: a fragment lists many
REGULATED = "白日依山尽"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--index", default="index", help="index folder to serve (default: index)")
    ap.add_argument("--out", default="docs", help="folder for the PNG files (default: docs)")
    ap.add_argument("--query", help=f"the query shown (default: {QUERY}; {LEXICAL_QUERY} on an index without vectors)")
    ap.add_argument("--regulated", default=REGULATED,
                    help=f"a line of a regulated poem, shown with its 平仄 and 格律 (default: {REGULATED})")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    from playwright.sync_api import sync_playwright

    with live_server(args.index, cwd=ROOT) as url, sync_playwright() as p:
        with urllib.request.urlopen(url.rstrip("/") + "/api/info") as r:  # a --lexical-only index has no echoes to show
            has_vectors = json.load(r)["has_vectors"]
        query = args.query or (QUERY if has_vectors else LEXICAL_QUERY)
        browser = launch_chromium(p)
        for name, viewport, scale in (("desktop", DESKTOP, 1), ("phone", PHONE, 2)):
            page = browser.new_page(viewport=viewport, device_scale_factor=scale)
            page.goto(url)
            page.wait_for_selector("body[data-ready]")
            page.wait_for_selector("#start h2")
            page.screenshot(path=str(out / f"start-{name}.png"), full_page=name == "desktop")
            page.fill("#q", query)
            page.press("#q", "Enter")
            page.wait_for_selector(".card")
            page.mouse.move(0, 0)
            page.screenshot(path=str(out / f"search-{name}.png"))
            author = page.locator(".card .author").first.inner_text()
            page.locator(".card .line").first.click()
            page.wait_for_selector(".verse.hit")
            if has_vectors:
                page.locator(".verse.hit").click()
                page.wait_for_selector(".echoes li")
            page.mouse.move(0, 0)  # no hover state in the picture
            page.screenshot(path=str(out / f"poem-{name}.png"), full_page=True)
            page.locator("#poem .byline .author").click()
            page.wait_for_selector(f"#list h1:text-is('{author}')")
            page.wait_for_selector(".poems li")
            page.mouse.move(0, 0)
            page.screenshot(path=str(out / f"poet-{name}.png"))
            # a regulated poem with its 平仄 marked, then checked in the 格律 panel
            page.goto(url + "?" + urllib.parse.urlencode({"q": args.regulated}))
            page.wait_for_selector("body[data-ready]")
            page.locator(".card .line").first.click()
            page.wait_for_selector(".verse.hit")
            page.click("#tones")
            page.wait_for_selector("#poem .tc")
            page.mouse.move(0, 0)
            page.screenshot(path=str(out / f"tones-{name}.png"), full_page=True)
            page.locator("#poem .to-check").click()
            page.wait_for_selector("#verdict")
            page.wait_for_selector(".grid .cell")
            page.mouse.move(0, 0)
            page.screenshot(path=str(out / f"check-{name}.png"), full_page=True)
            page.close()
        browser.close()
    for f in sorted(out.glob("*.png")):
        print(f"wrote {f}")


if __name__ == "__main__":
    main()
