"""The CLI face of 平仄 and 韵: `find --tones/--rhyme/--rhymes-with`, `rhyme`, `check`, run as a user
runs them (``run_cli``) and checked against brute-force scans of what the sample index stores,
read with sqlite3 directly."""

from __future__ import annotations

import json
import re

import pytest
from conftest import run_cli
from prosody_oracle import db as _db
from prosody_oracle import stored_lines, tones_regex


@pytest.fixture(scope="module")
def stored(lexical_sample_index) -> list[tuple[int, str, str, list[str]]]:
    """(text id, text, stored tones, stored rhyme groups) of every distinct line, by id."""
    return stored_lines(lexical_sample_index)


def _by_author(index, author: str) -> set[int]:
    with _db(index) as conn:
        return {r[0] for r in conn.execute(
            "SELECT DISTINCT lines.text_id FROM lines JOIN poems ON poems.id = lines.poem_id WHERE poems.author_norm = ?",
            (author,))}


def _poems_of(index, ids: set[int]) -> set[str]:
    with _db(index) as conn:
        return {r[0] for r in conn.execute("SELECT DISTINCT poem_id FROM lines WHERE text_id IN (%s)"
                                           % ",".join(map(str, sorted(ids))))}


def _find(index, *args) -> dict:
    r = run_cli("find", *args, "--index", str(index), "--json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def _one_line_error(r, *words) -> None:
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert "Traceback" not in r.stderr + r.stdout
    errors = [line for line in r.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, r.stderr
    for w in words:
        assert w in errors[0], (w, errors[0])


# -- find --tones / --rhyme / --rhymes-with ---------------------------------------------------------


@pytest.mark.parametrize("pattern", ["平平仄仄平", "?平??平", "*仄平", "平*仄*平", "中中中中中中中"])
def test_find_tones_equals_a_scan_of_the_stored_tones(lexical_sample_index, stored, pattern):
    rx = tones_regex(pattern)
    want = [i for i, _, tones, _ in stored if rx.fullmatch(tones)]
    assert len(want) > 0
    got = _find(lexical_sample_index, "--tones", pattern, "-k", str(len(want) + 5))
    assert got["tones"] == pattern and got["total"] == len(want)
    assert len(got["hits"]) == len(want)
    assert sorted(h["id"] for h in got["hits"]) == want
    assert all(rx.fullmatch(h["tones"]) and h["match"] == "tones" for h in got["hits"])


def test_find_rhyme_and_rhymes_with_equal_a_scan_of_the_stored_groups(lexical_sample_index, stored):
    want = [i for i, _, _, groups in stored if "七阳" in groups]
    assert len(want) > 20
    for args in (["--rhyme", "七阳"], ["--rhyme", "下平七陽"], ["--rhymes-with", "香"], ["--rhymes-with", "霜"]):
        got = _find(lexical_sample_index, *args, "-k", "1000")
        assert got["total"] == len(want) and len(got["hits"]) == len(want), args
        assert sorted(h["id"] for h in got["hits"]) == want, args
    # 看 reads 平 (十四寒) and 仄 (十五翰): a line ending in either group rhymes with it
    want = [i for i, _, _, groups in stored if {"十四寒", "十五翰"} & set(groups)]
    got = _find(lexical_sample_index, "--rhymes-with", "看", "-k", "1000")
    assert got["total"] == len(want) > 20 and sorted(h["id"] for h in got["hits"]) == want


def test_find_pattern_tones_rhyme_and_author_together(lexical_sample_index, stored):
    li_bai = _by_author(lexical_sample_index, "李白")
    assert len(li_bai) > 100
    rx = tones_regex("?平*")
    want = sorted(i for i, text, tones, groups in stored
                  if i in li_bai and "风" in text and rx.fullmatch(tones) and "七阳" in groups)
    got = _find(lexical_sample_index, "*风*", "--tones", "?平*", "--rhymes-with", "香", "--author", "李白", "-k", "100")
    assert got["total"] == len(want) >= 2
    assert sorted(h["id"] for h in got["hits"]) == want
    # paging: two pages of one make the whole list, in the same order as one page of two
    both = _find(lexical_sample_index, "*风*", "--tones", "?平*", "--rhymes-with", "香", "--author", "李白", "-k", "2")
    second = _find(lexical_sample_index, "*风*", "--tones", "?平*", "--rhymes-with", "香", "--author", "李白",
                   "-k", "1", "--offset", "1")
    assert len(both["hits"]) == 2 and len(second["hits"]) == 1 and second["total"] == len(want)
    assert second["hits"][0]["id"] == both["hits"][1]["id"]
    # without the pattern: every 李白 line of that shape and rhyme
    want = sorted(i for i, _, tones, groups in stored if i in li_bai and rx.fullmatch(tones) and "七阳" in groups)
    got = _find(lexical_sample_index, "--tones", "?平*", "--rhyme", "七阳", "--author", "李白", "-k", "1000")
    assert got["total"] == len(want) > 5 and sorted(h["id"] for h in got["hits"]) == want


def test_find_tones_by_poem(lexical_sample_index, stored):
    want = {i for i, _, tones, groups in stored if tones_regex("平平仄仄平").fullmatch(tones) and "七阳" in groups}
    poems = _poems_of(lexical_sample_index, want)
    assert len(poems) > 5
    got = _find(lexical_sample_index, "--tones", "平平仄仄平", "--rhyme", "七阳", "--poems", "-k", "1000")
    assert got["total"] == len(poems) and len(got["hits"]) == len(poems)
    assert {p["poem_id"] for p in got["hits"]} == poems
    lines = [line for p in got["hits"] for line in p["lines"]]
    assert len(lines) >= len(want) and {line["id"] for line in lines} == want


def test_find_table_shows_tones_and_rhyme(lexical_sample_index, stored):
    want = [(i, text, tones) for i, text, tones, groups in stored if tones_regex("?平??平").fullmatch(tones) and "七阳" in groups]
    r = run_cli("find", "--tones", "?平??平", "--rhymes-with", "香", "-k", "3", "--index", str(lexical_sample_index))
    assert r.returncode == 0, r.stderr
    out = r.stdout.splitlines()
    assert out[0] == f"--tones ?平??平 --rhymes-with 香: {len(want):,} lines (showing 1-3)"
    assert re.split(r"\s+", out[1].strip())[:6] == ["#", "score", "match", "line", "tones", "rhyme"]
    rows = [line for line in out[3:] if re.match(r"\d+ ", line)]
    assert len(rows) == 3
    shown = {tones for _, _, tones in want}
    assert all(re.split(r"\s+", row)[4] in shown and "七阳" in row for row in rows)
    # a plain find keeps its columns
    r = run_cli("find", "明月", "-k", "2", "--index", str(lexical_sample_index))
    assert r.returncode == 0 and "tones" not in r.stdout.splitlines()[1]


@pytest.mark.parametrize("args, words", [
    (["--tones", "平平x仄平"], ["holds x"]),
    (["--tones", "???**"], ["no 平, 仄 or 中"]),
    (["--tones", " "], ["empty"]),
    (["--rhyme", "七羊"], ["七羊", "七阳"]),
    (["--rhymes-with", "霜天"], ["one character"]),
    (["--rhymes-with", "a"], ["Chinese character"]),
    (["--rhymes-with", "𪚥"], ["not in the 平水韵 table"]),
    (["明月", "--tones", "平平"], []),
])
def test_find_bad_prosody_values_are_one_line(lexical_sample_index, args, words):
    r = run_cli("find", *args, "--index", str(lexical_sample_index))
    if not words:  # a valid search with nothing to show is a result
        assert r.returncode == 0 and "0 lines" in r.stdout, r.stderr
        return
    _one_line_error(r, *words)


# -- rhyme -----------------------------------------------------------------------------------------


def test_rhyme_counts_equal_a_count_over_the_corpus_files(lexical_sample_index):
    from test_tones import _corpus_finals

    from poetry_search.prosody import rhymes

    finals = _corpus_finals()  # read from data/sample's JSON, not from the index
    assert sum(finals.values()) > 10_000
    r = run_cli("rhyme", "霜", "--limit", "0", "--json", "--index", str(lexical_sample_index))
    assert r.returncode == 0, r.stderr
    book = json.loads(r.stdout)
    assert book["char"] == "霜" and len(book["groups"]) == 1
    g = book["groups"][0]
    assert (g["name"], g["full_name"], g["tone"]) == ("七阳", "下平七阳", "平")
    members = rhymes.group_members("七阳")
    assert len(g["characters"]) == len(members) > 100
    assert {c["char"] for c in g["characters"]} == set(members)
    for c in g["characters"]:
        assert c["lines"] == finals[c["char"]], c
    counts = [c["lines"] for c in g["characters"]]
    assert counts == sorted(counts, reverse=True) and counts[0] > 10
    # the table: the heading, then the most used first, with their counts
    r = run_cli("rhyme", "霜", "--limit", "8", "--index", str(lexical_sample_index))
    assert r.returncode == 0, r.stderr
    out = r.stdout.splitlines()
    assert out[0] == "霜: 下平七阳（平声）"
    assert out[2].startswith(f"下平七阳（平声）: {len(members)} characters, most used first")
    top = sorted(members, key=lambda c: -finals[c])[:8]
    cells = re.findall(r"(\S) (\d[\d,]*)", out[3])
    assert len(cells) == 8 and len(out) == 4
    assert [int(n.replace(",", "")) for _, n in cells] == [finals[c] for c in top]
    assert {c for c, _ in cells} <= set(members)


def test_rhyme_of_a_character_of_two_groups(lexical_sample_index):
    r = run_cli("rhyme", "看", "--limit", "5", "--json", "--index", str(lexical_sample_index))
    assert r.returncode == 0, r.stderr
    book = json.loads(r.stdout)
    assert [(g["full_name"], g["tone"]) for g in book["groups"]] == [("上平十四寒", "平"), ("去声十五翰", "仄")]
    assert [len(g["characters"]) for g in book["groups"]] == [5, 5]
    r = run_cli("rhyme", "看", "--limit", "5", "--index", str(lexical_sample_index))
    assert r.stdout.splitlines()[0] == "看: 上平十四寒（平声）、去声十五翰（仄声）"
    assert r.stdout.count("most used first") == 2


@pytest.mark.parametrize("char, words", [
    ("", ["got nothing"]),
    ("霜天", ["one character", "霜天"]),
    ("a", ["Chinese character"]),
    ("，", ["Chinese character"]),
    ("𪚥", ["not in the 平水韵 table"]),
])
def test_rhyme_bad_character_is_one_line(lexical_sample_index, char, words):
    _one_line_error(run_cli("rhyme", char, "--index", str(lexical_sample_index)), *words)


def test_rhyme_bad_limit_is_one_line(lexical_sample_index):
    _one_line_error(run_cli("rhyme", "霜", "--limit", "-1", "--index", str(lexical_sample_index)), "limit")


# -- check -----------------------------------------------------------------------------------------

SHANJU = "空山新雨后，天气晚来秋。明月松间照，清泉石上流。竹喧归浣女，莲动下渔舟。随意春芳歇，王孙自可留。"
DENGGAO = ("風急天高猿嘯哀，渚清沙白鳥飛迴。無邊落木蕭蕭下，不盡長江滾滾來。"
           "萬里悲秋常作客，百年多病獨登臺。艱難苦恨繁霜鬢，潦倒新停濁酒杯。")
CHUNXIAO = "春眠不觉晓，处处闻啼鸟。夜来风雨声，花落知多少。"
DENG_GUANQUE = ["白日依山尽", "黄河入海流", "欲穷千里目", "更上一层楼"]


def _rows(out: str) -> list[list[str]]:
    """The rows of check's line table: #, line, tones, pattern, then one mark a character."""
    return [re.split(r"\s+", line.strip()) for line in out.splitlines() if re.match(r"[1-8]  \S", line)]


def _check(*args, input=None) -> dict:
    r = run_cli("check", *args, "--json", input=input)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


@pytest.mark.parametrize("text, form, pattern, rhyme", [
    (SHANJU, "五律", "平起首句不入韵", "下平十一尤"),
    (DENGGAO, "七律", "仄起首句入韵", "上平十灰"),
])
def test_check_famous_poems_are_helv(text, form, pattern, rhyme):
    n, width = {"五律": (8, 5), "七律": (8, 7)}[form]
    v = _check(text)
    assert (v["verdict"], v["ok"], v["form"], v["pattern"]) == ("合律", True, form, pattern)
    assert rhyme.endswith(v["rhyme"]) and v["faults"] == []
    assert len(v["lines"]) == len(v["marks"]) == len(v["tones"]) == n
    assert all(len(m) == width and set(m) == {"合"} for m in v["marks"])
    r = run_cli("check", text)
    assert r.returncode == 0, r.stderr
    out = r.stdout.splitlines()
    assert out[0] == f"{form} · {pattern} · 韵 {rhyme}"
    rows = _rows(r.stdout)
    assert len(rows) == n
    for i, row in enumerate(rows):
        assert row[:4] == [str(i + 1), v["lines"][i], v["tones"][i], v["expected"][i]]
        assert len(row[4:]) == width and set(row[4:]) <= {"○", "◐"}
        # ◐ exactly where the tone differs from the pattern, and only at 一三五 (0, 2, 4 in 七言)
        chosen = {(x["line"], x["position"]): x["tone"] for x in v["readings"]}
        for p, mark in enumerate(row[4:]):
            tone = chosen.get((i, p), v["tones"][i][p])
            assert (mark == "◐") == (tone not in (v["expected"][i][p], "中")), (i, p)
            assert mark == "○" or p in (0, 2, 4)
    assert "verdict: 合律" in out and f"rhyme: {rhyme} " in r.stdout
    assert any(line.startswith("marks: ○ 合") for line in out)


def test_check_marks_a_free_position_of_the_other_tone():
    # 白日入山尽: 入 仄 at the 3rd of 仄仄平平仄, which 一三五不论 allows; 欲 仄 at the 1st of 平平平仄仄
    text = "白日入山尽，黄河入海流。欲穷千里目，更上一层楼。"
    assert _check(text)["verdict"] == "合律"
    r = run_cli("check", text)
    rows = _rows(r.stdout)
    assert r.returncode == 0 and len(rows) == 4
    assert [row[4:] for row in rows] == [["○", "○", "◐", "○", "○"], ["○"] * 5, ["◐", "○", "○", "○", "○"], ["○"] * 5]


@pytest.mark.parametrize("changes, fault", [
    ({1: "大河入海流"}, (1, 0, "孤平")),
    ({3: "更上一层台"}, (3, 4, "出韵")),
    ({3: "登高望远楼"}, (3, 1, "失对")),
])
def test_check_a_copy_broken_in_one_rule(changes, fault):
    lines = [changes.get(i, s) for i, s in enumerate(DENG_GUANQUE)]
    text = "，".join(lines) + "。"
    v = _check(text)
    assert v["verdict"] == "不合"
    assert [(f["line"], f["position"], f["rule"]) for f in v["faults"]] == [fault]
    r = run_cli("check", text)
    assert r.returncode == 0, r.stderr
    rows = _rows(r.stdout)
    assert len(rows) == 4
    line, position, rule = fault
    assert rows[line][4 + position] == "✗"
    assert sum(row[4:].count("✗") for row in rows) == sum(m.count("不合") for m in v["marks"]) >= 1
    assert "verdict: 不合" in r.stdout
    faults = [re.split(r"\s+", s.strip()) for s in r.stdout.splitlines() if re.match(r"1 {6}\d", s)]
    assert len(faults) == 1
    assert faults[0][:5] == ["1", str(line + 1), str(position + 1), lines[line][position], rule]


def test_check_names_the_aojiu():
    v = _check("白日依水尽，黄河东入流。欲穷千里目，更上一层楼。")
    assert v["verdict"] == "合律（拗救）" and v["faults"] == []
    r = run_cli("check", "白日依水尽，黄河东入流。欲穷千里目，更上一层楼。")
    assert "verdict: 合律（拗救）: 对句相救" in r.stdout
    rows = _rows(r.stdout)
    assert rows[0][4:] == ["○", "○", "○", "△", "○"]


def test_check_chunxiao_is_not_jinti_and_stdin_reads_the_same():
    v = _check(CHUNXIAO)
    assert v["verdict"] == "非近体" and v["reason"].startswith("仄韵") and v["faults"] == []
    from poetry_search import check  # the library call, no index

    assert check(CHUNXIAO).as_dict() == v
    assert _check("-", input="春眠不觉晓，处处闻啼鸟。\n夜来风雨声，花落知多少。\n") == v
    r = run_cli("check", CHUNXIAO)
    assert r.returncode == 0 and "verdict: 非近体 (仄韵" in r.stdout and "✗" not in r.stdout
    assert _check("-", input="\n".join(DENG_GUANQUE) + "\n")["verdict"] == "合律"


def test_check_a_sample_poem_by_id(lexical_sample_index):
    with _db(lexical_sample_index) as conn:
        found = conn.execute("SELECT id, paragraphs FROM poems WHERE title = '登鸛雀樓'").fetchall()
    assert len(found) == 1
    poem_id, paragraphs = found[0]
    v = _check("--poem", poem_id, "--index", str(lexical_sample_index))
    assert v["verdict"] == "合律" and v["form"] == "五绝" and len(v["lines"]) == 4
    assert "".join(v["lines"]) == re.sub(r"[，。\s]", "", "".join(json.loads(paragraphs)))
    r = run_cli("check", "--poem", poem_id, "--index", str(lexical_sample_index))
    assert r.returncode == 0 and r.stdout.startswith("五绝 · 仄起首句不入韵 · 韵 下平十一尤")
    r = run_cli("check", "--poem", "no-such-poem", "--index", str(lexical_sample_index))
    assert r.returncode == 1 and "Traceback" not in r.stderr and "no poem has id" in r.stderr


@pytest.mark.parametrize("args, words", [
    ([""], ["empty"]),
    (["，。！"], ["no Chinese characters"]),
    (["白日依山尽，黄河入海流。欲穷千里目，更上一层𪚥。"], ["not in the 平水韵 table", "𪚥"]),
    ([], ["TEXT", "--poem"]),
    (["白日依山尽", "--poem", "x"], ["not both"]),
    (["白" * 500], ["limit"]),
])
def test_check_bad_input_is_one_line(args, words):
    _one_line_error(run_cli("check", *args), *words)


def test_check_bad_stdin_is_one_line():
    import subprocess
    import sys

    from conftest import ROOT

    r = subprocess.run([sys.executable, "-m", "poetry_search", "check", "-"], input=b"\xff\xfe\x00", capture_output=True,
                       cwd=ROOT)
    r.stderr, r.stdout = r.stderr.decode(), r.stdout.decode()
    _one_line_error(r, "stdin", "utf-8")


def test_filters_over_many_candidates_equal_the_sql_check(lexical_sample_index, stored):
    """The mask a filter's texts make (large candidate sets) and the SQL check of each candidate
    (small ones) agree, and both equal a scan of the lines' poems."""
    from poetry_search import Index
    from poetry_search.search import lexical

    idx = Index.open(lexical_sample_index)
    ids = idx.prosody.match(tones="*平")
    assert ids.size > lexical.MASK_MIN_CANDIDATES
    with _db(lexical_sample_index) as conn:
        for args in ({"dynasty": "唐"}, {"dynasty": "宋"}, {"author": "李白"}, {"collection": "唐诗三百首", "dynasty": "唐"}):
            where = " AND ".join(f"poems.{'book' if k == 'collection' else 'author_canon' if k == 'author' else k} = ?"
                                 for k in args)
            allowed = {r[0] for r in conn.execute(f"SELECT DISTINCT lines.text_id FROM lines JOIN poems ON poems.id = "
                                                  f"lines.poem_id WHERE {where}", list(args.values()))}
            want = sorted(set(ids.tolist()) & allowed)
            filters = idx.filters(**args)
            by_sql = idx.store.filter_texts(ids, **filters.store_args())
            got = idx.lexical.filtered(ids, filters)
            assert len(got) == len(want) == len(by_sql) > 0, args
            assert got.tolist() == want == sorted(by_sql), args
            assert tuple(sorted(filters.store_args().items())) in idx.lexical._masks, args  # the mask was used
            assert idx.find(tones="*平", k=5, **args).total == len(want)
