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
from live_server import DESKTOP, PHONE, chromium, chromium_path, live_server

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
    with chromium() as b:
        yield b


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

    first.locator(".line").click()
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
    assert page.inner_text("#status").startswith("输入太长：最多可搜 200 字")
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
    page.locator(".card", has_text=HOSTILE_LINE).first.locator(".line").click()
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


# -- the reader's page: start, poets, more, 简/繁, paragraphs, phone, keyboard, accessibility -----

expect = sync_api.expect


def open_page(page, url):
    page.goto(url)
    page.wait_for_selector("body[data-ready]")


def test_start_page_examples_work_when_clicked(page, server, opened):
    open_page(page, server)
    examples = page.locator("#start .example")
    expect(examples).to_have_count(3)
    texts = examples.all_inner_texts()
    assert len(texts) == 3
    line, meaning, pattern = texts
    # the line: its own card first, marked as the whole line (整句)
    examples.nth(0).click()
    expect(page.locator(".card").first.locator(".how")).to_have_text("整句")
    assert url_params(page)["q"] == line
    assert card_lines(page) == [h.original for h in library_hits(opened, line)]
    page.go_back()
    expect(page.locator("#start .example")).to_have_count(3)
    examples.nth(1).click()
    expect(page.locator(".card")).to_have_count(PAGE_K)
    assert card_lines(page) == [h.original for h in library_hits(opened, meaning)]
    page.go_back()
    examples.nth(2).click()
    found = opened.find(pattern, k=PAGE_K)
    assert found.total > 0
    expect(page.locator(".card")).to_have_count(min(PAGE_K, found.total))
    assert card_lines(page) == [h.original for h in found.hits]
    expect(page.locator("#status")).to_contain_text(f"共 {found.total} 句")
    # the day's poem and the best-known poets lead somewhere
    page.go_back()
    page.locator("#start .today .poem-title").click()
    expect(page.locator("#poem h1")).to_be_visible()
    page.go_back()
    page.locator("#start .chips .author").first.click()
    expect(page.locator("#list h1")).to_have_text(opened.poet(url_params(page)["author"], k=1)["name"])


def test_a_poets_page_from_a_result_link_with_more(page, server, opened):
    search(page, server, "床前明月光")
    first = page.locator(".card").first
    author = first.locator(".author").inner_text()
    assert author == "李白"
    first.locator(".author").click()
    expect(page.locator("#list h1")).to_have_text("李白")
    assert url_params(page) == {"author": "李白"}
    poet = opened.poet("李白", k=40)
    assert poet["total"] > 40 and len(poet["poems"]) == 40
    expect(page.locator(".poems li")).to_have_count(20)
    assert page.inner_text(".bio") == poet["biography"]
    page.click("#list .more")
    expect(page.locator(".poems li")).to_have_count(40)
    titles = page.locator(".poems .poem-title").all_inner_texts()
    assert titles == [p["title"] for p in poet["poems"]]
    hrefs = page.locator(".poems .poem-title").evaluate_all("els => els.map(e => e.getAttribute('href'))")
    assert len(set(hrefs)) == 40
    assert url_params(page)["n"] == "40"
    page.go_back()  # back to the search that led here
    expect(page.locator("#q")).to_have_value("床前明月光")
    expect(page.locator(".card")).to_have_count(PAGE_K)
    # a poet's own path opens the same page
    page.goto(server.rstrip("/") + "/poet/李白")
    expect(page.locator("#list h1")).to_have_text("李白")


def test_more_adds_the_next_hits_without_duplicates(page, server, opened):
    from poetry_search.server.app import search_call

    search(page, server, "明月")
    expect(page.locator(".card")).to_have_count(PAGE_K)
    page.click("#more")
    expect(page.locator(".card")).to_have_count(2 * PAGE_K)
    want = search_call(opened, "明月", {"k": 2 * PAGE_K, "mode": "hybrid", "author": None, "dynasty": None,
                                         "collection": None, "form": None, "sort": "score", "poems": False})
    assert len(want) == 2 * PAGE_K
    assert card_lines(page) == [h.original for h in want]
    keys = page.locator(".card").evaluate_all("els => els.map(e => e.dataset.poem + '#' + e.dataset.line)")
    assert len(keys) == len(set(keys)) == 2 * PAGE_K
    # the URL holds the page: a reload shows the same 40
    assert url_params(page)["n"] == str(2 * PAGE_K)
    page.reload()
    expect(page.locator(".card")).to_have_count(2 * PAGE_K)
    assert card_lines(page) == [h.original for h in want]
    # a pattern pages through find's total the same way
    search(page, server, "?月*")
    total = opened.find("?月*", k=1).total
    assert total > PAGE_K
    page.click("#more")
    expect(page.locator(".card")).to_have_count(min(total, 2 * PAGE_K))
    assert card_lines(page) == [h.original for h in opened.find("?月*", k=2 * PAGE_K).hits]


def test_script_toggle_converts_the_whole_page_and_is_remembered(page, server, opened):
    poem_id = opened.find("春眠不覺曉", k=1).hits[0].poem_id
    assert opened.poem(poem_id)["collection"] == "quantangshi"
    open_page(page, f"{server}?poem={poem_id}")
    expect(page.locator("#poem h1")).to_have_text("春曉")
    page.click("#script button[data-script=s]")
    expect(page.locator("#poem h1")).to_have_text("春晓")
    expect(page.locator("#poem .para").first).to_have_text("春眠不觉晓，处处闻啼鸟。")
    page.reload()
    expect(page.locator("#poem h1")).to_have_text("春晓")  # remembered
    expect(page.locator("#script button[data-script=s]")).to_have_attribute("aria-pressed", "true")
    page.click("#script button[data-script=orig]")
    expect(page.locator("#poem h1")).to_have_text("春曉")
    expect(page.locator("#poem .para").first).to_have_text("春眠不覺曉，處處聞啼鳥。")
    page.click("#script button[data-script=t]")  # a 宋词 poem (simplified in the corpus) in 繁體
    open_page(page, f"{server}?author=苏轼")
    expect(page.locator("#list h1")).to_have_text("蘇軾")
    page.click("#script button[data-script=orig]")
    expect(page.locator("#list h1")).to_have_text("苏轼")


def test_a_ci_shows_its_paragraphs_apart(page, server):
    # the corpus's own paragraphs, read from the sample's JSON here (a poem id is its file and place).
    # The sample's 宋词三百首 has no ci of exactly two paragraphs: its paragraphs are its sentences
    # (8 for this 水调歌头), so the page must show exactly those, in order, each a paragraph apart.
    ci = json.loads((ROOT / "data" / "sample" / "songci" / "宋词三百首.json").read_text(encoding="utf-8"))
    at = next(i for i, p in enumerate(ci) if p["rhythmic"] == "水调歌头" and p["author"] == "苏轼"
              and p["paragraphs"][0].startswith("明月几时有"))
    paragraphs = ci[at]["paragraphs"]
    assert len(paragraphs) == 8 and paragraphs[4] == "转朱阁，低绮户，照无眠。"  # 下阕 begins there
    open_page(page, f"{server}?poem=songci/宋词三百首/{at}")
    paras = page.locator("#poem .para")
    expect(paras).to_have_count(len(paragraphs))
    shown = paras.all_inner_texts()
    assert len(shown) == len(paragraphs) and shown == paragraphs
    for n in range(len(paragraphs) - 1):
        a, b = paras.nth(n).bounding_box(), paras.nth(n + 1).bounding_box()
        assert b["y"] - (a["y"] + a["height"]) >= 12, n  # a blank line between paragraphs, as the corpus has them


def test_the_highlight_lands_on_the_original_characters(page, server):
    # a simplified query with a zero-width space pasted inside finds the traditional line; exactly
    # the matched characters are marked, in the line's own script, and 流 is not
    for q in ("黄河入海", "黄河\u200b入海"):
        search(page, server, q)
        card = page.locator(".card", has=page.locator(".line", has_text="黃河入海流")).first
        expect(card).to_be_visible()
        marks = card.locator(".line mark").all_inner_texts()
        assert marks == ["黃河入海"] and len(marks) == 1, (q, marks)
        assert card.locator(".line").inner_text() == "黃河入海流"


def test_phone_shows_the_first_result_above_the_fold(browser, server):
    ctx = browser.new_context(viewport=PHONE)
    pg = ctx.new_page()
    pg.goto(server + "?q=春眠不觉晓")
    first = pg.locator(".card").first
    expect(first).to_be_visible()
    box = first.bounding_box()
    assert box["y"] + box["height"] <= PHONE["height"]
    assert pg.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    ctx.close()


def tab_until(page, selector, limit=40):
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("(s) => document.activeElement && document.activeElement.matches(s)", selector):
            return
    raise AssertionError(f"Tab never reached {selector}")


def test_keyboard_alone_reaches_the_box_a_result_a_poem_and_back(page, server):
    open_page(page, server)
    assert page.evaluate("document.activeElement.id") == "q"  # the box has the focus
    page.keyboard.type("春眠不觉晓")
    page.keyboard.press("Enter")
    expect(page.locator(".card")).to_have_count(PAGE_K)
    tab_until(page, ".card .line")
    page.keyboard.press("Enter")
    expect(page.locator("#poem h1")).to_have_text("春曉")
    page.evaluate("document.activeElement.blur()")
    tab_until(page, "#poem .back")
    page.keyboard.press("Enter")
    expect(page.locator(".card")).to_have_count(PAGE_K)
    expect(page.locator("#q")).to_have_value("春眠不觉晓")


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_axe_finds_no_serious_violation(browser, server, opened, viewport):
    from axe_playwright_python.sync_playwright import Axe

    axe = Axe()
    ctx = browser.new_context(viewport=viewport, bypass_csp=True)  # axe is injected as a script
    pg = ctx.new_page()
    poem_id = opened.find("春眠不覺曉", k=1).hits[0].poem_id
    views = {"start": (server, "#start h2"), "results": (server + "?q=明月", ".card"),
             "poem": (f"{server}?poem={poem_id}", "#poem h1"), "poet": (server + "?author=李白", ".poems li"),
             "error": (server + "?q=" + "春" * 300, ".status.error")}
    bad = {}
    for name, (url, ready) in views.items():
        pg.goto(url)
        expect(pg.locator(ready).first).to_be_visible()
        found = axe.run(pg).response["violations"]
        bad[name] = [(v["id"], v["impact"], len(v["nodes"])) for v in found if v["impact"] in ("serious", "critical")]
    ctx.close()
    assert bad == {name: [] for name in views}, bad


def test_a_poem_on_a_lexical_only_index_shows_only_its_own_parts(page, lexical_sample_index):
    # no vectors: no echo hint, and nothing the page lacks is written out as text ("null")
    ci = json.loads((ROOT / "data" / "sample" / "songci" / "宋词三百首.json").read_text(encoding="utf-8"))
    with live_server(lexical_sample_index, cwd=ROOT) as url:
        for poem_id, first in [("songci/宋词三百首/0", ci[0]["paragraphs"][0])]:
            open_page(page, f"{url}?poem={poem_id}")
            expect(page.locator("#poem .para").first).to_have_text(first)
            text = page.locator("#poem").inner_text()
            assert "null" not in text and "undefined" not in text, text
            expect(page.locator("#poem .hint")).to_have_count(0)
            expect(page.locator("#poem h1")).to_have_count(1)


def test_a_book_two_collections_hold_is_one_chip(page, tmp_path_factory):
    # the attribution fixture has 唐诗三百首 twice (quantangshi's and mengxue's): one chip, both counts
    from poetry_search import Index, build_index

    path = tmp_path_factory.mktemp("fixture-lexical") / "index"
    build_index(ROOT / "tests" / "data" / "attribution", path, lexical_only=True)
    facets = Index.open(path).facets()["collections"]
    assert sum(c["book"] == "唐诗三百首" for c in facets) == 2
    want: dict[str, int] = {}
    for c in facets:
        want[c["book"] or c["collection"]] = want.get(c["book"] or c["collection"], 0) + c["poems"]
    with live_server(path, cwd=ROOT) as url:
        open_page(page, url)
        chips = page.locator("#start h2:text-is('诗集') + .chips li")
        expect(chips).to_have_count(len(want))
        got = [t.rsplit(" ", 1) for t in chips.all_inner_texts()]
        assert len(got) == len(want) == len(facets) - 1 and {name: int(n) for name, n in got} == want
