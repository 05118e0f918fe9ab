"""The page, driven in headless Chromium as a reader would: type a query, open the poem, follow an
echo, filter, share the URL; and corpus strings or queries holding markup stay text.

Needs Debian's chromium (`apt-get install -y chromium fonts-noto-cjk`; `.ci/run` installs it) and
the Python playwright package (the test extra). Playwright's own browser download is never used.
"""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlparse

import pytest
from conftest import ROOT
from live_server import DESKTOP, PHONE, chromium_path, launch_chromium, live_server

from poetry_search.corpus.dynasties import dynasty_rank

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed: pip install -e '.[test]'")
if chromium_path() is None:
    pytest.skip("no Chromium at /usr/bin/chromium: apt-get install -y chromium fonts-noto-cjk (.ci/run installs it)",
                allow_module_level=True)

PAGE_K = 20  # the page asks for 20 hits


@pytest.fixture(scope="module")
def server(sample_index):
    with live_server(sample_index, cwd=ROOT) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = launch_chromium(p)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    # bypass_csp: the page's Content-Security-Policy would also stop injected scripts; without it
    # the tests check that the page's own escaping does (and wait_for_function may evaluate)
    ctx = browser.new_context(viewport=DESKTOP, bypass_csp=True)
    pg = ctx.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.on("dialog", lambda d: (errors.append(f"dialog: {d.message}"), d.dismiss()))
    pg.set_default_timeout(120_000)  # the shared test machine can be very busy
    yield pg
    ctx.close()
    assert errors == [], errors


def library_hits(opened, q, **filters):
    """What the library returns for the page's request (the API's own call, same arguments)."""
    from poetry_search.server.app import search_call

    args = dict(k=PAGE_K, mode=filters.pop("mode", "hybrid"), author=None, dynasty=None, collection=None, form=None,
                sort="score", poems=False)
    args.update(filters)
    return search_call(opened, q, args)


def card_lines(page) -> list[str]:
    return page.locator(".card .line").all_inner_texts()


def url_params(page) -> dict:
    return {k: v[0] for k, v in parse_qs(urlparse(page.url).query).items()}


def search(page, server, q):
    page.goto(server)
    page.wait_for_selector("body[data-ready]")
    page.fill("#q", q)
    page.press("#q", "Enter")
    page.wait_for_selector(".card")


def test_query_poem_echo_and_back(page, server, opened):
    search(page, server, "春眠不觉晓")
    expected = library_hits(opened, "春眠不觉晓")
    lines = card_lines(page)
    assert len(lines) == len(expected) == PAGE_K
    assert lines == [h.original for h in expected]
    assert lines[0] == "春眠不覺曉"
    assert url_params(page)["q"] == "春眠不觉晓"
    # every character of the simplified query is marked in the traditional line
    first = page.locator(".card").first
    assert "".join(first.locator(".line mark").all_inner_texts()) == "春眠不覺曉"

    first.click()
    page.wait_for_selector(".verse.hit")
    assert page.inner_text("#poem h1") == "春曉"
    assert page.inner_text(".verse.hit").startswith("春眠不覺曉")
    assert page.locator(".verse").count() == 4
    params = url_params(page)
    assert params["poem"] == expected[0].poem_id and params["line"] == str(expected[0].id)

    page.click(".verse.hit")
    page.wait_for_selector(".echoes li")

    echoes = sorted(opened.echoes(expected[0].id, k=10), key=lambda h: dynasty_rank(h.dynasty))
    items = page.locator(".echoes .echo-line").all_inner_texts()
    assert len(items) == len(echoes) == 10
    assert items == [h.original for h in echoes]
    assert all(h.author != "孟浩然" for h in echoes)
    ranks = [dynasty_rank(h.dynasty) for h in echoes]
    assert ranks == sorted(ranks)

    page.locator(".echoes a").first.click()
    page.wait_for_function("document.querySelector('#poem h1') && document.querySelector('#poem h1').innerText === %s"
                           % json.dumps(echoes[0].title or "无题"))
    assert page.inner_text(".verse.hit").startswith(echoes[0].original)
    assert url_params(page)["poem"] == echoes[0].poem_id

    # back: each state is waited for by what marks it, never by an element already on the page
    # before the navigation renders (Playwright's expect retries until the state holds)
    expect = sync_api.expect
    page.go_back()  # the poem with its echoes open
    expect(page.locator("#poem h1")).to_have_text("春曉")
    expect(page.locator(".echoes li")).to_have_count(10)
    page.go_back()  # the poem
    expect(page.locator(".echoes")).to_have_count(0)
    expect(page.locator(".verse.hit")).to_have_count(1)
    page.go_back()  # the results
    expect(page.locator(".card .line")).to_have_count(len(lines))
    assert card_lines(page) == lines
    expect(page.locator("#q")).to_have_value("春眠不觉晓")


def test_a_filter_narrows_the_results_and_the_url_round_trips(page, server, opened, browser):
    search(page, server, "明月")
    page.select_option("#dynasty", "宋")
    page.wait_for_function("new URLSearchParams(location.search).get('dynasty') === '宋'")
    page.wait_for_function("document.querySelectorAll('.card').length > 0 && "
                           "[...document.querySelectorAll('.card .meta')].every(m => m.innerText.includes('宋'))")
    expected = library_hits(opened, "明月", dynasty="宋")
    assert len(expected) == PAGE_K
    assert all(h.dynasty == "宋" for h in expected)
    assert card_lines(page) == [h.original for h in expected]

    # the URL is the whole state: opened elsewhere, it shows the same search
    shared = page.url
    other = browser.new_page(viewport=PHONE, bypass_csp=True)
    other.goto(shared)
    other.wait_for_selector(".card")
    assert other.input_value("#q") == "明月" and other.input_value("#dynasty") == "宋"
    assert other.locator(".card .line").all_inner_texts() == [h.original for h in expected]
    assert other.url == shared
    # and a poem URL opens the poem
    other.goto(f"{server}?poem={expected[0].poem_id}&line={expected[0].id}")
    other.wait_for_selector(".verse.hit")
    assert other.inner_text("#poem h1") == (expected[0].title or "无题")
    other.close()


def test_errors_show_as_messages(page, server):
    page.goto(server + "?q=" + "春" * 300)
    page.wait_for_selector(".status.error")
    assert "at most" in page.inner_text("#status")
    page.goto(server + "?poem=no-such-poem")
    page.wait_for_selector(".status.error")
    assert "no-such-poem" in page.inner_text("#status")


HOSTILE_TITLE = "<script>window.__pwned = 1</script>題"
HOSTILE_LINE = "<img src=x onerror=window['__pwned']=2>春風"  # no full stop: lines split there


@pytest.fixture(scope="module")
def hostile_server(tmp_path_factory, tiny_model):
    from poetry_search import build_index

    corpus = tmp_path_factory.mktemp("hostile")
    (corpus / "caocaoshiji").mkdir()
    poems = [{"title": HOSTILE_TITLE, "paragraphs": [f"{HOSTILE_LINE}，明月<b>照</b>我還。", "春眠不覺曉，處處聞啼鳥。"]},
             {"title": "短歌行", "paragraphs": ["對酒當歌，人生幾何。"]}]
    (corpus / "caocaoshiji" / "caocao.json").write_text(json.dumps(poems, ensure_ascii=False), "utf-8")
    index = tmp_path_factory.mktemp("hostile-index") / "index"
    build_index(corpus, index, model=tiny_model, precision="fp32")
    with live_server(index, cwd=ROOT) as url:
        yield url


def test_markup_in_the_corpus_and_the_query_stays_text(page, hostile_server):
    search(page, hostile_server, "春風")
    lines = card_lines(page)
    assert HOSTILE_LINE in lines
    assert page.locator(".card img, .card script, .card b").count() == 0
    page.locator(".card", has_text=HOSTILE_LINE).first.click()
    page.wait_for_selector(".verse.hit")
    assert page.inner_text("#poem h1") == HOSTILE_TITLE
    assert "明月<b>照</b>我還" in page.inner_text("#poem")
    assert page.locator("#poem img, #poem script, #poem b").count() == 0
    assert page.evaluate("window.__pwned") is None

    query = "<script>window.__pwned=3</script>春眠"
    page.goto(hostile_server)
    page.wait_for_selector("body[data-ready]")
    page.fill("#q", query)
    page.press("#q", "Enter")
    page.wait_for_selector(".card")
    assert url_params(page)["q"] == query
    assert page.input_value("#q") == query
    assert query in page.title()
    assert page.evaluate("window.__pwned") is None
    assert page.locator("main script").count() == 0
