"""'Did you mean 李白?': nearest known author names by edit distance, over the sample's real names."""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path

import pytest

from poetry_search.corpus.normalize import fold
from poetry_search.search.suggest import levenshtein, suggest_names

SAMPLE = Path(__file__).resolve().parent.parent / "data" / "sample"


def _authors() -> list[str]:
    """The sample's poem authors, folded as ``author_norm`` is, most poems first."""
    counts: Counter = Counter()
    for path in SAMPLE.rglob("*.json"):
        if "author" in path.name:
            continue
        for poem in json.loads(path.read_text(encoding="utf-8")):
            if poem.get("author"):
                counts[fold(poem["author"])] += 1
    return [name for name, _ in counts.most_common()]


AUTHORS = _authors()


def _distance_oracle(a: str, b: str) -> int:
    """Edit distance by the textbook recursion over prefixes, memoised: independent of the code's."""
    from functools import lru_cache

    @lru_cache(maxsize=None)
    def d(i: int, j: int) -> int:
        if i == 0 or j == 0:
            return i + j
        return min(d(i - 1, j) + 1, d(i, j - 1) + 1, d(i - 1, j - 1) + (a[i - 1] != b[j - 1]))

    return d(len(a), len(b))


def test_the_sample_has_real_authors():
    assert len(AUTHORS) > 100
    assert {"李白", "杜甫", "苏轼", "王之涣"} <= set(AUTHORS)


def test_typos_find_the_poet():
    assert suggest_names("李百", AUTHORS)[0] == "李白"
    assert suggest_names("苏试", AUTHORS)[0] == "苏轼"
    assert suggest_names("王之换", AUTHORS) == ["王之涣"]
    assert suggest_names(fold("蘇試"), AUTHORS)[0] == "苏轼"


def test_results_are_near_distinct_and_bounded():
    for name in ("李百", "杜浦", "白居", "欧阳修修", "辛弃嫉"):
        got = suggest_names(name, AUTHORS, n=3)
        assert 1 <= len(got) <= 3
        assert len(set(got)) == len(got) and name not in got
        assert all(_distance_oracle(name, g) <= (1 if len(name) <= 3 else 2) for g in got)


def test_nothing_near_gives_nothing():
    assert suggest_names("阿弥陀佛", AUTHORS) == []
    assert suggest_names("x", AUTHORS) == []  # one substitution away from any one-character name
    assert suggest_names("", AUTHORS) == []
    assert suggest_names("李百", []) == []


def test_the_name_itself_is_not_suggested():
    assert "李白" not in suggest_names("李白", AUTHORS, n=10)


def test_ties_keep_the_order_of_known():
    # every candidate at distance 1 from 李百, in AUTHORS' order (most poems first)
    expected = [a for a in AUTHORS if a != "李百" and _distance_oracle("李百", a) == 1]
    assert len(expected) >= 2
    assert suggest_names("李百", AUTHORS, n=len(expected)) == expected
    assert suggest_names("李百", list(reversed(AUTHORS)), n=len(expected)) == list(reversed(expected))


def test_levenshtein_matches_the_oracle():
    pairs = [(a, b) for a in AUTHORS[:40] for b in AUTHORS[:40]] + [("", "李白"), ("李白", ""), ("abc", "acb")]
    assert len(pairs) == 1603
    for a, b in pairs:
        assert levenshtein(a, b) == _distance_oracle(a, b)


def test_pure_python_gives_the_same_answers(monkeypatch):
    pytest.importorskip("rapidfuzz")
    names = ["李百", "杜浦", "白", "苏试", "王之换", "欧阳修修", "x", "李"]
    with_rf = [suggest_names(n, AUTHORS, n=5) for n in names]
    import builtins

    real_import = builtins.__import__

    def no_rapidfuzz(name, *args, **kwargs):
        if name.startswith("rapidfuzz"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_rapidfuzz)
    without = [suggest_names(n, AUTHORS, n=5) for n in names]
    assert without == with_rf
    assert len(without) == 8


def test_thirty_thousand_names_answer_in_milliseconds():
    pytest.importorskip("rapidfuzz")
    # the whole corpus has ~14k folded author names: pad the sample's to 30k distinct ones
    names = list(dict.fromkeys(AUTHORS + [f"{a}{chr(0x4E00 + i)}" for i in range(200) for a in AUTHORS]))[:30_000]
    assert len(names) == 30_000
    suggest_names("李百", names)  # import cost out of the timing
    start = time.perf_counter()
    for q in ("李百", "苏试", "王之换", "欧阳修修", "白"):
        suggest_names(q, names)
    assert (time.perf_counter() - start) / 5 < 0.05
