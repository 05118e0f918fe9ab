"""The CLI face of 平仄 and 韵: `find --tones/--rhyme/--rhymes-with`, `rhyme`, `check`, run as a user
runs them (``run_cli``) and checked against brute-force scans of what the sample index stores,
read with sqlite3 directly."""

from __future__ import annotations

import json
import re
import sqlite3

import pytest
from conftest import run_cli


def _db(index) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{index / 'poetry.db'}?mode=ro", uri=True)


@pytest.fixture(scope="module")
def stored(lexical_sample_index) -> list[tuple[int, str, str, list[str]]]:
    """(text id, text, stored tones, stored rhyme groups) of every distinct line, by id."""
    with _db(lexical_sample_index) as conn:
        rows = conn.execute("SELECT texts.id, texts.text, prosody.tones, prosody.rhyme FROM texts "
                            "JOIN prosody ON prosody.text_id = texts.id ORDER BY texts.id").fetchall()
        (n,) = conn.execute("SELECT count(*) FROM texts").fetchone()
    assert len(rows) == n > 10_000
    return [(i, t, tones, rhyme.split()) for i, t, tones, rhyme in rows]


def _rx(pattern: str) -> re.Pattern:
    """A tones pattern as a regular expression over stored tone strings, written independently."""
    table = {"平": "[平中]", "仄": "[仄中]", "中": "[平仄中]", "?": ".", "*": ".*"}
    return re.compile("".join(table[c] for c in pattern))


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
    rx = _rx(pattern)
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
    rx = _rx("?平*")
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
    want = {i for i, _, tones, groups in stored if _rx("平平仄仄平").fullmatch(tones) and "七阳" in groups}
    poems = _poems_of(lexical_sample_index, want)
    assert len(poems) > 5
    got = _find(lexical_sample_index, "--tones", "平平仄仄平", "--rhyme", "七阳", "--poems", "-k", "1000")
    assert got["total"] == len(poems) and len(got["hits"]) == len(poems)
    assert {p["poem_id"] for p in got["hits"]} == poems
    lines = [line for p in got["hits"] for line in p["lines"]]
    assert len(lines) >= len(want) and {line["id"] for line in lines} == want


def test_find_table_shows_tones_and_rhyme(lexical_sample_index, stored):
    want = [(i, text, tones) for i, text, tones, groups in stored if _rx("?平??平").fullmatch(tones) and "七阳" in groups]
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
    (["--rhymes-with", "a"], ["not in the 平水韵 table"]),
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
