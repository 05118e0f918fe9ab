"""The HTTP face of 平仄 and 韵: ``GET /api/find`` with ``tones``/``rhyme``/``rhymes_with``,
``GET /api/rhymes/{char}`` and ``POST /api/check``, over the sample index in process.

Oracles, written here without the library's search code: the stored tone strings and rhyme groups
read with sqlite3 and matched by a regular expression; the rhyme book's counts taken from the
sample's stored lines (each line's last character looked up in the 平水韵 table); the 格律 of
王之涣's 登鹳雀楼 as the textbooks give it (仄起首句不入韵, 十一尤), and copies of it broken in one
rule at a known line and position."""

from __future__ import annotations

import re
from collections import Counter

import pytest
from prosody_oracle import db as _db
from prosody_oracle import stored_lines, tones_regex

pytest.importorskip("fastapi")

from poetry_search.options import MAX_CHECK_CHARS, MAX_RHYME_BOOK_CHARS, RHYME_BOOK_CHARS  # noqa: E402
from poetry_search.prosody import rhymes  # noqa: E402
from poetry_search.server import models  # noqa: E402
from conftest import assert_error_body  # noqa: E402

HAN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff\U00020000-\U0003ffff]")
POEM = "白日依山尽，黄河入海流。欲穷千里目，更上一层楼。"  # 登鹳雀楼: 仄起首句不入韵, 十一尤
TONES = ["仄仄平平仄", "平平仄仄平", "仄平平仄仄", "中仄仄平平"]  # 更 has both readings


@pytest.fixture(scope="module")
def stored(sample_index) -> list[tuple[int, str, str, list[str]]]:
    """(text id, text, stored tones, stored rhyme groups) of every distinct line."""
    return stored_lines(sample_index)


def _all_hits(client, **params) -> tuple[int, list[dict]]:
    """Every hit of a find, page by page (k=100), and its total."""
    hits, total = [], None
    while total is None or len(hits) < total:
        r = client.get("/api/find", params={**params, "k": 100, "offset": len(hits)})
        assert r.status_code == 200, r.text
        got = models.FindResult.model_validate(r.json())
        total = got.total
        if not got.hits:
            break
        hits += r.json()["hits"]
    return total, hits


# -- find by tones and rhyme --------------------------------------------------------------------


@pytest.mark.parametrize("pattern", ["平平仄仄平", "仄仄平平仄", "?平??平", "平*仄*平"])
def test_find_by_tones_equals_a_scan_of_the_stored_tones(client, stored, pattern):
    rx = tones_regex(pattern)
    want = sorted(i for i, _, tones, _ in stored if rx.fullmatch(tones))
    assert 0 < len(want) < 10_000
    total, hits = _all_hits(client, tones=pattern)
    assert total == len(want) and len(hits) == len(want)
    assert sorted(h["id"] for h in hits) == want
    assert all(rx.fullmatch(h["tones"]) and h["match"] == "tones" for h in hits)
    r = client.get("/api/find", params={"tones": pattern, "k": 1}).json()
    assert (r["tones"], r["rhyme"], r["rhymes_with"], r["pattern"]) == (pattern, None, None, None)


def test_find_by_rhyme_and_rhymes_with_equal_a_scan_of_the_stored_groups(client, stored):
    want = sorted(i for i, _, _, groups in stored if "七阳" in groups)
    assert len(want) > 100
    for params in ({"rhyme": "七阳"}, {"rhyme": "下平七陽"}, {"rhyme": "22"}, {"rhymes_with": "霜"}):
        total, hits = _all_hits(client, **params)
        assert total == len(want) and sorted(h["id"] for h in hits) == want, params
        assert all("七阳" in h["rhyme"] for h in hits)
    # 行 has four readings: the lines ending in any of them
    groups = {g.name for g in rhymes.readings("行")}
    assert len(groups) == 4
    want = sorted(i for i, _, _, gs in stored if groups & set(gs))
    total, hits = _all_hits(client, rhymes_with="行")
    assert total == len(want) and sorted(h["id"] for h in hits) == want


def test_tones_combine_with_a_pattern_a_rhyme_and_a_filter(client, stored, sample_index):
    rx = tones_regex("?平*")
    want = sorted(i for i, text, tones, groups in stored
                  if re.fullmatch(".花.*", text) and rx.fullmatch(tones) and "七阳" in groups)
    total, hits = _all_hits(client, pattern="?花*", tones="?平*", rhyme="七阳")
    assert total == len(want) > 0 and sorted(h["id"] for h in hits) == want
    with _db(sample_index) as conn:
        li_bai = {r[0] for r in conn.execute("SELECT DISTINCT lines.text_id FROM lines JOIN poems ON poems.id = "
                                             "lines.poem_id WHERE poems.author = '李白'")}
    want = sorted(i for i, _, tones, _ in stored if i in li_bai and tones_regex("平平*").fullmatch(tones))
    total, hits = _all_hits(client, tones="平平*", author="李白")
    assert total == len(want) > 0 and sorted(h["id"] for h in hits) == want
    assert all(h["author"] == "李白" for h in hits)


def test_a_poems_lines_carry_their_tones_and_rhyme(client, stored):
    hit = client.get("/api/find", params={"pattern": "白日依山"}).json()["hits"][0]
    poem = client.get(f"/api/poems/{hit['poem_id']}").json()
    by_id = {i: (tones, groups) for i, _, tones, groups in stored}
    assert len(poem["lines"]) == 4
    assert [ln["tones"] for ln in poem["lines"]] == TONES == [by_id[ln["text_id"]][0] for ln in poem["lines"]]
    assert [ln["rhyme"] for ln in poem["lines"]] == [by_id[ln["text_id"]][1] for ln in poem["lines"]]
    assert poem["lines"][1]["rhyme"] == ["十一尤"] and poem["lines"][3]["rhyme"] == ["十一尤"]


# -- the rhyme book -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def final_counts(sample_index) -> Counter:
    """Lines of the sample ending in each character, by the form the 平水韵 table lists it under."""
    out: Counter = Counter()
    with _db(sample_index) as conn:
        for original, text in conn.execute("SELECT lines.original, texts.text FROM lines "
                                           "JOIN texts ON texts.id = lines.text_id"):
            hans = HAN.findall(original)
            form = rhymes.lookup(hans[-1])[0] if hans else ""
            if not form and text:
                form = rhymes.lookup(text[-1])[0]
            if form:
                out[form] += 1
    assert sum(out.values()) > 10_000
    return out


def test_the_rhyme_book_counts_the_samples_lines(client, final_counts):
    r = client.get("/api/rhymes/霜", params={"limit": MAX_RHYME_BOOK_CHARS})
    assert r.status_code == 200
    book = models.RhymeBook.model_validate(r.json())
    assert set(r.json()) == set(models.RhymeBook.model_fields)
    assert (book.char, book.form, book.limit) == ("霜", "霜", MAX_RHYME_BOOK_CHARS) and len(book.groups) == 1
    g = book.groups[0]
    assert (g.number, g.name, g.full_name, g.tone) == (22, "七阳", "下平七阳", "平")
    members = rhymes.group_members(22)
    assert len(g.characters) == len(members) and {c.char for c in g.characters} == set(members)
    assert [c.lines for c in g.characters] == [final_counts.get(c.char, 0) for c in g.characters]
    assert [c.lines for c in g.characters] == sorted((c.lines for c in g.characters), reverse=True)
    assert g.characters[0].lines == max(final_counts.get(m, 0) for m in members) > 0


def test_the_rhyme_book_of_a_character_of_several_readings_with_the_default_limit(client, final_counts):
    r = client.get("/api/rhymes/行")
    assert r.status_code == 200
    book = r.json()
    want = rhymes.readings("行")
    assert book["limit"] == RHYME_BOOK_CHARS
    assert [(g["number"], g["full_name"], g["tone"]) for g in book["groups"]] == [(g.number, g.full_name, g.tone) for g in want]
    assert len(book["groups"]) == 4 and {g["tone"] for g in book["groups"]} == {"平", "仄"}
    for g in book["groups"]:
        members = rhymes.group_members(g["number"])
        top = sorted((final_counts.get(m, 0) for m in members), reverse=True)[:RHYME_BOOK_CHARS]
        assert len(g["characters"]) == min(RHYME_BOOK_CHARS, len(members))
        assert [c["lines"] for c in g["characters"]] == top
        assert all(c["lines"] == final_counts.get(c["char"], 0) for c in g["characters"])


def test_the_rhyme_book_looks_a_traditional_character_up(client):
    simp = client.get("/api/rhymes/阳", params={"limit": 3}).json()
    trad = client.get("/api/rhymes/陽", params={"limit": 3}).json()
    assert trad["char"] == "陽" and [g["name"] for g in trad["groups"]] == [g["name"] for g in simp["groups"]] == ["七阳"]
    assert len(trad["groups"][0]["characters"]) == 3


# -- the 格律 check -----------------------------------------------------------------------------


def test_a_regular_poem_is_heLv(client):
    r = client.post("/api/check", json={"text": POEM})
    assert r.status_code == 200
    v = models.Verdict.model_validate(r.json())
    assert set(r.json()) == set(models.Verdict.model_fields)
    assert (v.verdict, v.ok, v.form, v.pattern, v.start, v.first_line_rhymes, v.rhyme) == \
        ("合律", True, "五绝", "仄起首句不入韵", "仄起", False, "十一尤")
    assert v.lines == ["白日依山尽", "黄河入海流", "欲穷千里目", "更上一层楼"] and v.tones == TONES
    assert v.expected == ["仄仄平平仄", "平平仄仄平", "平平平仄仄", "仄仄仄平平"]
    assert len(v.marks) == 4 and all(m == ["合"] * 5 for m in v.marks)
    assert v.faults == [] and v.reason is None
    assert [(x.line, x.position, x.char, x.tone) for x in v.readings] == [(3, 0, "更", "仄")]


@pytest.mark.parametrize(("line", "copy", "fault"), [
    (2, "欲去千里目", (2, 1, "失粘")),  # 去 仄 after 河 平
    (3, "更上一层台", (3, 4, "出韵")),  # 台 is 十灰
    (1, "大河入海流", (1, 0, "孤平")),  # 仄平仄仄平
])
def test_a_copy_broken_in_one_rule_is_buhe_at_its_place(client, line, copy, fault):
    lines = ["白日依山尽", "黄河入海流", "欲穷千里目", "更上一层楼"]
    lines[line] = copy
    r = client.post("/api/check", json={"text": "\n".join(lines), "strict": False})
    assert r.status_code == 200  # 不合 is an answer, not an error
    v = r.json()
    assert v["verdict"] == "不合" and v["ok"] is False
    assert [(f["line"], f["position"], f["rule"]) for f in v["faults"]] == [fault]
    assert v["marks"][fault[0]][fault[1]] == "不合"
    assert sum(m.count("不合") for m in v["marks"]) >= 1


def test_strict_turns_a_note_into_a_fault_and_aojiu_is_named(client):
    poem = "白日依山尽，黄河入海流。欲穷万里目，更上一层楼。"  # 仄平仄仄仄: 三仄尾
    loose = client.post("/api/check", json={"text": poem}).json()
    strict = client.post("/api/check", json={"text": poem, "strict": True}).json()
    assert loose["verdict"] == "合律" and [(n["line"], n["position"], n["kind"]) for n in loose["notes"]] == [(2, 2, "三仄尾")]
    assert strict["verdict"] == "不合" and [(f["line"], f["position"], f["rule"]) for f in strict["faults"]] == [(2, 2, "三仄尾")]
    v = client.post("/api/check", json={"text": "白日依水尽，黄河东入流。欲穷千里目，更上一层楼。"}).json()
    assert v["verdict"] == "合律（拗救）" and v["faults"] == []
    assert [(n["line"], n["position"], n["kind"]) for n in v["notes"]] == [(1, 2, "对句相救")]


def test_a_corpus_poem_by_id_and_a_tse_rhymed_one(client):
    hit = client.get("/api/find", params={"pattern": "白日依山"}).json()["hits"][0]
    v = client.post("/api/check", json={"poem_id": hit["poem_id"]}).json()
    assert (v["verdict"], v["pattern"], v["rhyme"]) == ("合律", "仄起首句不入韵", "十一尤")
    assert v["lines"][0] == "白日依山盡" and v["tones"] == TONES
    chunxiao = client.post("/api/check", json={"text": "春眠不觉晓，处处闻啼鸟。夜来风雨声，花落知多少。"}).json()
    assert chunxiao["verdict"] == "非近体" and chunxiao["reason"].startswith("仄韵") and chunxiao["faults"] == []
    mixed = client.post("/api/check", json={"text": "白日依山尽，黄河入海流水。"}).json()
    assert mixed["verdict"] == "非近体" and "mixed lengths" in mixed["reason"] and mixed["form"] is None


# -- bad requests -------------------------------------------------------------------------------

BAD = [
    ("GET", "/api/find?tones=abc", None, 400, "bad_tones"),
    ("GET", "/api/find?tones=" + "?" * 5, None, 400, "bad_tones"),
    ("GET", "/api/find?tones=" + "平" * 201, None, 400, "text_too_long"),
    ("GET", "/api/find?rhyme=八阳", None, 400, "unknown_rhyme"),
    ("GET", "/api/find?rhyme=107", None, 400, "unknown_rhyme"),
    ("GET", "/api/find?rhymes_with=霜天", None, 400, "bad_char"),
    ("GET", "/api/find?rhymes_with=𪚥", None, 400, "unknown_char"),  # a Han character the table lacks
    ("GET", "/api/find?rhymes_with=" + "霜" * 51, None, 400, "bad_request"),
    ("GET", "/api/find?tones=%20&rhyme=%20", None, 400, "empty_query"),
    ("GET", "/api/rhymes/霜天", None, 400, "bad_char"),
    ("GET", "/api/rhymes/𪚥", None, 400, "unknown_char"),
    ("GET", "/api/rhymes/%20", None, 400, "bad_char"),
    ("GET", "/api/rhymes/霜?limit=0", None, 400, "bad_request"),
    ("GET", f"/api/rhymes/霜?limit={MAX_RHYME_BOOK_CHARS + 1}", None, 400, "bad_request"),
    ("GET", "/api/rhymes/" + "霜" * 51, None, 400, "bad_request"),
    ("POST", "/api/check", b'{"text": ""}', 400, "empty_query"),
    ("POST", "/api/check", '{"text": "\u200b\u3000"}'.encode(), 400, "empty_query"),
    ("POST", "/api/check", b'{"text": "abc def"}', 400, "empty_query"),
    ("POST", "/api/check", "{\"text\": \"白日依山尽，黄河入海流。欲穷千里目，更上一层\U0002a6a5。\"}".encode(), 400, "unknown_char"),
    ("POST", "/api/check", ('{"text": "' + "春" * (MAX_CHECK_CHARS + 1) + '"}').encode(), 400, "text_too_long"),
    ("POST", "/api/check", b'{"text": "\\ud800"}', 400, "invalid_text"),
    ("POST", "/api/check", b'{"text": 5}', 400, "invalid_text"),
    ("POST", "/api/check", b"{}", 400, "bad_request"),
    ("POST", "/api/check", b'{"text": "a", "poem_id": "b"}', 400, "bad_request"),
    ("POST", "/api/check", b'{"text": "a", "strict": "yes"}', 400, "bad_request"),
    ("POST", "/api/check", b'{"texts": ["a"]}', 400, "bad_request"),
    ("POST", "/api/check", b"not json", 400, "bad_request"),
    ("POST", "/api/check", b"\xff\xfe", 400, "bad_request"),
    ("POST", "/api/check", b"[]", 400, "bad_request"),
    ("POST", "/api/check", b'{"poem_id": "no-such-poem"}', 404, "poem_not_found"),
    ("POST", "/api/check", b'{"text": "' + b"a" * 20_000 + b'"}', 413, "body_too_large"),
    ("GET", "/api/check", None, 405, "method_not_allowed"),
]


@pytest.mark.parametrize(("method", "url", "body", "status", "code"), BAD,
                         ids=[f"{m} {u[:40]} {c}" + (f" {b[:20]!r}" if b else "") for m, u, b, _, c in BAD])
def test_every_error_is_the_json_body_with_its_code(client, method, url, body, status, code):
    assert_error_body(client.request(method, url, content=body), status, code)


def test_the_bad_cases_cover_every_new_route():
    routes = {"/api/rhymes" if u.startswith("/api/rhymes/") else u.split("?")[0] for _, u, *_ in BAD}
    assert routes == {"/api/find", "/api/rhymes", "/api/check"} and len(BAD) == 32


def test_openapi_declares_the_new_operations(client):
    doc = client.get("/openapi.json").json()
    rhymes_op = doc["paths"]["/api/rhymes/{char}"]["get"]
    check_op = doc["paths"]["/api/check"]["post"]
    assert sorted(rhymes_op["responses"]) == ["200", "400", "404", "503"]
    assert sorted(check_op["responses"]) == ["200", "400", "404", "413", "503"]
    ref = lambda op: op["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]  # noqa: E731
    assert (ref(rhymes_op), ref(check_op)) == ("RhymeBook", "Verdict")
    limit = {p["name"]: p["schema"] for p in rhymes_op["parameters"]}["limit"]
    assert (limit["minimum"], limit["maximum"], limit["default"]) == (1, MAX_RHYME_BOOK_CHARS, RHYME_BOOK_CHARS)
    body = check_op["requestBody"]["content"]["application/json"]["schema"]
    assert set(body["properties"]) == {"text", "poem_id", "strict"}
    assert body["properties"]["text"]["maxLength"] == MAX_CHECK_CHARS
    find = {p["name"] for p in doc["paths"]["/api/find"]["get"]["parameters"]}
    assert {"tones", "rhyme", "rhymes_with"} <= find and len(find) == 13


# -- the page's own files ------------------------------------------------------------------------


def test_the_pages_own_files_stay_under_100_kb_and_load_nothing_from_outside():
    from poetry_search.server.page import PAGES, STATIC

    files = {name: (STATIC / name).read_bytes() for name, _ in PAGES.values()}
    assert sorted(files) == ["app.css", "app.js", "favicon.svg", "index.html"]
    own = sum(len(files[n]) for n in ("index.html", "app.css", "app.js"))
    assert 20_000 < own < 100 * 1000, own
    html, css, js = (files[n].decode("utf-8") for n in ("index.html", "app.css", "app.js"))
    assert re.findall(r'(?:src|href)="([^"]+)"', html) == ["/static/favicon.svg", "/static/app.css",
                                                           "/static/app.js", "/", "/?view=check", "/docs"]
    assert "@import" not in css and not re.search(r"url\((?!data:)", css)
    assert not re.search(r"""(?:fetch|import)\(\s*["'`](?:https?:)?//""", js) and "XMLHttpRequest" not in js
