"""The variant matching key (poetry_search/corpus/variants.py) and its table."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))

from poetry_search.corpus.normalize import Normalizer  # noqa: E402
from poetry_search.corpus.variants import (  # noqa: E402
    VARIANTS_FILE,
    match_key,
    variant_table,
    variants_of,
)


def test_the_issue_examples_meet_in_one_key():
    norm = Normalizer()
    pairs = [("守着窗儿", "守著窗兒"), ("夜阑卧听风吹雨", "夜闌臥聴風吹雨"), ("风透疏帘月满庭", "風透疎簾月滿庭"),
             ("宫殿沉沉月欲分", "宮殿沈沈月欲分")]
    assert len(pairs) == 4
    for typed, corpus in pairs:
        a, b = match_key(norm.text(typed)), match_key(norm.text(corpus))
        assert a == b, (typed, corpus, a, b)
        assert norm.text(typed) != norm.text(corpus)  # the embedded text stays apart: only the key folds


def test_the_key_keeps_length_and_leaves_other_characters():
    line = "白日依山尽黄河入海流"
    assert match_key(line) == line
    folded = match_key("不著心源傍古人")
    assert len(folded) == 7 and folded[2:] == "心源傍古人" and folded[1] == match_key("着")


def test_current_characters_stay_apart():
    # pairs both in the 通用规范汉字表 that a single source links: they must not fold
    for a, b in [("他", "她"), ("一", "壹"), ("俱", "具"), ("干", "乾"), ("只", "子"), ("皇", "惶")]:
        assert match_key(a) != match_key(b), (a, b)


def test_table_is_a_function_onto_its_own_fixed_points():
    table = variant_table()
    lines = [l for l in VARIANTS_FILE.read_text("utf-8").splitlines() if l and not l.startswith("#")]
    assert len(table) == len(lines) > 500
    reps = set(table.values())
    assert not any(ord(r) in table for r in reps)  # one step reaches the representative
    assert variants_of("疏") >= {"疏", "疎"} and len(variants_of("白")) == 1
