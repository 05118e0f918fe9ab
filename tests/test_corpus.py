"""One fixture per collection shape of chinese-poetry, plus the embedded sample."""

import json

import pytest
from conftest import SAMPLE, run_cli

from poetry_search.corpus.reader import CorpusReader, corpus_stats, poem_lines
from poetry_search.errors import CorpusError

SHAPES = {
    "quantangshi/poet.tang.0.json": [{"author": "孟浩然", "paragraphs": ["春眠不覺曉，處處聞啼鳥。", "夜來風雨聲，花落知多少。"], "title": "春曉", "id": "uuid-1"}],
    "quantangshi/poet.song.0.json": [{"author": "宋太祖", "paragraphs": ["未離海底千山黑，纔到天中萬國明。"], "title": "句", "id": "uuid-2"}],
    "quantangshi/唐诗三百首.json": [{"author": "王之渙", "paragraphs": ["白日依山盡，黃河入海流。"], "title": "登鸛雀樓", "id": "uuid-3", "tags": ["唐诗三百首"]}],
    "quantangshi/唐诗补录.json": [{"author": "佚名", "paragraphs": ["住在绿池边，朝朝学采莲"], "title": "", "id": None, "notes": "x"}],
    "quantangshi/authors.tang.json": [{"name": "孟浩然", "desc": "襄州襄陽人", "id": "a1"}],
    "quantangshi/表面结构字.json": {"{上休下鳥}": [{"font": "𪀪", "unicode": "x"}], "{上/貝}": []},
    "quantangshi/error/poet.tang.0.json": [{"author": "x", "paragraphs": ["不該讀到。"], "title": "err"}],
    "songci/ci.song.0.json": [{"author": "李清照", "paragraphs": ["昨夜雨疏风骤，浓睡不消残酒。"], "rhythmic": "如梦令"}],
    "songci/author.song.json": [{"name": "李清照", "description": "号易安居士", "short_description": "易安"}],
    "yuanqu/yuanqu.json": [{"dynasty": "yuan", "author": "马致远", "paragraphs": ["枯藤老树昏鸦，小桥流水人家。"], "title": "天净沙・秋思"}],
    "shijing/shijing.json": [{"title": "关雎", "chapter": "国风", "section": "周南", "content": ["关关雎鸠，在河之洲。"]}],
    "chuci/chuci.json": [{"title": "离骚", "section": "离骚", "author": "屈原", "content": ["帝高阳之苗裔兮，朕皇考曰伯庸。"]}],
    "wudaishici/huajianji/huajianji-0-preface.json": [{"title": "花间集", "paragraphs": ["序不是詩。"], "author": "赵崇祚", "rhythmic": "花间集"}],
    "wudaishici/huajianji/huajianji-1-juan.json": [{"title": "菩萨蛮 其一", "paragraphs": ["小山重叠金明灭，鬓云欲度香腮雪。"], "author": "温庭筠", "rhythmic": "菩萨蛮", "notes": []}],
    "wudaishici/nantang/poetrys.json": [{"rhythmic": "应天长", "paragraphs": ["一钩初月临妆镜。"], "author": "李璟", "title": "应天长·一钩初月临妆镜", "notes": []}],
    "wudaishici/nantang/authors.json": [{"name": "李璟", "desc": "南唐元宗"}],
    "wudaishici/nantang/intro.json": {"title": "南唐二主词", "desc": ["x"]},
    "caocaoshiji/caocao.json": [{"title": "观沧海", "paragraphs": ["东临碣石，以观沧海。"]}],
    "nalanxingde/纳兰性德诗集.json": [{"title": "长相思·山一程", "para": ["山一程，水一程"], "author": "纳兰性德"}],
    "shuimotangshi/shuimotangshi.json": [{"author": "王建", "title": "新嫁娘", "paragraphs": ["三日入厨下，洗手作羹汤。"], "prologue": "x"}],
    "yudingquantangshi/json/001.json": [{"title": "帝京篇十首", "author": "李世民", "biography": "", "paragraphs": ["秦川雄帝宅，函谷壯皇居。"], "notes": [""], "volume": "卷一", "no#": 1}],
    "mengxue/qianjiashi.json": {"title": "千家詩", "author": "南宋謝枋得", "content": [{"type": "五言絕句", "content": [
        {"chapter": "春眠", "author": "（唐）孟浩然", "paragraphs": ["春眠不覺曉，處處聞啼鳥。"]},
        {"chapter": "曲江對酒", "author": "（唐）杜甫", "paragraphs": [{"subchapter": "其一", "paragraphs": ["一片花飛減卻春。"]},
                                                                   {"subchapter": "其二", "paragraphs": ["朝回日日典春衣。"]}]}]}]},
    "mengxue/guwenguanzhi.json": {"title": "古文觀止", "abstract": ["x"], "content": [{"title": "卷一・周文", "content": [
        {"chapter": "鄭伯克段於鄢", "source": "《左傳》", "author": "先秦：左丘明 ", "paragraphs": ["初，鄭武公娶於申。"]}]}]},
    "mengxue/sanzijing-new.json": {"title": "三字經", "author": "王應麟", "tags": "新版", "paragraphs": ["人之初，性本善。"]},
    "mengxue/dizigui.json": {"title": "弟子規", "author": "李毓秀", "content": [{"chapter": "總敘", "paragraphs": ["弟子規 聖人訓 首孝弟 次謹信"]}]},
    "lunyu/lunyu.json": [{"chapter": "学而篇", "paragraphs": ["子曰：“学而时习之，不亦说乎？”"]}],
    "sishuwujing/daxue.json": {"chapter": "大學", "paragraphs": ["大學之道，在明明德。"]},
    "sishuwujing/mengzi.json": [{"chapter": "梁惠王上", "paragraphs": ["孟子見梁惠王。"]}],
    "youmengying/youmengying.json": [{"content": "读经宜冬，其神专也。", "comment": ["x"]}],
    "rank/poet/poet.tang.rank.0.json": [{"author": "x", "title": "y", "baidu": 1}],
    "strains/json/poet.tang.0.json": [{"id": "z", "paragraphs": ["平平仄仄"], "strains": []}],
}


KNOWN = ["quantangshi", "songci", "yuanqu", "shijing", "chuci", "wudaishici", "caocaoshiji", "nalanxingde",
         "shuimotangshi", "yudingquantangshi", "mengxue", "lunyu", "sishuwujing", "youmengying"]


@pytest.fixture
def shapes_corpus(tmp_path):
    for rel, data in SHAPES.items():
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return tmp_path


def poems_by_book(root):
    reader = CorpusReader(root)
    return reader, {(p.book, p.title): p for p in reader.poems()}


def test_every_collection_shape_is_read(shapes_corpus):
    reader, poems = poems_by_book(shapes_corpus)
    # the fixture has one folder of every collection the reader knows, and the reader reads them in this order
    assert reader.collections == KNOWN
    assert {p.collection for p in poems.values()} == set(KNOWN)
    assert len(poems) == 24  # counted by hand in SHAPES
    norm = reader.normalizer()
    texts = {(p.book, p.title): [l.text for l in poem_lines(p, norm)] for p in poems.values()}
    assert texts[("全唐诗", "春曉")] == ["春眠不觉晓", "处处闻啼鸟", "夜来风雨声", "花落知多少"]
    assert poems[("全唐诗", "春曉")].id == "uuid-1" and poems[("全唐诗", "春曉")].dynasty == "唐"
    assert poems[("全宋诗", "句")].dynasty == "宋"
    assert poems[("唐诗三百首", "登鸛雀樓")].tags == ["唐诗三百首"]
    assert poems[("唐诗补录", "")].id == "quantangshi/唐诗补录/0"  # no own id: deterministic one
    ci = poems[("全宋词", "如梦令")]
    assert (ci.form, ci.author, ci.dynasty) == ("如梦令", "李清照", "宋")
    assert texts[("元曲", "天净沙・秋思")] == ["枯藤老树昏鸦", "小桥流水人家"]
    assert poems[("诗经", "关雎")].chapter == "国风" and poems[("诗经", "关雎")].section == "周南"
    assert poems[("楚辞", "离骚")].author == "屈原"
    assert ("花间集", "花间集") not in poems  # the preface is prose, not a poem
    assert poems[("花间集", "菩萨蛮 其一")].form == "菩萨蛮"
    assert poems[("南唐二主词", "应天长·一钩初月临妆镜")].dynasty == "五代"
    assert poems[("曹操诗集", "观沧海")].author == "曹操"
    assert texts[("纳兰性德诗集", "长相思·山一程")] == ["山一程", "水一程"]
    assert poems[("水墨唐诗", "新嫁娘")].author == "王建"
    assert poems[("御定全唐诗", "帝京篇十首")].section == "卷一"
    qj = poems[("千家诗", "春眠")]
    assert (qj.author, qj.dynasty, qj.form) == ("孟浩然", "唐", "五言絕句")
    assert texts[("千家诗", "曲江對酒 其二")] == ["朝回日日典春衣"]
    gw = poems[("古文观止", "鄭伯克段於鄢")]
    assert (gw.author, gw.dynasty) == ("左丘明", "先秦")
    assert texts[("三字经", "三字經")] == ["人之初", "性本善"]
    assert texts[("弟子规", "總敘")] == ["弟子规", "圣人训", "首孝弟", "次谨信"]
    assert texts[("论语", "学而篇")] == ["子曰", "学而时习之", "不亦说乎"]
    assert texts[("大学", "大學")] == ["大学之道", "在明明德"]
    assert ("孟子", "梁惠王上") in poems
    assert texts[("幽梦影", "幽梦影 1")] == ["读经宜冬", "其神专也"]
    # rank/, strains/ and error/ are not poetry text
    assert not any("不该读到" in t for ts in texts.values() for t in ts)
    assert not any(p.source.startswith(("rank/", "strains/")) for p in poems.values())
    # authors files are read, structural glyphs mapped
    assert {a.name for a in reader.authors} == {"孟浩然", "李清照", "李璟"}
    assert reader.structures == {"{上休下鳥}": "𪀪"}


def test_ids_are_stable_across_reads(shapes_corpus):
    first = [p.id for p in CorpusReader(shapes_corpus).poems()]
    assert first == [p.id for p in CorpusReader(shapes_corpus).poems()]
    assert len(set(first)) == len(first) == 24


def test_one_reader_read_twice_gives_the_same_records():
    reader = CorpusReader(SAMPLE)
    first = list(reader.poems())
    first_authors = list(reader.authors)
    second = list(reader.poems())
    assert len(first) == 977 and len(first_authors) == 171  # hand-checked counts of the sample
    assert [p.id for p in second] == [p.id for p in first]
    assert second == first
    assert reader.authors == first_authors
    assert reader.warnings.skipped == []


def test_a_dataset_id_seen_twice_gets_a_positional_id(tmp_path):
    # the dataset repeats some ids across editions: the first keeps it, later ones get collection/file/position
    folder = tmp_path / "quantangshi"
    folder.mkdir()
    rec = {"author": "a", "paragraphs": ["一二三。"], "title": "t", "id": "same"}
    (folder / "唐诗三百首.json").write_text(json.dumps([rec, rec]), "utf-8")
    (folder / "poet.tang.0.json").write_text(json.dumps([rec]), "utf-8")
    reader = CorpusReader(tmp_path)
    # poet.tang.0 sorts before 唐诗三百首 (by kind: "tang" < "唐诗三百首.json")
    want = ["same", "quantangshi/唐诗三百首/0", "quantangshi/唐诗三百首/1"]
    assert [p.id for p in reader.poems()] == want
    assert [p.id for p in reader.poems()] == want


# three records as the corpus gives them: an editor's note split over paragraphs (蒙学's 唐诗三百首
# and 全唐诗), and a parenthesis that nothing closes within reach, which must stay as it is
SPLIT_NOTES = {
    "mengxue/tangshisanbaishou.json": {"title": "唐詩三百首", "content": [{"type": "七言絕句", "content": [
        {"chapter": "夜上受降城聞笛", "author": "李益", "paragraphs": [
            "回樂烽前沙似雪，受降城外月如霜。(回樂", "一作：回樂", "）", "不知何處吹蘆管，一夜征人盡望鄉。"]}]}]},
    "quantangshi/poet.tang.0.json": [
        {"author": "韋莊", "title": "秦婦吟", "paragraphs": [
            "（「塞色」，蔣校作「墨色」。", "）路旁時見遊奕軍，坡下寂無迎送客。"]},
        {"author": "某", "title": "未合", "paragraphs": [
            "一二三四五（注", "六七八九十。", "甲乙丙丁戊。", "己庚辛壬癸。", "子丑寅卯辰。", "巳午未申酉）。"]}],
}


def test_a_note_split_over_paragraphs_is_one_note(tmp_path):
    for rel, data in SPLIT_NOTES.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    reader = CorpusReader(tmp_path)
    norm = reader.normalizer()
    poems = {p.title: p for p in reader.poems()}
    assert len(poems) == 3
    lines = {t: [(ln.text, ln.paragraph) for ln in poem_lines(p, norm)] for t, p in poems.items()}
    # the note's pieces are no lines, the verse keeps its couplets
    assert lines["夜上受降城聞笛"] == [("回乐烽前沙似雪", 0), ("受降城外月如霜", 0),
                                       ("不知何处吹芦管", 1), ("一夜征人尽望乡", 1)]
    assert poems["夜上受降城聞笛"].paragraphs[0] == "回樂烽前沙似雪，受降城外月如霜。(回樂一作：回樂）"
    # the verse after the note's close is read; the note's words are not
    assert lines["秦婦吟"] == [("路旁时见游奕军", 0), ("坡下寂无迎送客", 0)]
    # opened five paragraphs before it closes: out of reach, read as the record gives it
    raw = SPLIT_NOTES["quantangshi/poet.tang.0.json"][1]["paragraphs"]
    assert len(raw) == 6 and poems["未合"].paragraphs == raw


def test_broken_json_is_reported_not_fatal(shapes_corpus):
    (shapes_corpus / "quantangshi" / "poet.tang.1000.json").write_text("[{broken", encoding="utf-8")
    seen = []
    stats = corpus_stats(shapes_corpus, echo=seen.append)
    assert stats["poems"] > 20
    assert [s["file"] for s in stats["skipped"]] == ["quantangshi/poet.tang.1000.json"]
    assert any("poet.tang.1000.json" in m for m in seen)
    with pytest.raises(CorpusError, match="poet.tang.1000.json"):
        corpus_stats(shapes_corpus, strict=True)


def test_records_of_unexpected_shape_are_counted(shapes_corpus):
    (shapes_corpus / "songci" / "ci.song.1000.json").write_text(json.dumps(
        [{"author": "a", "paragraphs": ["好詞。"], "rhythmic": "x"}, {"author": "b", "paragraphs": 5}, "nonsense"]), "utf-8")
    stats = corpus_stats(shapes_corpus)
    assert stats["skipped"] == [{"file": "songci/ci.song.1000.json", "reason": "unexpected record shape", "records": 2}]


def test_not_a_corpus(tmp_path):
    (tmp_path / "something").mkdir()
    with pytest.raises(CorpusError, match="expected one or more of the folders quantangshi"):
        CorpusReader(tmp_path)
    with pytest.raises(CorpusError, match="no corpus folder"):
        CorpusReader(tmp_path / "missing")


def test_sample_has_the_promised_collections():
    stats = corpus_stats(SAMPLE)
    assert set(stats["collections"]) == {"quantangshi", "songci", "shijing", "caocaoshiji"}
    assert stats["collections"]["shijing"]["poems"] == 305
    assert stats["collections"]["songci"]["poems"] == 280
    assert stats["lines"] > 15_000 and stats["skipped"] == []
    size = sum(f.stat().st_size for f in SAMPLE.rglob("*") if f.is_file())
    assert size < 1_000_000


def test_sample_known_lines_in_both_scripts():
    reader = CorpusReader(SAMPLE)
    norm = reader.normalizer()
    found = {}
    for poem in reader.poems():
        for line in poem_lines(poem, norm):
            found.setdefault(line.text, (line.original, poem.author, poem.title))
    assert found["春眠不觉晓"] == ("春眠不覺曉", "孟浩然", "春曉")
    assert found["独怆然而涕下"][1:] == ("陳子昂", "登幽州臺歌")
    assert found["明月几时有"][1:] == ("苏轼", "水调歌头")  # ci: simplified in the corpus
    assert found["东临碣石"][1] == "曹操"
    assert found["关关雎鸠"][2] == "关雎"


def test_corpus_command(shapes_corpus):
    r = run_cli("corpus", str(shapes_corpus), "--json")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert set(data) >= {"collections", "poems", "lines", "distinct_lines", "skipped"}
    assert data["collections"]["yuanqu"] == {"poems": 1, "lines": 2, "distinct_lines": 2}
    assert data["poems"] == sum(c["poems"] for c in data["collections"].values())
    r = run_cli("corpus", str(shapes_corpus))
    assert "yuanqu" in r.stdout and "total" in r.stdout
    r = run_cli("corpus", str(shapes_corpus / "nope"))
    assert r.returncode == 1 and "Traceback" not in r.stderr and "no corpus folder" in r.stderr
