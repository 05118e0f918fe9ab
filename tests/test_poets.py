"""Poets (search/poets.py, Index.poet, GET /api/authors/{name}, `poetry-search poet`) and the
reader's routes (/api/start, /api/convert), checked against the corpus files and the store's rows
read here with plain SQL."""

from __future__ import annotations

import json
import sqlite3

import pytest
from conftest import SAMPLE, run_cli

from poetry_search.corpus.authors import canonical_author
from poetry_search.corpus.normalize import fold
from poetry_search.corpus.reader import CorpusReader
from poetry_search.errors import PoemNotFoundError, UsageProblem


@pytest.fixture(scope="module")
def corpus():
    reader = CorpusReader(SAMPLE)
    return list(reader.poems()), list(reader.authors)


def _corpus_poems_of(corpus, name):
    canon = canonical_author(name)
    return [p for p in corpus[0] if canonical_author(p.author) == canon]


def _popularity(opened) -> dict[str, float | None]:
    return dict(opened.store.conn.execute("SELECT id, popularity FROM poems").fetchall())


@pytest.mark.parametrize("name", ["李白", "蘇軾", "曹操"])
def test_poet_lists_every_poem_once_most_popular_first(opened, corpus, name):
    pop = _popularity(opened)
    mine = _corpus_poems_of(corpus, name)
    # Independently: the corpus's poems of this poet, by the stored popularity, unranked last,
    # then in corpus order.
    order = {p.id: i for i, p in enumerate(corpus[0])}
    expected = sorted(mine, key=lambda p: (pop[p.id] is None, -(pop[p.id] or 0), order[p.id]))
    assert len(expected) > 5
    got, offset = [], 0
    while True:
        page = opened.poet(name, k=4, offset=offset)
        assert page["total"] == len(expected)
        assert page["offset"] == offset and page["k"] == 4
        assert len(page["poems"]) == min(4, len(expected) - offset)
        got += page["poems"]
        offset += 4
        if offset >= len(expected):
            break
    assert [p["poem_id"] for p in got] == [p.id for p in expected]
    assert [p["first_line"] for p in got] == [p.paragraphs[0] for p in expected]
    assert [p["popularity"] for p in got] == [pop[p.id] for p in expected]
    assert opened.poet(name, k=4, offset=len(expected))["poems"] == []


def test_poet_biography_and_dynasty_come_from_the_authors_record(opened, corpus):
    records = [a for a in corpus[1] if fold(a.name) == "李白"]
    assert len(records) == 1
    p = opened.poet("李白", k=1)
    assert p["name"] == records[0].name
    assert p["dynasty"] == records[0].dynasty
    assert p["biography"] == records[0].bio.strip()
    assert len(p["records"]) == 1 and p["records"][0]["source"] == records[0].source
    # 曹操 has no authors file in the sample: the dynasty is his poems'.
    assert not [a for a in corpus[1] if fold(a.name) == "曹操"]
    cao = opened.poet("曹操", k=3)
    assert cao["biography"] == "" and cao["records"] == []
    assert cao["dynasty"] == _corpus_poems_of(corpus, "曹操")[0].dynasty


def test_either_script_finds_the_same_poet(opened):
    assert opened.poet("蘇軾", k=5) == opened.poet("苏轼", k=5)


def test_unknown_poet_is_not_found_with_suggestions(opened):
    with pytest.raises(PoemNotFoundError) as e:
        opened.poet("李由", k=5)
    assert e.value.code == "author_not_found"
    assert "李白" in str(e.value)
    with pytest.raises(UsageProblem):
        opened.poet("李白", k=0)
    with pytest.raises(UsageProblem):
        opened.poet("李白", offset=-1)


def _tiny_store(path, curated=()):
    """A store with poems under an alias (后主煜) and the canonical name (李煜), popularity set;
    the poems ``curated`` are in 唐诗三百首, the rest in 全唐诗."""
    from poetry_search.store.db import Store

    s = Store(path / "poetry.db", create=True)
    poems = [("a", "后主煜", 0.5), ("b", "李煜", 2.0), ("c", "李煜", None), ("d", "後主煜", 3.0), ("e", "李白", 9.0)]
    s.insert_poems((pid, "quantangshi", "唐诗三百首" if pid in curated else "全唐诗", "五代", f"题{pid}", f"题{pid}", a,
                    fold(a), "", "", "", "[]",
                    json.dumps([f"{pid}句一，{pid}句二。"], ensure_ascii=False), "x.json", i)
                   for i, (pid, a, _) in enumerate(poems))
    s.insert_authors([("李煜", "李煜", "五代", "南唐后主，字重光。", "authors.song.json")])
    s.insert_texts([(0, "句")])
    s.finish_texts()
    s.set_poem_columns((None, pop, canonical_author(a), i + 1) for i, (_, a, pop) in enumerate(poems))
    s.commit()
    s.close()
    return Store(path / "poetry.db", read_only=True)


def test_aliases_fold_into_one_poet_sorted_by_popularity(tmp_path):
    from poetry_search.search.poets import best_known, poem_of_day, poet

    store = _tiny_store(tmp_path)
    assert canonical_author("後主煜") == "李煜"
    p = poet(store, "後主煜", k=10)
    # Independently: the rows by either name, popularity descending, unranked last.
    rows = sqlite3.connect(tmp_path / "poetry.db").execute(
        "SELECT id, popularity FROM poems WHERE author IN ('李煜', '后主煜', '後主煜')").fetchall()
    want = [r[0] for r in sorted(rows, key=lambda r: (r[1] is None, -(r[1] or 0)))]
    assert want == ["d", "b", "a", "c"]
    assert [x["poem_id"] for x in p["poems"]] == want
    assert p["total"] == 4 and p["name"] == "李煜" and p["canonical"] == "李煜"
    assert p["aliases"] == ["后主煜"]
    assert p["biography"] == "南唐后主，字重光。" and p["dynasty"] == "五代"
    assert poet(store, "李煜", k=2, offset=1)["poems"] == p["poems"][1:3]
    top = best_known(store, 2)
    assert [(t["name"], t["poems"]) for t in top] == [("李白", 1), ("李煜", 4)]  # 9.0 > 0.5+2+3
    assert poem_of_day(store, __import__("datetime").date.fromordinal(5 * 100)) == "e"  # pool: e d b a c


def test_the_curated_editions_decide_who_is_best_known_and_the_day_s_poem(tmp_path):
    from poetry_search.search.poets import best_known, famous_poems, poem_of_day

    store = _tiny_store(tmp_path, curated=("a", "c"))  # 李煜's least popular poems are the editors' choice
    top = best_known(store, 2)
    assert [(t["name"], t["poems"]) for t in top] == [("李煜", 4), ("李白", 1)]  # 2 chosen poems > 0, 9.0 or not
    assert famous_poems(store) == ["a", "c"]  # by popularity, unranked last
    assert [poem_of_day(store, __import__("datetime").date.fromordinal(n)) for n in (10, 11)] == ["a", "c"]


def test_api_author_matches_the_library_and_404s(client, opened):
    r = client.get("/api/authors/蘇軾", params={"k": 3, "offset": 2})
    assert r.status_code == 200
    assert r.json() == json.loads(json.dumps(opened.poet("蘇軾", k=3, offset=2), ensure_ascii=False))
    r = client.get("/api/authors/李由")
    assert r.status_code == 404
    assert r.json()["error"]["status"] == 404 and "李白" in r.json()["error"]["message"]
    assert client.get("/api/authors/李白", params={"k": 0}).status_code == 400
    assert client.get("/api/authors/李白", params={"script": "x"}).status_code == 400


def test_api_author_script_converts_what_a_reader_reads(client):
    orig = client.get("/api/authors/李白", params={"k": 2}).json()
    simp = client.get("/api/authors/李白", params={"k": 2, "script": "s"}).json()
    assert "隴西成紀" in orig["biography"] and "陇西成纪" in simp["biography"]
    assert [p["poem_id"] for p in simp["poems"]] == [p["poem_id"] for p in orig["poems"]]
    assert len(simp["poems"]) == 2


def test_api_convert_both_ways(client):
    r = client.post("/api/convert", json={"texts": ["舉頭望明月", "白云", "后来"], "script": "s"})
    assert r.status_code == 200 and r.json()["texts"] == ["举头望明月", "白云", "后来"]
    r = client.post("/api/convert", json={"texts": ["举头望明月", "白云", "后来"], "script": "t"})
    assert r.json()["texts"] == ["舉頭望明月", "白雲", "後來"]
    assert client.post("/api/convert", json={"texts": "x", "script": "s"}).status_code == 400
    assert client.post("/api/convert", json={"texts": [], "script": "x"}).status_code == 400


def test_api_start_poem_and_poets(client, opened, corpus):
    j = client.get("/api/start").json()
    pop = _popularity(opened)
    order = {p.id: i for i, p in enumerate(corpus[0])}
    # the day's poem: one of the 100 most popular poems of the curated editions (the sample has two)
    curated = {p.id for p in corpus[0] if fold(p.book) in ("唐诗三百首", "宋词三百首", "千家诗")}
    assert 0 < len(curated) < len(corpus[0])
    pool = sorted(curated, key=lambda i: (pop[i] is None, -(pop[i] or 0), order[i]))[:100]
    assert len(pool) == 100
    assert j["poem"]["id"] == pool[__import__("datetime").date.today().toordinal() % 100]
    # poets: most poems in the curated editions, then summed popularity, then most poems
    chosen, score, count = {}, {}, {}
    for p in corpus[0]:
        c = canonical_author(p.author)
        if c and c not in ("佚名", "无名氏"):
            chosen[c] = chosen.get(c, 0) + (p.id in curated)
            score[c] = score.get(c, 0.0) + (pop[p.id] or 0.0)
            count[c] = count.get(c, 0) + 1
    want = sorted(score, key=lambda c: (-chosen[c], -score[c], -count[c], c))[:12]
    assert [p["canonical"] for p in j["poets"]] == want
    assert [p["poems"] for p in j["poets"]] == [count[c] for c in want]
    # example lines: first lines of the next famous poems, whole and of Chinese characters only
    firsts = []
    for pid in pool:
        first = next((ln for ln in opened.poem(pid)["lines"] if ln["original"]), None)
        if pid != j["poem"]["id"] and first and all("\u3400" <= ch <= "\u9fff" for ch in first["original"]) \
                and first["original"] not in firsts:
            firsts.append(first["original"])
    assert len(j["lines"]) == 3 and j["lines"] == firsts[:3]


def test_cli_poet_json_equals_the_library(sample_index, opened):
    r = run_cli("poet", "蘇軾", "--index", str(sample_index), "-k", "3", "--offset", "1", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == json.loads(json.dumps(opened.poet("蘇軾", k=3, offset=1), ensure_ascii=False))
    r = run_cli("poet", "蘇軾", "--index", str(sample_index), "-k", "2")
    titles = [p["title"] for p in opened.poet("蘇軾", k=2)["poems"]]
    assert r.returncode == 0 and r.stdout.startswith("苏轼 · 宋\n") and len(titles) == 2
    assert all(t in r.stdout for t in titles)
    r = run_cli("poet", "李由", "--index", str(sample_index))
    assert r.returncode == 1 and "no poet named" in r.stderr and "Traceback" not in r.stderr


def test_a_dynasty_written_two_ways_is_one_facet_and_one_filter(tmp_path):
    # 古文观止 writes 唐代 and 宋代 where the collections write 唐 and 宋
    from poetry_search.store.db import Store

    s = Store(tmp_path / "poetry.db", create=True)
    dyn = {"a": "唐", "b": "唐代", "c": "宋", "d": "唐", "e": "宋代", "f": "明代"}
    s.insert_poems((pid, "x", "书", d, f"题{pid}", f"题{pid}", "某", "某", "", "", "", "[]",
                    json.dumps([f"{pid}句一，{pid}句二。"], ensure_ascii=False), "x.json", i)
                   for i, (pid, d) in enumerate(dyn.items()))
    s.insert_texts([(0, "句")])
    s.finish_texts()
    s.commit()
    s.close()
    store = Store(tmp_path / "poetry.db", read_only=True)
    want = {}
    for d in dyn.values():
        want[d.rstrip("代")] = want.get(d.rstrip("代"), 0) + 1
    got = store.facets()["dynasties"]
    assert len(got) == len(want) == 3 and {x["name"]: x["poems"] for x in got} == want == {"唐": 3, "宋": 2, "明": 1}
    for folded, ids in (("唐", {"a", "b", "d"}), ("宋", {"c", "e"}), ("明", {"f"})):
        total, rows = store.poems_filtered(10, dynasty=folded)
        assert total == len(ids) == len(rows) and {r[0] for r in rows} == ids
        assert store.count_poems(dynasty=folded) == len(ids)
