"""Tones and rhymes in the index (build/prosody.py, search/prosody.py): what the build stores, find
by tones and rhyme against brute-force scans, the rhyme book against a count over the corpus,
the 格律 check of a corpus poem."""

from __future__ import annotations

import re
from collections import Counter

import numpy as np
import pytest
from conftest import SAMPLE

from poetry_search.errors import UsageProblem
from poetry_search.prosody import meter, rhymes

PATTERNS = ["平平仄仄平", "?平??平", "*仄平", "平*仄*平", "中中中中中中中", "仄?平*", "*平平平", "平*", "*仄仄*平平*"]


def _stored(opened) -> list[tuple[int, str, str, str, str]]:
    """(text id, text, first occurrence's original, stored tones, stored rhyme) of every text."""
    rows = opened.store.conn.execute(
        "SELECT texts.id, texts.text, lines.original, prosody.tones, prosody.rhyme FROM texts "
        "JOIN lines ON lines.id = texts.first_line_id JOIN prosody ON prosody.text_id = texts.id ORDER BY texts.id").fetchall()
    assert len(rows) == opened.store.count("texts")
    return rows


def _expected_tones(original: str, text: str) -> str:
    """The oracle: 平水韵 marks of the original as written, a ？ there filled from the simplified text."""
    written = rhymes.line_tones(original)
    plain = rhymes.line_tones(text)
    return "".join(p if w == "？" else w for w, p in zip(written, plain))


def _tone_regex(pattern: str) -> re.Pattern:
    table = {"平": "[平中]", "仄": "[仄中]", "中": "[平仄中]", "?": ".", "*": ".*"}
    return re.compile("".join(table[c] for c in pattern))


def _brute_tones(rows, pattern: str) -> list[int]:
    rx = _tone_regex(pattern)
    return [r[0] for r in rows if rx.fullmatch(r[3])]


def _brute_rhyme(rows, groups: set[str]) -> list[int]:
    return [r[0] for r in rows if groups & set(r[4].split())]


def test_stored_tones_are_those_of_the_original_as_written(opened):
    rows = _stored(opened)
    same_length = [r for r in rows if len(r[2]) == len(r[1])]
    assert len(same_length) >= 0.9 * len(rows)
    for tid, text, original, tones, rhyme in rows:
        assert len(tones) == len(text), text
    for tid, text, original, tones, rhyme in same_length:
        assert tones == _expected_tones(original, text), (text, original)
        want = rhymes.groups_of(original[-1]) or rhymes.groups_of(text[-1])
        assert rhyme.split() == want, (text, original)
    # the traditional original decides where scripts disagree: 征 (八庚) is not s2t's 徵
    assert rhymes.groups_of("征") != rhymes.groups_of("徵")


def test_hits_carry_tones_and_rhyme(opened):
    res = opened.find(tones="平平仄仄平", k=20)
    assert len(res.hits) == 20
    for h in res.hits:
        assert len(h.tones) == len(h.text) == 5
        assert h.tones == _expected_tones(h.original, h.text) or len(h.original) != len(h.text)
        assert h.rhyme == (rhymes.groups_of(h.original[-1]) or rhymes.groups_of(h.text[-1]))
        assert h.match == "tones"
        d = h.to_dict()
        assert d["tones"] == h.tones and d["rhyme"] == h.rhyme
    # semantic and lexical hits carry them too
    for h in opened.search("床前明月光", k=5):
        assert h.tones == _expected_tones(h.original, h.text) or len(h.original) != len(h.text)
        assert isinstance(h.rhyme, list)


@pytest.mark.parametrize("pattern", PATTERNS)
def test_find_by_tones_equals_a_brute_force_scan(opened, pattern):
    rows = _stored(opened)
    want = _brute_tones(rows, pattern)
    got = opened.prosody.match(tones=pattern)
    assert len(got) == len(want) and got.tolist() == want
    assert len(want) > 0
    res = opened.find(tones=pattern, k=50)
    assert res.total == len(want)
    assert len(res.hits) == min(50, len(want))
    assert {h.id for h in res.hits} <= set(want)


def test_tones_of_both_readings_match_either(opened):
    rows = _stored(opened)
    both = [r for r in rows if len(r[3]) == 5 and "中" in r[3]]
    assert len(both) > 10
    hit = set(opened.prosody.match(tones="平平平平平").tolist()) | set(opened.prosody.match(tones="仄仄仄仄仄").tolist())
    ping = set(opened.prosody.match(tones="中中中中中").tolist())
    # 中 in a pattern is any known tone: every 5-character line with no unknown character
    assert ping == {r[0] for r in rows if len(r[3]) == 5 and "？" not in r[3]}
    assert hit < ping


def test_find_by_rhyme_and_rhymes_with(opened):
    rows = _stored(opened)
    want = _brute_rhyme(rows, {"七阳"})
    assert len(want) > 20
    assert opened.prosody.match(rhyme="七阳").tolist() == want
    assert opened.prosody.match(rhyme="下平七陽").tolist() == want
    assert opened.find(rhyme="七阳", k=10).total == len(want)
    groups = set(rhymes.groups_of("看"))
    assert len(groups) == 2  # 十四寒 and 十五翰: both count
    want = _brute_rhyme(rows, groups)
    assert opened.prosody.match(rhymes_with="看").tolist() == want
    assert opened.find(rhymes_with="看", k=5).total == len(want)
    with pytest.raises(UsageProblem, match="平水韵 group"):
        opened.find(rhyme="七羊")
    with pytest.raises(UsageProblem, match="one character"):
        opened.find(rhymes_with="霜天")


def test_tones_rhyme_pattern_and_filter_together(opened):
    rows = _stored(opened)
    conn = opened.store.conn
    by_li_bai = {r[0] for r in conn.execute(
        "SELECT DISTINCT lines.text_id FROM lines JOIN poems ON poems.id = lines.poem_id WHERE poems.author_norm = '李白'")}
    assert len(by_li_bai) > 100
    tones_ids = set(_brute_tones(rows, "?平*"))
    rhyme_ids = set(_brute_rhyme(rows, set(rhymes.groups_of("香"))))
    want = sorted(r[0] for r in rows if r[0] in tones_ids and r[0] in rhyme_ids and r[0] in by_li_bai
                  and "风" in r[1])
    got = opened.find("*风*", tones="?平*", rhymes_with="香", author="李白", k=100)
    assert len(want) >= 2
    assert got.total == len(want) and sorted(h.id for h in got.hits) == want
    for h in got.hits:
        assert h.author == "李白" and "风" in h.text and h.tones[1] in "平中" and set(h.rhyme) & {"七阳"}
    # the same without the pattern: every 李白 line of that tone shape and rhyme
    want = sorted(tones_ids & rhyme_ids & by_li_bai)
    got = opened.find(tones="?平*", rhymes_with="香", author="李白", k=1000)
    assert len(want) > 5
    assert got.total == len(want) and sorted(h.id for h in got.hits) == want
    poems = opened.find(tones="?平*", rhymes_with="香", author="李白", k=5, poems=True)
    assert len(poems.hits) == min(5, poems.total)
    assert all(line.id in want for p in poems.hits for line in p.lines)


def test_bad_tone_patterns_are_refused(opened):
    for bad, words in [("", "empty"), ("平平x仄平", "holds x"), ("???**", "no 平, 仄 or 中")]:
        with pytest.raises(UsageProblem, match=words):
            opened.find(tones=bad)


def test_poem_lines_carry_tones(opened):
    hit = opened.find(rhyme="七阳", k=1).hits[0]
    poem = opened.poem(hit.poem_id)
    assert len(poem["lines"]) >= 2
    for line in poem["lines"]:
        assert len(line["tones"]) == len(line["text"])
        stored = opened.store.prosody_of([line["text_id"]])[line["text_id"]]
        assert line["tones"] == stored[0] and line["rhyme"] == stored[1].split()


def _corpus_finals() -> Counter:
    """Lines of the sample ending in each character, from the corpus files: the last character of
    each line's original, notes removed, as the 平水韵 table lists it."""
    from poetry_search.corpus.reader import CorpusReader, poem_lines

    reader = CorpusReader(SAMPLE)
    norm = reader.normalizer()
    out: Counter = Counter()
    for poem in reader.poems():
        for line in poem_lines(poem, norm):
            chars = meter.split_lines(line.original)
            last = chars[-1][-1] if chars else ""
            form = rhymes.lookup(last)[0] if last else ""
            if not form and line.text:
                form = rhymes.lookup(line.text[-1])[0]
            if form:
                out[form] += 1
    return out


def test_rhyme_book_counts_equal_a_count_over_the_corpus(opened):
    finals = _corpus_finals()
    assert sum(finals.values()) > 10_000
    book = opened.rhyme("霜")
    assert book.char == "霜" and [g.name for g in book.groups] == ["七阳"]
    members = rhymes.group_members("七阳")
    chars = book.groups[0].characters
    assert len(chars) == len(members)
    assert [c for c, _ in chars if _ == 0] == [c for c in members if finals[c] == 0]  # table order among zeros
    for c, n in chars:
        assert n == finals[c], c
    counts = [n for _, n in chars]
    assert counts == sorted(counts, reverse=True) and counts[0] > 0
    two = opened.rhyme("看", limit=5)
    assert [g.name for g in two.groups] == rhymes.groups_of("看")
    assert all(len(g.characters) == 5 for g in two.groups)
    d = two.to_dict()
    assert d["groups"][0]["characters"][0] == {"char": two.groups[0].characters[0][0], "lines": two.groups[0].characters[0][1]}
    with pytest.raises(UsageProblem, match="one character"):
        opened.rhyme("霜天")


def test_check_a_corpus_poem_by_id(opened):
    found = opened.find(title="登鸛雀樓", k=5)
    assert found.total >= 1
    poem = opened.poem(found.hits[0].poem_id)
    v = opened.check(poem_id=poem["id"])
    direct = meter.check("".join(poem["paragraphs"]))
    assert v.verdict == direct.verdict == "合律"
    assert v.lines == direct.lines and len(v.lines) == 4
    assert opened.check("白日依山尽，黄河入海流。欲穷千里目，更上一层楼。").verdict == "合律"
    assert opened.check("春眠不觉晓，处处闻啼鸟。夜来风雨声，花落知多少。").verdict == "非近体"
    with pytest.raises(UsageProblem, match="not both"):
        opened.check("白日依山尽", poem_id=poem["id"])
    with pytest.raises(UsageProblem, match="not both"):
        opened.check()


def test_coverage_in_the_manifest(opened):
    rec = opened.info()["prosody"]
    conn = opened.store.conn
    han = re.compile(r"[\u3400-\u9fff\uf900-\ufaff\U00020000-\U0003ffff]")
    texts = dict(conn.execute("SELECT id, text FROM texts"))
    total = sum(len(han.findall(texts[tid])) for (tid,) in conn.execute("SELECT text_id FROM lines"))
    assert rec["characters"] == total
    missing = sum(n for _, n in rec["missing"])
    assert len(rec["missing"]) == rec["distinct_missing"] <= 20
    assert rec["covered"] == total - missing
    assert rec["coverage"] == round(rec["covered"] / total, 6) and rec["coverage"] > 0.995
    for c, _ in rec["missing"]:
        assert rhymes.tones_of(c) == set()
    assert np.isclose(rec["coverage"], 1 - missing / total)


class _ArrayStore:
    """A store holding only tone arrays: the matcher on lines longer than one packed word (16
    characters), which the sample lacks."""

    has_prosody = True

    def __init__(self, tones: list[str], path):
        from poetry_search.build.prosody import TONE_CODES

        self.path = path / "poetry.db"
        codes = np.array([TONE_CODES[c] for t in tones for c in t], np.uint8)
        lengths = np.array([len(t) for t in tones], np.int32)
        self.arrays = {"tones": codes, "tone_lengths": lengths, "rhyme_counts": np.zeros(len(tones), np.uint8),
                       "rhyme_groups": np.zeros(0, np.uint8)}

    def prosody_arrays(self):
        return {k: (a.dtype.str, a.tobytes()) for k, a in self.arrays.items()}


def _glob(pattern: str, tones: str) -> bool:
    """The oracle for long patterns: glob matching by dynamic programming (a regex of many ``.*``
    backtracks for minutes on the lines it rejects)."""
    accepts = {"平": "平中", "仄": "仄中", "中": "平仄中"}
    row = [True] + [False] * len(tones)  # row[j]: the pattern so far matches tones[:j]
    for c in pattern:
        if c == "*":
            nxt = [row[0]]
            for j in range(1, len(tones) + 1):
                nxt.append(row[j] or nxt[j - 1])
        else:
            nxt = [False] + [row[j - 1] and (c == "?" or tones[j - 1] in accepts[c]) for j in range(1, len(tones) + 1)]
        row = nxt
    return row[-1]


def test_the_matcher_on_long_lines_equals_a_glob_scan(tmp_path):
    from poetry_search.search.prosody import ProsodySearch

    rng = np.random.default_rng(7)
    marks = np.array(list("？平仄中"))
    tones = ["".join(rng.choice(marks, size=int(n), p=[.05, .45, .4, .1])) for n in rng.integers(1, 41, size=3000)]
    search = ProsodySearch(_ArrayStore(tones, tmp_path))
    for pattern in ["中" * 17, "?平" + "?" * 15 + "仄", "*仄平平仄仄平平*", "?" * 15 + "仄平*", "平*仄仄仄*平平平*仄", "*平?????????????????仄",
                    "中*中*中*中*中*中*中*中*中*中*中*中*中*中*中*中*中*中"]:
        want = [i for i, t in enumerate(tones) if _glob(pattern, t)]
        got = search.tones(pattern)
        assert len(got) == len(want) and got.tolist() == want, pattern
        assert len(want) > 0, pattern


def test_the_matcher_on_random_patterns_equals_a_glob_scan(tmp_path):
    """Random patterns with runs between '*' over lines of one word (16 characters or fewer,
    matched by the word-at-once placement) and longer (placed by columns)."""
    from poetry_search.search.prosody import ProsodySearch

    rng = np.random.default_rng(11)
    marks = np.array(list("？平仄中"))
    tones = ["".join(rng.choice(marks, size=int(n), p=[.05, .45, .4, .1])) for n in rng.integers(1, 25, size=4000)]
    search = ProsodySearch(_ArrayStore(tones, tmp_path))
    checked = found = 0
    while checked < 60:
        parts = ["".join(rng.choice(list("平仄中?"), size=int(rng.integers(0, 4)), p=[.4, .35, .1, .15]))
                 for _ in range(int(rng.integers(2, 5)))]
        pattern = "*".join(parts)
        if not any(c in "平仄中" for c in pattern):
            continue
        want = [i for i, t in enumerate(tones) if _glob(pattern, t)]
        got = search.tones(pattern)
        assert len(got) == len(want) and got.tolist() == want, pattern
        checked += 1
        found += bool(want)
    assert found >= 40
