"""/docs and /redoc render with the network blocked: Chromium, pointed at a real `poetry-search
serve`, may reach only the server; every other request is aborted and recorded."""

from __future__ import annotations

from urllib.parse import urlparse

import pytest
from conftest import ROOT
from live_server import chromium, chromium_path, live_server

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed: pip install -e '.[test]'")
if chromium_path() is None:
    pytest.skip("no Chromium at /usr/bin/chromium: apt-get install -y chromium fonts-noto-cjk (.ci/run installs it)",
                allow_module_level=True)

OPERATIONS = 13  # the API's 9 routes (with rhymes and check) and the reader's 4 (authors, browse, start, convert)


@pytest.fixture(scope="module")
def server(sample_index):
    with live_server(sample_index, cwd=ROOT) as url:
        yield url.rstrip("/")


@pytest.fixture(scope="module")
def offline_page(server):
    with chromium() as browser:
        ctx = browser.new_context()
        blocked: list[str] = []

        def only_the_server(route):
            host = urlparse(route.request.url).hostname
            if host in ("127.0.0.1", "localhost"):
                route.continue_()
            else:
                blocked.append(route.request.url)
                route.abort()

        ctx.route("**/*", only_the_server)
        page = ctx.new_page()
        page.set_default_timeout(120_000)  # the shared test machine can be very busy
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        yield page, blocked, errors
        ctx.close()


def test_swagger_ui_renders_every_operation_offline(server, offline_page):
    page, blocked, errors = offline_page
    page.goto(f"{server}/docs")
    page.wait_for_selector(".opblock-summary-path")
    paths = page.locator(".opblock-summary-path").all_inner_texts()
    assert len(paths) == OPERATIONS, paths
    assert any("/api/search" in p for p in paths)
    assert "poetry-search" in page.locator(".info .title").inner_text()
    assert errors == [] and blocked == [], (errors, blocked)


def test_redoc_renders_offline(server, offline_page):
    page, blocked, errors = offline_page
    page.goto(f"{server}/redoc")
    page.wait_for_selector("[data-section-id^='tag/']")
    ops = page.locator("[data-section-id^='operation/']").count()
    assert ops == OPERATIONS
    # ReDoc's "powered by" footer asks its CDN for a logo: a decoration, the one request it makes
    outside = [u for u in blocked if u != "https://cdn.redoc.ly/redoc/logo-mini.svg"]
    assert errors == [] and outside == [] and len(blocked) <= 1, (errors, blocked)
