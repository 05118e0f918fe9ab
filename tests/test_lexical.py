"""Lexical search (find, patterns, titles, poems, popularity, modes), checked against brute-force
scans of the texts table and a hand-made rank fixture."""

from __future__ import annotations

import json
import random
import re

import numpy as np
import pytest
from conftest import ROOT, run_cli

from poetry_search import Index
from poetry_search.build.popularity import combine
from poetry_search.corpus.normalize import fold
from poetry_search.corpus.variants import match_key
from poetry_search.errors import PoemNotFoundError, UsageProblem, VectorsMissingError
from poetry_search.search.patterns import parse_pattern
from poetry_search.search.filters import Filters

RANK_CORPUS = ROOT / "tests" / "data" / "rank_corpus"


@pytest.fixture(scope="session")
def lexical_index(lexical_sample_index):
    return Index.open(lexical_sample_index)


@pytest.fixture(scope="session")
def rank_index(tmp_path_factory):
    from poetry_search import build_index

    path = tmp_path_factory.mktemp("indexes") / "rank-lexical"
    build_index(RANK_CORPUS, path, lexical_only=True)
    return Index.open(path)


@pytest.fixture(scope="session")
def all_texts(lexical_index) -> list[str]:
    return [r[0] for r in lexical_index.store.conn.execute("SELECT text FROM texts ORDER BY id")]


def brute(texts: list[str], pattern: str) -> list[int]:
    """Ids of texts matching the pattern, by a plain scan: a fragment is a substring, a pattern
    with ? or * is a whole-line glob (translated to a regular expression by hand). Both sides by
    their variant key (corpus/variants.py: 著 matches 着), as lexical search matches."""
    texts, pattern = [match_key(t) for t in texts], match_key(pattern)
    if "?" not in pattern and "*" not in pattern:
        return [i for i, t in enumerate(texts) if pattern in t]
    rx = re.compile("".join("." if c == "?" else ".*" if c == "*" else re.escape(c) for c in pattern) + r"\Z", re.S)
    return [i for i, t in enumerate(texts) if rx.match(t)]


def all_ids(index, pattern, **kw) -> list[int]:
    r = index.find(pattern, k=10**7, **kw)
    assert len(r.hits) == r.total
    return sorted(h.id for h in r.hits)


# -- patterns --------------------------------------------------------------------------------


def test_parse_pattern():
    p = parse_pattern("誰先覺", fold)
    assert (p.segments, p.anchored_start, p.anchored_end, p.literal) == (("谁先觉",), False, False, "谁先觉")
    p = parse_pattern("？花＊", fold)
    assert (p.segments, p.anchored_start, p.anchored_end, p.literal) == (("?花",), True, False, None)
    p = parse_pattern("*樓", fold)
    assert (p.segments, p.anchored_start, p.anchored_end) == (("楼",), False, True)
    p = parse_pattern("春**花?", fold)
    assert (p.segments, p.anchored_start, p.anchored_end, p.min_length) == (("春", "花?"), True, True, 3)
    for bad in ("", "   ", "*", "??", "*?*", None):
        with pytest.raises(UsageProblem):
            parse_pattern(bad, fold)


def test_fragments_equal_brute_force(lexical_index, all_texts):
    rng = random.Random(12)
    patterns = ["明月", "千里", "不", "人", "春风", "谁", "之", "天涯", "秋"]
    for _ in range(25):  # fragments cut from random lines: 1 to 4 characters
        t = rng.choice(all_texts)
        a = rng.randrange(len(t))
        patterns.append(t[a:a + rng.randint(1, 4)])
    checked = 0
    for p in patterns:
        want = brute(all_texts, p)
        assert all_ids(lexical_index, p) == want, p
        assert lexical_index.find(p, k=1).total == len(want)
        checked += 1
    assert checked == len(patterns) == 34


def test_patterns_equal_brute_force(lexical_index, all_texts):
    patterns = ["?花*", "*楼", "明月?时有", "春*花", "*月*", "??月*", "*春?", "?风*雨", "*不*不*", "*人???",
                "?????????月*", "*山?*", "白*", "花"]
    nonempty = 0
    for p in patterns:
        want = brute(all_texts, p)
        got = all_ids(lexical_index, p)
        assert got == want, (p, len(got), len(want))
        nonempty += bool(want)
    assert nonempty >= 12
    # '?花*' is exactly the lines with 花 second
    hits = lexical_index.find("?花*", k=10**6).hits
    assert len(hits) == len(brute(all_texts, "?花*")) > 20
    assert all(len(h.text) >= 2 and h.text[1] == "花" for h in hits)


def test_traditional_pattern_finds_the_same_lines(lexical_index, all_texts):
    want = brute(all_texts, "秦时明月")
    assert len(want) == 1
    assert all_ids(lexical_index, "秦時明月") == want
    assert lexical_index.find("秦時明月").hits[0].original == "秦時明月漢時關"


def test_exact_line_first_then_the_rest_and_paging(lexical_index, all_texts):
    # a line that is also part of longer lines
    line = next(t for t in sorted(all_texts) if len(t) >= 2 and sum(t in u for u in all_texts) >= 3)
    r = lexical_index.find(line, k=100)
    assert r.total == len(brute(all_texts, line)) >= 3
    assert r.hits[0].text == line and r.hits[0].match == "exact"
    assert [h.match for h in r.hits[1:]] == ["contains"] * (r.total - 1)
    assert all(line in h.text for h in r.hits)
    # without popularity (the sample has no rank/), the rest is in id order: a stable order
    assert [h.id for h in r.hits[1:]] == sorted(h.id for h in r.hits[1:])
    full = lexical_index.find("明月", k=1000)
    pages = [lexical_index.find("明月", k=7, offset=o) for o in range(0, full.total, 7)]
    assert [h.id for p in pages for h in p.hits] == [h.id for h in full.hits]
    assert all(p.total == full.total for p in pages) and len(pages) == (full.total + 6) // 7
    assert [h.rank for h in pages[1].hits] == list(range(8, 8 + len(pages[1].hits)))


def test_filters_pre_filter_lexical_hits(lexical_index, all_texts):
    conn = lexical_index.store.conn
    by_li = {r[0] for r in conn.execute(
        "SELECT DISTINCT text_id FROM lines JOIN poems ON poems.id = lines.poem_id WHERE poems.author_norm = '李白'")}
    want = [i for i in brute(all_texts, "月") if i in by_li]
    assert len(want) > 5
    r = lexical_index.find("月", author="李白", k=1000)
    assert sorted(h.id for h in r.hits) == want and r.total == len(want)
    assert all(h.author == "李白" for h in r.hits)
    forms = {r[0] for r in conn.execute(
        "SELECT DISTINCT text_id FROM lines JOIN poems ON poems.id = lines.poem_id WHERE poems.tags LIKE '%\"五言绝句\"%'")}
    want = [i for i in brute(all_texts, "月") if i in forms]
    r = lexical_index.find("月", form="五言絕句", k=1000)
    assert sorted(h.id for h in r.hits) == want and len(want) > 3
    ci = {r[0] for r in conn.execute(
        "SELECT DISTINCT text_id FROM lines JOIN poems ON poems.id = lines.poem_id WHERE poems.form = '浣溪沙'")}
    want = sorted(i for i in ci if "花" in all_texts[i])
    r = lexical_index.find("花", form="浣溪沙", k=1000)
    assert sorted(h.id for h in r.hits) == want and len(want) > 2


def test_title_and_author_listings(lexical_index):
    r = lexical_index.find(title="静夜思")
    assert r.total == 1 and r.hits[0].author == "李白" and r.hits[0].title == "靜夜思"
    assert r.hits[0].form == "五言绝句"
    want = lexical_index.store.conn.execute("SELECT count(*) FROM poems WHERE author_norm = '李白'").fetchone()[0]
    r = lexical_index.find(author="李白", k=1000)
    assert r.total == want == len(r.hits) > 20 and {h.author for h in r.hits} == {"李白"}
    want = lexical_index.store.conn.execute("SELECT count(*) FROM poems WHERE title_norm LIKE '%月%'").fetchone()[0]
    assert lexical_index.find(title="月", k=1000).total == want > 5
    assert lexical_index.find(title="*月", k=1000).total == lexical_index.store.conn.execute(
        "SELECT count(*) FROM poems WHERE title_norm LIKE '%月'").fetchone()[0]


def test_grouped_by_poem(lexical_index, all_texts):
    r = lexical_index.find("明月", poems=True, k=1000)
    want = {row[0] for row in lexical_index.store.conn.execute(
        "SELECT DISTINCT lines.poem_id FROM lines JOIN texts ON texts.id = lines.text_id WHERE texts.text LIKE '%明月%'")}
    assert r.total == len(want) == len(r.hits) > 10
    assert {p.poem_id for p in r.hits} == want
    for p in r.hits:
        assert p.lines and all("明月" in h.text and h.poem_id == p.poem_id for h in p.lines)
        poem = lexical_index.poem(p.poem_id)
        assert {h.id for h in p.lines} == {ln["text_id"] for ln in poem["lines"] if "明月" in ln["text"]}


def test_bad_input(lexical_index):
    for bad in ("", "*", "??", "*?*"):
        with pytest.raises(UsageProblem):
            lexical_index.find(bad)
    with pytest.raises(UsageProblem, match="longer"):
        lexical_index.find("明" * 200)
    with pytest.raises(UsageProblem, match="unknown --form"):
        lexical_index.find("明月", form="十言绝句")
    with pytest.raises(UsageProblem):
        lexical_index.find()
    with pytest.raises(PoemNotFoundError):
        lexical_index.poem("no-such-poem")


def test_poem(lexical_index):
    hit = lexical_index.find("明月出天山").hits[0]
    p = lexical_index.poem(hit.poem_id)
    assert (p["title"], p["author"], p["dynasty"]) == ("橫吹曲辭 關山月", "李白", "唐")
    assert p["paragraphs"][0] == "明月出天山，蒼茫雲海間。" and len(p["paragraphs"]) == 6
    assert [ln["position"] for ln in p["lines"]] == list(range(12))
    assert p["lines"][0]["text"] == "明月出天山" and p["lines"][0]["text_id"] == hit.id


# -- popularity (hand-made rank fixture) -----------------------------------------------------


def test_combine_is_a_median_of_engine_percentiles():
    v = np.array([[1, 10, np.nan], [2, 20, 5], [3, 1, 6]], dtype=float)
    # engine percentiles (midpoint of ties): col0 1/6,3/6,5/6; col1 3/6,5/6,1/6; col2 -,1/4,3/4
    np.testing.assert_allclose(combine(v), [np.median([1 / 6, 3 / 6]), np.median([3 / 6, 5 / 6, 1 / 4]),
                                            np.median([5 / 6, 1 / 6, 3 / 4])])


def test_popularity_from_rank_fixture(rank_index):
    pops = dict(rank_index.store.conn.execute("SELECT id, popularity FROM poems"))
    # six matched entries; per engine A<B<C<D<E, F (天仙子) highest on baidu only: the median ignores
    # it. Their own fame: t-a 3/12, t-b 5/12, t-c 7/12, t-d 9/12, 水调歌头 11/12, 天仙子 1/12; the prior
    # of the class of the poems one book holds is the median of those it ranks (1, 5, 7, 9, 11 /12:
    # 7/12), and of 静夜思's class (two books, one curated) t-a's own 3/12. Each poem's popularity
    # is halfway between its own fame and its class's prior (build/fame.FAME_PRIOR_WEIGHT).
    half = lambda own, prior: (own + prior) / 24  # noqa: E731  (twelfths)
    assert pops["t-a"] == pytest.approx(half(3, 3), abs=1e-6) and pops["t-b"] == pytest.approx(half(5, 7), abs=1e-6)
    assert pops["t-c"] == pytest.approx(half(7, 7), abs=1e-6) and pops["t-d"] == pytest.approx(half(9, 7), abs=1e-6)
    assert pops["songci/ci.song.0/1"] == pytest.approx(half(11, 7), abs=1e-6)  # 水调歌头, listed out of order in rank/
    assert pops["songci/ci.song.0/0"] == pytest.approx(half(1, 7), abs=1e-6)  # 天仙子
    # no rank entry: the prior of its class
    assert pops["t-g"] == pytest.approx(7 / 12, abs=1e-6)
    assert pops["t300-a"] == pytest.approx(3 / 12, abs=1e-6)  # 唐诗三百首's 静夜思 shares 全唐诗's
    stats = rank_index.manifest["lexical"]["popularity"]
    assert (stats["own_rank"], stats["other_edition"], stats["class_prior"]) == (6, 1, 1)


def test_famous_first(rank_index):
    r = rank_index.find("明月", k=10)
    assert r.total == 6
    assert [h.text for h in r.hits] == ["明月", "明月几时有", "海上生明月", "明月来相照", "床前明月光", "举头望明月"]
    assert [h.match for h in r.hits] == ["exact"] + ["contains"] * 5
    # each line's popularity is its attributed poem's fame; 明月 (無名氏's unranked 句) has its class prior
    assert [h.popularity for h in r.hits] == [pytest.approx(7 / 12, abs=1e-6), pytest.approx(9 / 12, abs=1e-6),
                                             pytest.approx(7 / 12, abs=1e-6), pytest.approx(6 / 12, abs=1e-6),
                                             pytest.approx(3 / 12, abs=1e-6), pytest.approx(3 / 12, abs=1e-6)]
    r = rank_index.find("明月", k=10, sort="popularity")
    assert [h.text for h in r.hits] == ["明月几时有", "海上生明月", "明月", "明月来相照", "床前明月光", "举头望明月"]
    r = rank_index.find(title="月", k=10)
    assert [h.title for h in r.hits] == ["月夜憶舍弟", "望月懷遠"]
    r = rank_index.find("明月", poems=True, k=10)
    assert [p.title for p in r.hits][:3] == ["句", "水調歌頭", "望月懷遠"] and r.total == 6


def test_rhythmic_filter(rank_index):
    r = rank_index.find("月", form="水调歌头", k=10)
    assert [h.text for h in r.hits] == ["明月几时有"] and r.total == 1
    r = rank_index.find(author="张先")
    assert [h.title for h in r.hits] == ["天仙子"] and r.total == 1
    # a title filter with a pattern: the hits' metadata is of a poem with that title
    r = rank_index.find("明月", title="静夜思", k=10)
    assert [h.text for h in r.hits] == ["床前明月光", "举头望明月"] and r.total == 2
    assert {h.title for h in r.hits} == {"靜夜思"}
    r = rank_index.find("明", title="望月", k=10)
    assert [(h.text, h.title) for h in r.hits] == [("海上生明月", "望月懷遠")]


# -- modes (tiny model, sample index) --------------------------------------------------------


def test_semantic_mode_is_the_plain_search(opened, reference, reference_matrix, texts_table):
    from test_index_query import assert_same_hits, brute_force

    for q in ["明月", "大梦谁先觉", "千里", texts_table[100]]:
        hits = opened.search(q, k=10, mode="semantic")
        ids, scores, sims = brute_force(reference.one(opened.queries.normalize(q)), reference_matrix, 10)
        assert_same_hits(hits, ids, scores, sims)
        assert [h.match for h in hits] == ["semantic"] * 10


def test_hybrid_puts_containing_lines_first(opened, reference, reference_matrix, texts_table):
    for q, k in [("明月", 10), ("明月", 60), (texts_table[100], 10), ("千里", 5), ("孤舟蓑笠翁", 10)]:
        hits = opened.search(q, k=k)
        n_lex = len(brute(texts_table, q))
        assert len(hits) == k
        lex = hits[:min(k, n_lex)]
        assert all(q in h.text for h in lex)
        assert [h.match for h in lex] == (["exact"] if q in texts_table else []) + ["contains"] * (len(lex) - (q in texts_table))
        assert len({h.id for h in hits}) == k  # no line twice
        tail = hits[len(lex):]
        assert all(h.match == "semantic" for h in tail)
        sem = [h.id for h in opened.search(q, k=k + n_lex, mode="semantic") if h.id not in {x.id for x in lex}]
        assert [h.id for h in tail] == sem[:len(tail)]
        # lexical hits carry their true cosine
        for h in lex:
            assert h.score == pytest.approx(float(reference_matrix[h.id] @ reference.one(q)), abs=1e-4)
    lexical = opened.search("明月", k=500, mode="lexical")
    assert sorted(h.id for h in lexical) == brute(texts_table, "明月")


def test_poems_mode_gives_k_distinct_poems(opened):
    for mode in ("hybrid", "semantic", "lexical"):
        res = opened.search("明月", k=5, poems=True, mode=mode)
        assert len(res) == 5 and len({p.poem_id for p in res}) == 5
        assert [p.rank for p in res] == [1, 2, 3, 4, 5]
        for p in res:
            assert p.lines and all(h.poem_id == p.poem_id for h in p.lines)
        if mode != "lexical":
            assert all(p.score == max(h.score for h in p.lines) for p in res)


def test_sort_popularity_and_echoes(opened):
    hits = opened.search("明月", k=10, sort="popularity", mode="semantic")
    assert {h.id for h in hits} == {h.id for h in opened.search("明月", k=10, mode="semantic")}
    line = opened.find("明月出天山").hits[0]
    echoes = opened.echoes(line.id, k=8)
    assert len(echoes) == 8
    authors_of_line = {r[0] for r in opened.store.conn.execute(
        "SELECT poems.author_norm FROM lines JOIN poems ON poems.id = lines.poem_id WHERE lines.text_id = ?", (line.id,))}
    for h in echoes:
        theirs = {r[0] for r in opened.store.conn.execute(
            "SELECT poems.author_norm FROM lines JOIN poems ON poems.id = lines.poem_id WHERE lines.text_id = ?", (h.id,))}
        assert not (theirs & authors_of_line)
    assert [h.score for h in echoes] == sorted((h.score for h in echoes), reverse=True)


def test_lexical_only_index_refuses_search_by_meaning(lexical_index):
    assert not lexical_index.has_vectors
    with pytest.raises(VectorsMissingError, match="rebuild it with a model"):
        lexical_index.search("明月")
    hits = lexical_index.search("明月", mode="lexical", k=3)
    assert len(hits) == 3 and all(h.score is None and "明月" in h.text for h in hits)


# -- CLI -------------------------------------------------------------------------------------


def test_cli_find_poem_and_errors(lexical_index, texts_table):
    ix = str(lexical_index.path)
    r = run_cli("find", "明月", "--index", ix, "-k", "3")
    with_mingyue = sum("明月" in t for t in texts_table)  # brute force over the distinct lines
    assert with_mingyue > 20
    assert r.returncode == 0 and r.stdout.startswith(f"明月: {with_mingyue} lines (showing 1-3)")
    r = run_cli("find", "?花*", "--index", ix, "--json", "-k", "2", "--offset", "1")
    data = json.loads(r.stdout)
    second_hua = sum(len(t) >= 2 and t[1] == "花" for t in texts_table)
    assert second_hua > 50
    assert data["total"] == second_hua and data["offset"] == 1 and len(data["hits"]) == 2
    assert all(h["text"][1] == "花" and h["match"] == "contains" for h in data["hits"])
    r = run_cli("find", "--title", "静夜思", "--index", ix)
    assert r.returncode == 0 and "李白" in r.stdout and "1 poem (" in r.stdout
    pid = data["hits"][0]["poem_id"]
    r = run_cli("poem", pid, "--index", ix)
    assert r.returncode == 0 and data["hits"][0]["context"].split("，")[0] in r.stdout
    for args in (["find", "", "--index", ix], ["find", "*", "--index", ix], ["find", "??", "--index", ix],
                 ["find", "明" * 100, "--index", ix], ["find", "明月", "--form", "十言绝句", "--index", ix]):
        r = run_cli(*args)
        assert r.returncode == 2, args
        assert "Traceback" not in r.stderr and r.stderr.strip().splitlines()[-1].startswith("Error: ")
    r = run_cli("query", "明月", "--index", ix)
    assert r.returncode == 1 and "--lexical-only" in r.stderr and "rebuild" in r.stderr
    r = run_cli("poem", "nope", "--index", ix)
    assert r.returncode == 1 and "no poem has id" in r.stderr


def test_cli_index_lexical_only_needs_no_model(tmp_path):
    r = run_cli("index", "--corpus", str(RANK_CORPUS), "--index", str(tmp_path / "ix"), "--lexical-only",
                "--model", "/no/such/model", env={"HF_HUB_OFFLINE": "1"})
    assert r.returncode == 0, r.stderr
    assert "vectors were NOT built" in r.stderr
    r = run_cli("find", "明月", "--index", str(tmp_path / "ix"), "--json")
    assert json.loads(r.stdout)["total"] == 6


def test_cli_query_modes_json(sample_index):
    r = run_cli("query", "明月", "--index", str(sample_index), "--json", "-k", "40", "--mode", "hybrid")
    hits = json.loads(r.stdout)["hits"]
    assert len(hits) == 40 and [h["match"] for h in hits] == ["contains"] * 31 + ["semantic"] * 9
    r = run_cli("query", "明月", "--index", str(sample_index), "--poems", "-k", "5", "--json")
    assert len({p["poem_id"] for p in json.loads(r.stdout)["hits"]}) == 5



def test_find_falls_back_to_a_swap_then_to_a_lost_character(lexical_index, all_texts):
    # on the sample's own lines: a 5-character line with two neighbours swapped, and a
    # 5-character line with one character lost; neither query is held by any line or paragraph
    keys = [match_key(t) for t in all_texts]
    held = lambda q: any(q in k for k in keys)  # noqa: E731
    fives = [t for t in all_texts if len(t) == 5 and len(set(t)) == 5]
    swap = next((t[1] + t[0] + t[2:], t) for t in fives if not held(t[1] + t[0] + t[2:])
                and lexical_index.lexical.near_index().near(match_key(t[1] + t[0] + t[2:])).size == 0
                and not lexical_index.lexical.across(t[1] + t[0] + t[2:], Filters())[0])
    q, line = swap
    got = lexical_index.find(q, k=50).hits
    assert len(got) >= 1 and all(h.match == "near" for h in got)
    assert line in [h.text for h in got]
    assert all(len(h.text) == 5 and sorted(h.text) == sorted(q) for h in got)
    lost = next((t[:2] + t[3:], t) for t in fives if not held(t[:2] + t[3:])
                and not lexical_index.lexical.across(t[:2] + t[3:], Filters())[0])
    q, line = lost
    got = lexical_index.find(q, k=50).hits
    want = [t for t in all_texts if len(t) == 5 and any(match_key(t)[:j] + match_key(t)[j + 1:] == match_key(q) for j in range(5))]
    assert len(got) == len(want) >= 1 and line in want
    assert sorted(h.text for h in got) == sorted(want) and all(h.match == "near" for h in got)
    # four characters with one replaced: another line, not an edition of it (no near match)
    other = q[:1] + ("雪" if q[1] != "雪" else "霜") + q[2:]
    assert not held(other) and all(h.match != "near" for h in lexical_index.find(other, k=50).hits)
