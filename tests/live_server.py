"""A real ``poetry-search serve`` in a child process, and the headless Chromium that drives the
page: one set-up shared by the browser tests, ``make screenshots`` and the load benchmark.

    with live_server("index") as url:
        ...   # http://127.0.0.1:PORT/
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

# Playwright's own browser download cannot reach its servers from our machines: Debian's
# chromium package (`apt-get install chromium fonts-noto-cjk`) is what we drive.
CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}


def chromium_path() -> str | None:
    """The Chromium to drive: $POETRY_SEARCH_CHROMIUM, else the first of the usual paths that exists."""
    env = os.environ.get("POETRY_SEARCH_CHROMIUM")
    if env:
        return env if Path(env).exists() else None
    for p in CHROMIUM_CANDIDATES:
        if Path(p).exists():
            return p
    found = shutil.which("chromium")
    return found


def launch_chromium(playwright):
    """Headless Chromium through Playwright, pointed at the system browser."""
    path = chromium_path()
    if path is None:
        raise RuntimeError("no Chromium found: apt-get install -y chromium fonts-noto-cjk (or set POETRY_SEARCH_CHROMIUM)")
    return playwright.chromium.launch(executable_path=path, headless=True, args=["--no-sandbox", "--disable-gpu"])


@contextlib.contextmanager
def chromium():
    """A headless Chromium (``launch_chromium``) for the length of a ``with``: Playwright started,
    the browser closed and Playwright stopped afterwards."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = launch_chromium(p)
        try:
            yield browser
        finally:
            browser.close()


@contextlib.contextmanager
def live_server(index: str | Path, port: int = 0, timeout: float = 180.0, env: dict | None = None,
                cwd: str | Path | None = None, args: tuple[str, ...] = ()) -> Iterator[str]:
    """Start ``python -m poetry_search serve --index INDEX --port PORT`` and yield its URL once it
    says it is ready; the process is stopped (and waited for) on exit."""
    cmd = [sys.executable, "-m", "poetry_search", "serve", "--index", str(index), "--port", str(port), *args]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=cwd,
                            env={**os.environ, **(env or {})})
    lines: list[str] = []
    url: list[str] = []
    ready = threading.Event()

    def read():
        for line in proc.stdout:
            lines.append(line)
            m = re.search(r"at (http://\S+/) ", line)
            if m and not url:
                url.append(m.group(1))
                ready.set()
        ready.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + timeout
        while not ready.wait(0.2):
            if time.monotonic() > deadline:
                raise RuntimeError(f"the server did not start in {timeout:.0f}s: {''.join(lines)[-2000:]}")
        if not url:
            raise RuntimeError(f"the server exited ({proc.poll()}): {''.join(lines)[-2000:]}")
        yield url[0]
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
