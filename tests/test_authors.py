"""Author aliases (poetry_search/corpus/authors.py) built from the corpus's own records."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))

from poetry_search.corpus.authors import (  # noqa: E402
    ALIASES_FILE,
    alias_table,
    canonical_author,
    names_of,
)


def test_a_ruler_under_his_title_is_the_poet():
    assert canonical_author("後主煜") == "李煜"
    assert canonical_author("后主煜") == "李煜"
    assert canonical_author("嗣主璟") == canonical_author("李璟") == "李璟"
    assert canonical_author("李煜") == "李煜"


def test_names_fold_and_unknown_names_pass_through():
    assert canonical_author("蘇軾") == "苏轼"
    assert canonical_author("王时彦") == "王时彦"  # 王 is his surname, not a title
    assert canonical_author("") == "" and canonical_author(None) == ""


def test_every_entry_states_its_rule_and_evidence():
    rows = [l.split("\t") for l in ALIASES_FILE.read_text("utf-8").splitlines() if l and not l.startswith("#")]
    assert len(rows) == len(alias_table()) >= 10
    for alias, name, rule, evidence in rows:
        assert rule in {"zi", "title", "xinghui", "title+zi", "courtesy", "monk", "variant"} and alias != name
        assert name not in alias_table()  # one step reaches the name
        assert evidence


def test_names_of_lists_every_alias():
    got = names_of("李煜")
    assert got == {"李煜", "后主煜"}
    assert len(names_of("李璟")) == 3 and names_of("") == set()


def test_a_poet_signed_by_courtesy_name_or_as_a_monk_is_the_poet():
    # the corpus's own records (biographies cut short), and the names poems are signed with
    from make_author_aliases import build

    authors = [("張耒", "宋", "張耒（一○五四～一一一四），字文潜，人稱宛丘先生", "a.song"),
               ("杜耒", "宋", "杜耒（？～一二二七），字子野，號小山", "a.song"),
               ("處默", "唐", "處默，初與貫休同薙染，後入廬山", "a.tang"),
               ("釋德洪", "宋", "釋德洪（一○七一～一一二八），一名惠洪，號覺範", "a.song"),
               ("劉永年", "宋", "劉永年，字君錫", "a.song"),
               ("李白", "唐", "李白，字太白", "a.tang"), ("李和", "唐", "李和，字白", "a.tang"),
               ("韋臯", "唐", "韋臯，字城武", "a.tang")]
    signed = [("張文潜", "宋"), ("杜小山", "宋"), ("釋處默", "唐"), ("僧惠洪", "宋"), ("劉君錫", "元"),
              ("李白", "唐"), ("張耒", "宋"), ("韋皋", "唐"), ("韋皋", "唐"), ("孫皋", "唐")]
    poems = [{"author": a, "dynasty": d} for a, d in signed]
    aliases, stats = build({"authors": authors, "poems": poems})
    assert {a: (t, r) for a, (t, r, _e) in aliases.items()} == {
        "张文潜": ("张耒", "courtesy"), "杜小山": ("杜耒", "courtesy"),
        "释处默": ("处默", "monk"), "僧惠洪": ("释德洪", "monk"), "韦皋": ("韦臯", "variant")}
    # 元曲's 刘君锡 is of another dynasty than the Song 刘永年 (字君锡); 李白 is a record of his own
    assert "刘君锡" not in aliases and "李白" not in aliases and stats["conflicts"] == {}
