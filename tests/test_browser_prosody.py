"""The page's 平仄 and 格律, driven in headless Chromium as a reader would: the 平仄 toggle marks the
characters of hits and of a poem (and is remembered), the legend explains the marks, rhyming lines
show their group; the 格律 panel judges a pasted poem, names a fault at its line and position, says
in Chinese what is wrong with an empty paste, keeps its state in the URL, and passes axe.

Expected marks are computed here with ``prosody.line_tones`` (the 平水韵 table), not read from the
API; the verdicts are the textbook's for 王之涣's 登鹳雀楼 (the sample titles it 登樓) and for a copy
of it broken in one rule. Same harness as tests/test_browser.py (system Chromium, a real server).
"""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlparse

import pytest
from conftest import ROOT
from live_server import DESKTOP, PHONE, chromium, chromium_path, live_server

from poetry_search.prosody import line_tones

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed: pip install -e '.[test]'")
if chromium_path() is None:
    pytest.skip("no Chromium at /usr/bin/chromium: apt-get install -y chromium fonts-noto-cjk (.ci/run installs it)",
                allow_module_level=True)
expect = sync_api.expect

POEM = "白日依山尽，黄河入海流。欲穷千里目，更上一层楼。"
BROKEN = "白日依山尽，黄河入海流。欲去千里目，更上一层楼。"  # 去 仄 where 平 keeps 粘 with 河: 失粘 at line 3, char 2


@pytest.fixture(scope="module")
def server(sample_index):
    with live_server(sample_index, cwd=ROOT) as url:
        yield url.rstrip("/")


@pytest.fixture(scope="module")
def browser():
    with chromium() as b:
        yield b


def _context(browser, viewport):
    ctx = browser.new_context(viewport=viewport, bypass_csp=True)  # axe is injected as a script
    pg = ctx.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.set_default_timeout(120_000)  # the shared test machine can be very busy
    return ctx, pg, errors


@pytest.fixture
def page(browser):
    ctx, pg, errors = _context(browser, DESKTOP)
    yield pg
    ctx.close()
    assert errors == [], errors


@pytest.fixture(scope="module")
def dengguanque(opened):
    """The sample's 登鹳雀楼: its poem id and lines (as the corpus writes them)."""
    hits = opened.find("白日依山盡", k=5).hits
    assert len(hits) >= 1 and hits[0].original == "白日依山盡"
    poem = opened.poem(hits[0].poem_id)
    lines = [ln["original"] for ln in poem["lines"]]
    assert lines == ["白日依山盡", "黃河入海流", "欲窮千里目", "更上一層樓"]
    return hits[0].poem_id, lines


def open_page(page, url):
    page.goto(url)
    expect(page.locator("body[data-ready]")).to_have_count(1)


def marks(locator) -> list[str]:
    return locator.locator(".tc").evaluate_all("els => els.map(e => e.dataset.t)")


def test_the_tones_toggle_marks_a_poem_and_hits_and_is_remembered(page, server, dengguanque):
    poem_id, lines = dengguanque
    assert line_tones("白日依山盡") == "仄仄平平仄"  # 平水韵, not modern pinyin's 平仄平平仄
    open_page(page, f"{server}/?poem={poem_id}")
    expect(page.locator("#poem h1")).to_have_text("登樓")
    expect(page.locator("#poem .tc")).to_have_count(0)
    expect(page.locator("#legend")).to_be_hidden()
    page.click("#tones")
    expect(page.locator("#tones")).to_have_attribute("aria-pressed", "true")
    verses = page.locator("#poem .verse")
    expect(verses).to_have_count(4)
    expect(page.locator("#poem .tc")).to_have_count(20)
    for i, line in enumerate(lines):
        want = list(line_tones(line))
        assert len(want) == 5 and marks(verses.nth(i)) == want, (line, marks(verses.nth(i)))
    assert marks(verses.nth(0)) == list("仄仄平平仄")
    # 更 has both readings: its own mark, 中
    first = verses.nth(3).locator(".tc").first
    expect(first).to_have_text("更")
    expect(first).to_have_attribute("data-t", "中")
    expect(first).to_have_class(re.compile(r"\bt-b\b"))
    # the legend explains every mark
    legend = page.locator("#legend")
    expect(legend).to_be_visible()
    for word in ("平声", "仄声", "平仄两读", "韵书未收", "押韵句的韵部"):
        expect(legend).to_contain_text(word)
    assert legend.locator(".tc").evaluate_all("els => els.map(e => e.dataset.t)") == ["平", "仄", "中", "？"]
    # the rhyming lines (流, 樓: 十一尤) show their group, the others none
    tags = page.locator("#poem .rhyme-tag")
    expect(tags).to_have_count(2)
    assert tags.all_inner_texts() == ["韵·十一尤", "韵·十一尤"]

    page.reload()  # remembered, like 简/繁
    expect(page.locator("#tones")).to_have_attribute("aria-pressed", "true")
    expect(page.locator("#poem .tc")).to_have_count(20)
    assert marks(page.locator("#poem .verse").nth(0)) == list("仄仄平平仄")

    # a hit's line is marked the same way
    open_page(page, f"{server}/?q=白日依山尽")
    line = page.locator(".card .line", has_text="白日依山盡").first
    expect(line.locator(".tc")).to_have_count(5)
    assert marks(line) == list(line_tones("白日依山盡"))
    expect(page.locator("#legend")).to_be_visible()

    # a 绝句 opens in the panel from its poem, checked as the corpus writes it
    open_page(page, f"{server}/?poem={poem_id}")
    page.locator("#poem .to-check").click()
    expect(page.locator("#verdict")).to_have_text(re.compile(r"^合律(?!（)"))
    expect(page.locator("#check-text")).to_have_value("白日依山盡，黃河入海流。\n欲窮千里目，更上一層樓。")
    expect(page.locator(".grid .cell .ch").first).to_have_text("白")
    page.go_back()
    expect(page.locator("#poem h1")).to_have_text("登樓")

    open_page(page, f"{server}/?q=白日依山尽")
    page.click("#tones")  # off again: no marks, no legend
    expect(page.locator("#tones")).to_have_attribute("aria-pressed", "false")
    expect(page.locator(".card .tc")).to_have_count(0)
    expect(page.locator(".card").first).to_be_visible()
    expect(page.locator("#legend")).to_be_hidden()


def test_the_meter_panel_judges_a_pasted_poem_and_a_broken_copy(page, server):
    open_page(page, server)
    page.click("#meter-link")
    expect(page.locator("#check")).to_be_visible()
    assert parse_qs(urlparse(page.url).query) == {"view": ["check"]}
    page.fill("#check-text", POEM)
    page.click("#check-go")
    verdict = page.locator("#verdict")
    expect(verdict).to_have_text(re.compile(r"^合律(?!（)"))
    expect(page.locator(".grid .cell")).to_have_count(20)
    expect(page.locator(".grid .cell.bad")).to_have_count(0)
    facts = page.locator(".facts")
    for word in ("五绝", "仄起首句不入韵", "十一尤"):
        expect(facts).to_contain_text(word)
    expect(page.locator(".fault")).to_have_count(0)
    assert parse_qs(urlparse(page.url).query) == {"view": ["check"], "text": [POEM]}

    page.fill("#check-text", BROKEN)
    page.click("#check-go")
    expect(verdict).to_have_text(re.compile(r"^不合"))
    faults = page.locator(".fault")
    expect(faults).to_have_count(1)
    expect(faults.first).to_contain_text("第3句第2字「去」")
    expect(faults.first).to_contain_text("失粘")
    expect(page.locator(".grid .cell.bad")).to_have_count(1)
    cell = page.locator(".grid tr").nth(2).locator("td").nth(1)  # line 3, character 2
    expect(cell).to_have_class(re.compile(r"\bbad\b"))
    expect(cell.locator(".ch")).to_have_text("去")

    page.go_back()  # the state is the URL: back shows the first verdict again
    expect(page.locator("#check-text")).to_have_value(POEM)
    expect(verdict).to_have_text(re.compile(r"^合律(?!（)"))
    page.go_forward()
    expect(verdict).to_have_text(re.compile(r"^不合"))

    # shared: the URL alone reproduces a strict check (三仄尾 counts)
    sanzewei = "白日依山尽，黄河入海流。欲穷万里目，更上一层楼。"
    open_page(page, f"{server}/?view=check&text={sanzewei}&strict=1")
    expect(page.locator("#check-strict")).to_be_checked()
    expect(page.locator("#verdict")).to_have_text(re.compile(r"^不合"))
    expect(page.locator(".fault")).to_have_count(1)
    expect(page.locator(".fault").first).to_contain_text("第3句第3字「万」")
    expect(page.locator(".fault").first).to_contain_text("三仄尾")


def test_an_empty_paste_and_unknown_characters_get_chinese_messages(page, server):
    open_page(page, f"{server}/?view=check")
    expect(page.locator("#check")).to_be_visible()
    page.click("#check-go")
    status = page.locator("#status.error")
    expect(status).to_have_text(re.compile(r"^请贴入一首诗：五绝、七绝、五律或七律"))
    expect(page.locator("#verdict")).to_have_count(0)
    page.fill("#check-text", "白日依山尽，黄河入海流。欲穷千里目，更上一层\U0002a6a5。")
    page.click("#check-go")
    expect(status).to_have_text(re.compile(r"^有字不在平水韵表中"))
    expect(status.locator(".en")).to_contain_text("\U0002a6a5")  # the API's message names the character


def tab_until(page, element_id, limit=40):
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement && document.activeElement.id") == element_id:
            return
    raise AssertionError(f"Tab never reached #{element_id}")


def test_a_poem_that_is_not_jinti_says_why_in_chinese(page, server):
    open_page(page, f"{server}/?view=check&text=春眠不觉晓，处处闻啼鸟。夜来风雨声，花落知多少。")
    expect(page.locator("#verdict")).to_have_text(re.compile(r"^非近体"))
    reason = page.locator(".reason")
    expect(reason).to_contain_text("押仄声韵")
    expect(reason.locator(".en")).to_contain_text("仄韵")
    expect(page.locator(".fault")).to_have_count(0)
    expect(page.locator(".grid .cell")).to_have_count(20)
    open_page(page, f"{server}/?view=check&text=白日依山尽，黄河入海流水。")
    expect(page.locator(".reason")).to_contain_text("各句字数不一（5、6 字）")


def test_the_panel_by_keyboard(page, server):
    open_page(page, server)
    page.evaluate("document.activeElement.blur()")
    tab_until(page, "meter-link")
    page.keyboard.press("Enter")
    expect(page.locator("#check")).to_be_visible()
    tab_until(page, "check-text")
    page.keyboard.type(POEM)
    page.keyboard.press("Tab")  # the strict box
    page.keyboard.press("Tab")  # the button
    assert page.evaluate("document.activeElement.id") == "check-go"
    page.keyboard.press("Enter")
    expect(page.locator("#verdict")).to_be_focused()
    expect(page.locator("#verdict")).to_have_text(re.compile(r"^合律"))


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_axe_finds_no_serious_violation_on_the_panel(browser, server, dengguanque, viewport):
    from axe_playwright_python.sync_playwright import Axe

    axe = Axe()
    ctx, pg, errors = _context(browser, viewport)
    poem_id, _ = dengguanque
    views = {"panel": (f"{server}/?view=check", "#check-text"),
             "verdict": (f"{server}/?view=check&text={BROKEN}", "#verdict"),
             "not-jinti": (f"{server}/?view=check&text=春眠不觉晓，处处闻啼鸟。", "#verdict"),
             "poem-with-tones": (f"{server}/?poem={poem_id}", "#poem .tc")}
    pg.goto(server)
    pg.evaluate("localStorage.setItem('tones', 'on')")
    bad, wide = {}, {}
    for name, (url, ready) in views.items():
        pg.goto(url)
        expect(pg.locator(ready).first).to_be_visible()
        found = axe.run(pg).response["violations"]
        bad[name] = [(v["id"], v["impact"], len(v["nodes"])) for v in found if v["impact"] in ("serious", "critical")]
        wide[name] = pg.evaluate("document.documentElement.scrollWidth")
    ctx.close()
    assert bad == {name: [] for name in views}, bad
    assert all(w <= viewport["width"] for w in wide.values()), wide
    assert errors == [], errors


def test_the_start_page_leads_to_the_panel(page, server):
    open_page(page, server)
    link = page.locator("#start .example-tool")
    expect(link).to_have_count(1)
    link.click()
    expect(page.locator("#check")).to_be_visible()
    expect(page.locator("#start")).to_be_hidden()
    page.go_back()
    expect(page.locator("#start .example-tool")).to_be_visible()
    expect(page.locator("#check")).to_be_hidden()
