"""Attribution wired into the library (issue 21): an index built from the corpus's real records of
the named lines (tests/data/attribution), searched as users search it. The oracles are the corpus
files read again (CorpusReader, poem by poem) and plain scans, not the index's own tables."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import ROOT

from poetry_search import Index, build_index
from poetry_search.build.fame import CURATED_BOOKS
from poetry_search.corpus.authors import canonical_author
from poetry_search.corpus.normalize import fold
from poetry_search.corpus.reader import CorpusReader, poem_lines
from poetry_search.corpus.variants import match_key

FIXTURE = ROOT / "tests" / "data" / "attribution"


@pytest.fixture(scope="module")
def index(tmp_path_factory, tiny_model) -> Index:
    path = tmp_path_factory.mktemp("attribution") / "index"
    build_index(FIXTURE, path, model=tiny_model, precision="fp32")
    return Index.open(path)


@pytest.fixture(scope="module")
def corpus():
    """Every poem of the fixture with its normalised lines and paragraphs, from the files."""
    reader = CorpusReader(FIXTURE)
    norm = reader.normalizer()
    out = []
    for p in reader.poems():
        lines = poem_lines(p, norm)
        paragraphs = ["".join(ln.text for ln in lines if ln.paragraph == par) for par in sorted({ln.paragraph for ln in lines})]
        out.append((p, [ln.text for ln in lines], paragraphs))
    return out


def poet(hit) -> str:
    return canonical_author(hit.author)


@pytest.mark.parametrize("line, who", [("二月春风似剪刀", "贺知章"), ("更上一层楼", "王之涣"), ("对酒当歌", "曹操"),
                                       ("处处闻啼鸟", "孟浩然"), ("白日依山尽", "王之涣")])
def test_a_line_hit_names_the_poem_a_reader_cites(index, corpus, line, who):
    holders = {canonical_author(p.author) for p, lines, _ in corpus if line in lines}
    assert len(holders) >= 2 and who in holders  # the line is shared: the rule has a choice to make
    r = index.find(line, k=5)
    assert r.hits[0].text == line and r.hits[0].match == "exact" and poet(r.hits[0]) == who
    hits = index.search(line, k=3)
    assert len(hits) == 3 and hits[0].match == "exact" and poet(hits[0]) == who
    # the hit's popularity is its own poem's fame, the poem it names
    pop = {p["id"]: p["popularity"] for p in [index.poem(hits[0].poem_id)]}
    assert hits[0].popularity == pytest.approx(pop[hits[0].poem_id], abs=1e-6)


def test_other_poems_counts_the_poems_that_hold_the_line(index, corpus):
    for line in ("更上一层楼", "对酒当歌", "便胜却人间无数"):
        holders = {p.id for p, lines, _ in corpus if line in lines}
        h = index.find(line, k=1).hits[0]
        assert len(holders) >= 1 and h.occurrences == len(holders) and h.other_poems == len(holders) - 1
        assert h.to_dict()["other_poems"] == len(holders) - 1


def test_a_filter_names_the_most_citable_poem_that_passes_it(index, corpus):
    song = {p.id for p, lines, _ in corpus if "更上一层楼" in lines and fold(p.dynasty) == "宋"}
    assert len(song) >= 2
    h = index.find("更上一层楼", dynasty="宋", k=1).hits[0]
    assert h.poem_id in song and poet(h) != "王之涣"
    # the attributed poem passes a Tang filter, so it is named (朱斌's copy comes first in reading order)
    tang = [p for p, lines, _ in corpus if "更上一层楼" in lines and fold(p.dynasty) == "唐"]
    assert canonical_author(tang[0].author) == "朱斌" and len(tang) >= 3
    unfiltered = index.find("更上一层楼", k=1).hits[0]
    assert index.find("更上一层楼", dynasty="唐", k=1).hits[0].poem_id == unfiltered.poem_id
    assert poet(index.find("更上一层楼", author="朱斌", k=1).hits[0]) == "朱斌"


def test_a_line_with_a_dunhao_inside_is_one_line(index):
    r = index.find("便胜却人间无数", k=5)
    assert r.total == 1 and r.hits[0].match == "exact" and poet(r.hits[0]) == "秦观"


@pytest.mark.parametrize("how", ["find", "query"])
def test_poems_lists_every_poem_that_holds_the_line(index, corpus, how):
    line = "白日依山尽"
    holders = {p.id for p, lines, _ in corpus if line in lines}
    assert len(holders) >= 5
    if how == "find":
        got = index.find(line, poems=True, k=50).hits
    else:
        got = index.search(line, k=50, mode="lexical", poems=True)
    assert len(got) == len(holders) and {p.poem_id for p in got} == holders
    assert canonical_author(got[0].author) == "王之涣"
    assert all(p.lines[0].text == line and p.lines[0].poem_id == p.poem_id for p in got)
    # hybrid too: 王之涣 first, 朱斌's copy listed, not instead
    hy = index.search(line, k=5, poems=True)
    assert len(hy) == 5 and canonical_author(hy[0].author) == "王之涣"


def test_a_couplet_without_its_comma_is_found_as_a_paragraph(index, corpus):
    q = "独上高楼望尽天涯路"
    assert not any(q in ln for _, lines, _ in corpus for ln in lines)
    holders = {p.id for p, _, pars in corpus if any(match_key(q) in match_key(par) for par in pars)}
    assert len(holders) >= 1
    r = index.find(q, k=10)
    assert r.total >= 1 and len(r.hits) == r.total
    assert all(h.match == "paragraph" and h.poem_id in holders for h in r.hits)
    assert {h.poem_id for h in r.hits} <= holders and "晏殊" in {poet(h) for h in index.find(q, poems=True, k=10).hits}
    hits = index.search(q, k=5)
    assert len(hits) == 5 and hits[0].match == "paragraph" and hits[0].poem_id in holders
    assert hits[0].text == "独上高楼"
    assert [h.match for h in hits[1:]] == ["semantic"] * 4


def test_a_variant_form_is_found(index, corpus):
    r = index.find("守着窗儿", k=5)
    assert r.total == 1 and r.hits[0].text == "守著窗儿" and poet(r.hits[0]) == "李清照"
    assert r.hits[0].match == "exact"
    hits = index.search("守着窗儿", k=3)
    assert hits[0].text == "守著窗儿" and hits[0].match == "exact"


def test_a_line_one_character_off_is_offered_as_near(index):
    q = "远近高低各不同"
    r = index.find(q, k=5)
    assert r.total == 1 and r.hits[0].text == "远近高低总不同" and r.hits[0].match == "near" and poet(r.hits[0]) == "苏轼"
    hits = index.search(q, k=4)
    assert len(hits) == 4 and (hits[0].text, hits[0].match) == ("远近高低总不同", "near")
    assert [h.match for h in hits[1:]] == ["semantic"] * 3
    # four characters: no near matches (too short to be another edition of one line)
    assert index.find("远近高各", k=5).total == 0


def test_an_alias_filter_finds_the_poets_other_name(index, corpus):
    mine = {p.id for p, _, _ in corpus if canonical_author(p.author) == "李煜"}
    written = {fold(p.author) for p, _, _ in corpus if p.id in mine}
    assert written == {"后主煜"} and len(mine) >= 2  # the fixture has 全唐诗's name for him only
    r = index.find(author="李煜", k=100)
    assert r.total == len(mine) and {p.poem_id for p in r.hits} == mine
    r2 = index.find(author="後主煜", k=100)
    assert r2.total == len(mine)
    hits = index.search("春花秋月何时了", k=3, author="李煜", mode="lexical")
    assert len(hits) == 1 and hits[0].poem_id in mine


def test_semantic_mode_is_the_plain_nearest_neighbour_search(index):
    for q in ("远近高低各不同", "独上高楼望尽天涯路", "白日依山尽"):
        hits = index.search(q, k=5, mode="semantic")
        scores, ids = index.vectors.search(index.embed([q]), 5)
        assert len(hits) == 5 and [h.id for h in hits] == ids[0].tolist()
        assert [h.match for h in hits] == ["semantic"] * 5
        np.testing.assert_allclose([h.score for h in hits], scores[0], rtol=1e-6)


def test_keyed_matching_equals_a_scan(index):
    texts = [t for (t,) in index.store.conn.execute("SELECT text FROM texts ORDER BY id")]
    for q in ("春风", "守着", "著", "一层楼", "人间"):
        want = {i for i, t in enumerate(texts) if match_key(q) in match_key(t)}
        r = index.find(q, k=100)
        assert r.total == len(want) and {h.id for h in r.hits} == want


def test_eval_attribution_on_the_fixture(index, corpus):
    from poetry_search.evaluate.tasks import evaluate

    lines: dict[str, set[str]] = {}
    books: dict[str, set[str]] = {}
    for p, ls, _ in corpus:
        if fold(p.book) in CURATED_BOOKS and canonical_author(p.author) not in ("", "无名氏", "佚名", "不详", "失名"):
            for ln in ls:
                lines.setdefault(ln, set()).add(canonical_author(p.author))
                books.setdefault(ln, set()).add(fold(p.book))
    t = evaluate(index, tasks=["attribution"]).tasks[0]
    got = t.details["lines"]
    assert t.task == "attribution" and t.n == len(lines) == got["n"] and len(lines) >= 20
    assert got["found"] + len(got["misses"]) == len(lines) and set(got["misses"]) <= set(lines)
    assert t.model["found"] == pytest.approx(got["found"] / len(lines))
    assert t.model["poet_right"] == pytest.approx(got["right"] / got["found"]) and t.model["poet_right"] >= 0.9
    assert len(got["wrong"]) == got["found"] - got["right"]
    for w in got["wrong"]:
        assert w["named"] not in lines[w["text"]]
    assert 0 < t.model["couplets_found"] <= 1 and t.details["couplets"]["n"] >= 5
    # misses of poems no other edition holds: no line of the curated poem is a line of a poem
    # outside the curated editions (by the variant key, counted from the fixture's own poems)
    outside = {match_key(ln) for p, ls, _ in corpus if fold(p.book) not in CURATED_BOOKS for ln in ls}
    curated_poems = [ls for p, ls, _ in corpus if fold(p.book) in CURATED_BOOKS]
    want_absent = [m for m in got["misses"]
                   if not any(match_key(ln) in outside for ls in curated_poems if m in ls for ln in ls)]
    assert got["misses_poem_absent"] == want_absent
    assert t.model["found_where_held"] == pytest.approx(got["found"] / (len(lines) - len(want_absent)))
    # poet right by edition, counted again from the fixture's own poems
    wrong, missed = {w["text"] for w in got["wrong"]}, set(got["misses"])
    want_by_book = {}
    for book in CURATED_BOOKS:
        found = [ln for ln, bs in books.items() if book in bs and ln not in missed]
        if found:
            want_by_book[book] = {"right": sum(ln not in wrong for ln in found), "found": len(found)}
    assert len(got["by_book"]) == len(want_by_book) >= 2 and got["by_book"] == want_by_book
    assert "poet right by edition" in t.note


def test_exclude_author_folds_aliases(index, corpus):
    """``--exclude author`` counts a poet's other names as the same author: the owners it reads
    name 后主煜's lines 李煜, as the alias table does."""
    want = {p.id: canonical_author(p.author) for p, _, _ in corpus}
    rowid_to_id = dict(index.store.conn.execute("SELECT rowid, id FROM poems"))
    rows = [r for chunk in index.store.line_owners() for r in chunk]
    assert len(rows) == index.store.conn.execute("SELECT count(*) FROM lines").fetchone()[0] > 0
    got = {rowid_to_id[rowid]: author for _, rowid, author in rows}
    assert len(got) == len(want) and got == want
    assert {got[i] for i, a in want.items() if a == "李煜"} == {"李煜"}


def test_eval_tells_the_misses_of_poems_no_other_edition_holds(tmp_path, corpus):
    """Two curated poems added to the fixture: one no other collection holds (its lines are
    missed and counted apart), one whose first line another collection holds and whose second
    is garbled (a miss that counts)."""
    import json
    import shutil

    from poetry_search.evaluate.tasks import evaluate

    root = tmp_path / "corpus"
    shutil.copytree(FIXTURE, root)
    held_line = next(ln for p, ls, _ in corpus if fold(p.book) not in CURATED_BOOKS for ln in ls if len(ln) == 7)
    path = root / "quantangshi" / "唐诗三百首.json"
    records = json.loads(path.read_text("utf-8"))
    records += [{"author": "李白", "title": "無此詩", "paragraphs": ["甲乙丙丁戊己庚，辛壬癸子丑寅卯。"], "id": "absent-1"},
                {"author": "杜甫", "title": "半有", "paragraphs": [f"{held_line}，鬱鬱鬱鬱鬱鬱鬱。"], "id": "half-1"}]
    path.write_text(json.dumps(records, ensure_ascii=False), "utf-8")
    build_index(root, tmp_path / "index", lexical_only=True)
    t = evaluate(Index.open(tmp_path / "index"), tasks=["attribution"]).tasks[0]
    got = t.details["lines"]
    assert sorted(got["misses"]) == sorted(["甲乙丙丁戊己庚", "辛壬癸子丑寅卯", "郁郁郁郁郁郁郁"])
    assert sorted(got["misses_poem_absent"]) == sorted(["甲乙丙丁戊己庚", "辛壬癸子丑寅卯"])
    assert t.model["found"] == pytest.approx(got["found"] / got["n"]) and got["found"] == got["n"] - 3
    assert t.model["found_where_held"] == pytest.approx(got["found"] / (got["n"] - 2))
    assert "3 missed (2 of poems that no other edition holds)" in t.note
