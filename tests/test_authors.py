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
        assert rule in {"zi", "title", "xinghui", "title+zi", "courtesy", "monk", "variant", "spelling",
                        "spelling+variant", "record"} and alias != name
        assert name not in alias_table()  # one step reaches the name
        assert evidence


def test_names_of_lists_every_alias():
    got = names_of("李煜")
    assert got == {"李煜", "后主煜"}
    assert len(names_of("李璟")) == 3 and names_of("") == set()


def corpus_data(authors: list[tuple], poems: list[dict]) -> dict:
    """What make_author_aliases.build reads (scripts/corpus_cache.py's layout): the author records,
    the poems, and one entry a line occurrence (each of a poem's ``lines`` is one line)."""
    import numpy as np

    texts: dict[str, int] = {}
    occ = [(i, pos, texts.setdefault(t, len(texts))) for i, p in enumerate(poems) for pos, t in enumerate(p.get("lines", ()))]
    col = [np.array([o[k] for o in occ], np.int32) for k in range(3)]
    return {"authors": authors, "poems": poems, "texts": list(texts), "line_poem": col[0], "line_pos": col[1],
            "line_tid": col[2]}


def test_a_name_spelled_with_a_same_sounding_character_for_the_same_poems_is_the_poet():
    from make_author_aliases import build

    readings = {"征": {"zheng"}, "徵": {"zheng", "zhi"}, "佑": {"you"}, "祐": {"you"}, "运": {"yun"},
                "辟": {"pi", "bi"}, "斌": {"bin"}, "贞": {"zhen"}, "真": {"zhen"}, "右": {"you"}}
    authors = [("魏徵", "唐", "魏徵，字玄成", "a.tang"), ("李嘉祐", "唐", "李嘉祐，字從一", "a.tang"),
               ("李嘉運", "唐", "", "a.tang"), ("劉斌", "唐", "", "a.tang"), ("蘇檢妻", "唐", "", "a.tang"),
               ("朱淑真", "宋", "朱淑真，號幽棲居士", "a.song"), ("張祐", "唐", "", "a.tang"), ("張右", "唐", "", "a.tang")]
    poem = lambda author, dynasty, *lines: {"author": author, "dynasty": dynasty, "lines": list(lines)}
    poems = [poem("魏徵", "唐", "中原初逐鹿", "投笔事戎轩"), poem("魏征", "唐", "中原初逐鹿", "投笔事戎轩"),
             poem("李嘉祐", "唐", "野渡花争发", "春塘水乱流"), poem("李嘉佑", "唐", "野渡花争发", "春塘水乱流"),
             poem("李嘉運", "唐", "一声何处", "送书归雁"), poem("李嘉佑", "唐", "一声何处", "送书归雁"),
             poem("劉斌", "唐", "秋分一夜停", "阴魄最晶荧"), poem("刘辟", "唐", "秋分一夜停", "阴魄最晶荧"),
             poem("蘇檢妻", "唐", "楚水平如镜", "周回白鸟飞"), poem("苏检", "唐", "楚水平如镜", "周回白鸟飞"),
             # the same sound, but no poem held by both: two names, nothing says one person
             poem("朱淑真", "宋", "连理枝头花正开", "妒花风雨便相催"), poem("朱淑贞", "宋", "竹摇清影罩幽窗", "两两时禽噪夕阳"),
             # two recorded poets of that sound hold 张佑's poems: which one is not said
             poem("張祐", "唐", "故国三千里", "深宫二十年"), poem("张佑", "唐", "故国三千里", "深宫二十年"),
             poem("張右", "唐", "日落水流西复东", "春光不为我留"), poem("张佑", "唐", "日落水流西复东", "春光不为我留")]
    aliases, stats = build(corpus_data(authors, poems), readings)
    assert {a: (t, r) for a, (t, r, _e) in aliases.items()} == {"魏征": ("魏徵", "spelling"), "李嘉佑": ("李嘉祐", "spelling")}
    assert aliases["李嘉佑"][2] == "李嘉佑 and 李嘉祐: one reading; 1 poem held by both"
    # 刘辟 / 刘斌: one disputed poem, two sounds; 苏检 / 苏检妻: another person; 朱淑贞: no poem shared
    assert stats["conflicts"] == {}
    # the same two names, the shared poem now of another dynasty than the record's
    poems[1]["dynasty"] = "宋"
    aliases, _ = build(corpus_data(authors, poems), readings)
    assert sorted(aliases) == ["李嘉佑"]


def test_two_records_of_one_person_are_one_poet():
    from make_author_aliases import build

    tang, song = "quantangshi/authors.song.json", "songci/author.song.json"
    authors = [("趙令畤", "宋", "趙令畤（一○六一～一一三四），初字景貺，蘇軾爲改字德麟", tang),
               ("赵令", "宋", "(1051－1134) 初字景贶，苏轼改为德麟，自号聊复翁", song),  # its source lost 畤
               ("釋德洪", "宋", "釋德洪（一○七一～一一二八），一名惠洪，號覺範", tang),
               ("惠洪", "宋", "(1071－1128) 字觉范，后易名德洪", song),
               ("趙立", "宋", "趙立，字德成，號蔗溪", tang), ("趙立夫", "宋", "趙立夫，字德成", tang),  # one source: two men
               ("趙鼎", "宋", "趙鼎（一○八五～一一四七），字元鎮，號得全居士", tang),
               ("趙鼎臣", "宋", "趙鼎臣，字承之，自號葦溪翁", tang),
               ("赵鼎臣", "宋", "(1085－1147)字元镇，自号得全居士", song),  # 赵鼎's biography under 赵鼎臣
               ("王禹偁", "宋", "王禹偁（九五四～一○○一），字元之，与蘇易簡，字太簡，同年", tang),
               ("王禹", "宋", "字太简", song),  # shares only a friend's 字, not his own
               ("劉子翬", "宋", "劉子翬（一一○一～一一四七），字彥沖", tang),
               ("刘子", "唐", "字彦冲", song)]  # the same 字, another dynasty
    poems = [{"author": "僧惠洪", "dynasty": "宋"}]
    aliases, stats = build(corpus_data(authors, poems), {})
    assert {a: (t, r) for a, (t, r, _e) in aliases.items()} == {
        "赵令": ("赵令畤", "record"), "惠洪": ("释德洪", "record"), "僧惠洪": ("释德洪", "monk")}
    assert aliases["赵令"][2] == "records 赵令 and 赵令畤: one character short, both 字/号 景贶"
    # 僧惠洪 was sent to the record 惠洪 and to 释德洪 (一名惠洪): one poet now, no conflict
    assert stats["conflicts"] == {}


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
    aliases, stats = build(corpus_data(authors, poems), {})
    assert {a: (t, r) for a, (t, r, _e) in aliases.items()} == {
        "张文潜": ("张耒", "courtesy"), "杜小山": ("杜耒", "courtesy"),
        "释处默": ("处默", "monk"), "僧惠洪": ("释德洪", "monk"), "韦皋": ("韦臯", "variant")}
    # 元曲's 刘君锡 is of another dynasty than the Song 刘永年 (字君锡); 李白 is a record of his own
    assert "刘君锡" not in aliases and "李白" not in aliases and stats["conflicts"] == {}
