"""`poetry-search eval`: every metric computed by hand on a made-up corpus whose answers and ranks
are known, and against brute force of the reference method on the sample with the tiny model."""

import json
import math
from collections import Counter

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import SAMPLE, run_cli

from poetry_search import Index, build_index
from poetry_search.cli import cli
from poetry_search.corpus.normalize import Normalizer
from poetry_search.corpus.reader import CorpusReader, poem_lines
from poetry_search.errors import UsageProblem
from poetry_search.evaluate.tasks import (
    CharBM25,
    VariantScan,
    choice_accuracy,
    evaluate,
    expected_recall,
    expected_reciprocal_rank,
    index_couplets,
    line_variants,
    rank_counts,
    ranking_metrics,
    variant_census,
)

# -- a made-up corpus in the chinese-poetry layout ----------------------------------------------

TANG = [
    # regulated 五言: two couplets
    {"title": "一", "author": "甲", "paragraphs": ["甲乙丙丁戊，甲乙丙己庚。", "子丑寅卯辰，巳午未申酉。"]},
    # lines of different lengths: not regulated verse
    {"title": "二", "author": "乙", "paragraphs": ["天地玄黃宇，宙洪荒。", "上下左右前，後內外。"]},
    # a paragraph of four lines: not couplets
    {"title": "三", "author": "丙", "paragraphs": ["一二三四五，六七八九十，百千万亿兆，东西南北中。", "子女老少壮，春夏秋冬寒。"]},
    # variants; 5- and 7-character lines mixed, so no couplets
    {"title": "四", "author": "丁", "paragraphs": ["金木水火土（一作「风」），山川草木石。",
                                                  "黃河遠上（一作「直上」）白雲間，孤城萬仞（一作「一片」，一作「萬里」）山。"]},
    # annotations that give no usable variant
    {"title": "五", "author": "戊", "paragraphs": ["红黄（「餧」，一作「餵」）蓝绿紫，青（一作「白黑灰」）橙粉褐。",
                                                  "鸟兽（一作「兽」）虫鱼龟。"]},
    # regulated 七言
    {"title": "六", "author": "己", "paragraphs": ["春江潮水连海平，海上明月共潮生。", "滟滟随波千万里，何处春江无月明。"]},
    # a couplet of two equal lines is left out; the other couplet counts
    {"title": "七", "author": "庚", "paragraphs": ["一一一一一，一一一一一。", "二二二二二，三三三三三。"]},
]
SONG = [{"title": "八", "author": "辛", "paragraphs": ["日月星辰光（一作「明」），风雨雷电声。"]}]
TSB = [  # 唐诗三百首: not 全唐诗/全宋诗, so its 一作 gives no variant; its couplets count
    {"title": "九", "author": "壬", "paragraphs": ["花鸟虫鱼草（一作「树」），琴棋书画诗。", "梅兰竹菊松，笔墨纸砚台。"]},
    TANG[0],  # the same poem in another edition: its couplets are not counted twice
    {"title": "十", "author": "癸", "paragraphs": ["日月星辰明，山高水长流。"]},
]
COUPLETS = {("甲乙丙丁戊", "甲乙丙己庚"), ("子丑寅卯辰", "巳午未申酉"), ("春江潮水连海平", "海上明月共潮生"),
            ("滟滟随波千万里", "何处春江无月明"), ("花鸟虫鱼草", "琴棋书画诗"), ("梅兰竹菊松", "笔墨纸砚台"),
            ("二二二二二", "三三三三三")}
VARIANTS = {("金木水火风", "金木水火土"), ("黄河直上白云间", "黄河远上白云间"), ("孤城一片山", "孤城万仞山"),
            ("孤城万里山", "孤城万仞山"), ("日月星辰明", "日月星辰光")}
N_LINES = 36  # distinct normalised lines of the corpus above, counted by hand


@pytest.fixture(scope="module")
def mini_corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("mini-corpus")
    (root / "quantangshi").mkdir()
    for name, poems in (("poet.tang.0.json", TANG), ("poet.song.0.json", SONG), ("唐诗三百首.json", TSB)):
        (root / "quantangshi" / name).write_text(json.dumps(poems, ensure_ascii=False), "utf-8")
    return root


@pytest.fixture(scope="module")
def mini(mini_corpus, tiny_model, tmp_path_factory):
    path = tmp_path_factory.mktemp("indexes") / "mini"
    build_index(mini_corpus, path, model=tiny_model, precision="fp32")
    return Index.open(path)


@pytest.fixture(scope="module")
def mini_texts(mini):
    return [r[0] for r in mini.store.conn.execute("SELECT text FROM texts ORDER BY id")]


# -- metric functions, literal values ------------------------------------------------------------


def test_expected_recall_and_reciprocal_rank_by_hand():
    # beaten by 3, tied with 15 others: ranks 4..19 equally likely
    assert expected_recall([3], [15], 10)[0] == pytest.approx(7 / 16)
    assert expected_recall([3], [15], 1)[0] == 0.0
    assert expected_recall([3], [15], 100)[0] == 1.0
    assert expected_reciprocal_rank([3], [15])[0] == pytest.approx(sum(1 / r for r in range(4, 20)) / 16)
    assert expected_recall([0], [0], 1)[0] == 1.0 and expected_reciprocal_rank([0], [0])[0] == 1.0
    assert expected_reciprocal_rank([1], [1])[0] == pytest.approx((1 / 2 + 1 / 3) / 2)
    # ranks 100..103: only rank 100 is inside the cutoff
    assert expected_reciprocal_rank([99], [3])[0] == pytest.approx((1 / 100) / 4)
    # a miss (greater = cutoff) scores nothing
    assert expected_reciprocal_rank([100], [0])[0] == 0.0 and expected_recall([100], [0], 100)[0] == 0.0
    m = ranking_metrics([0, 3, 100], [0, 15, 0], (1, 10, 100))
    assert len(m) == 4
    assert m["recall@1"] == pytest.approx(1 / 3)
    assert m["recall@10"] == pytest.approx((1 + 7 / 16 + 0) / 3)
    assert m["recall@100"] == pytest.approx((1 + 1 + 0) / 3)
    assert m["MRR"] == pytest.approx((1 + sum(1 / r for r in range(4, 20)) / 16) / 3)


def test_rank_counts_and_choice_accuracy_by_hand():
    scores = np.array([0.5, 0.9, 0.5, 0.1, 0.5, 0.9])
    assert rank_counts(scores, 0) == (2, 2)
    assert rank_counts(scores, 0, exclude=[1]) == (1, 2)
    assert rank_counts(scores, 0, exclude=[2, -1]) == (2, 1)
    assert rank_counts(scores, 3) == (5, 0)
    # right (unique best), wrong, a two-way tie for best that holds the answer, a four-way tie
    s = [[0.1, 0.9, 0.2, 0.3], [0.9, 0.1, 0.2, 0.3], [0.5, 0.5, 0.1, 0.1], [0.0, 0.0, 0.0, 0.0]]
    assert choice_accuracy(s, [1, 1, 0, 2]) == pytest.approx((1 + 0 + 0.5 + 0.25) / 4)


def test_bm25_by_hand():
    bm = CharBM25(["甲乙", "甲丙", "丁"])
    avgdl = 5 / 3
    idf_jia = math.log(1 + (3 - 2 + 0.5) / (2 + 0.5))
    w = 1 * 2.2 / (1 + 1.2 * (0.25 + 0.75 * 2 / avgdl))
    np.testing.assert_allclose(bm.scores("甲"), [idf_jia * w, idf_jia * w, 0.0])
    idf_ding = math.log(1 + (3 - 1 + 0.5) / (1 + 0.5))
    w1 = 2.2 / (1 + 1.2 * (0.25 + 0.75 * 1 / avgdl))
    np.testing.assert_allclose(bm.scores("丁丁甲"), [idf_jia * w, idf_jia * w, 2 * idf_ding * w1])
    assert bm.scores("戊").tolist() == [0.0, 0.0, 0.0]  # no character of the corpus
    # arbitrary documents use the corpus's idf and average length; an unseen character has df 0
    tf2 = 2 * 2.2 / (2 + 1.2 * (0.25 + 0.75 * 3 / avgdl))
    np.testing.assert_allclose(bm.score_docs("甲", ["甲甲乙", "丙"]), [idf_jia * tf2, 0.0])
    idf_new = math.log(1 + (3 + 0.5) / 0.5)
    np.testing.assert_allclose(bm.score_docs("戊", ["戊"]), [idf_new * w1])


def test_bm25_inverted_index_equals_scoring_each_line(opened, texts_table):
    bm = CharBM25.from_index(opened)
    assert bm.n == len(texts_table)
    assert np.array_equal(bm.lengths, [len(t) for t in texts_table])
    plain = CharBM25(texts_table)
    for q in ("大梦谁先觉", "春眠不觉晓处处闻啼鸟", texts_table[123], "明月明月"):
        s = bm.scores(q)
        np.testing.assert_array_equal(s, plain.scores(q))
        np.testing.assert_allclose(s, bm.score_docs(q, texts_table), rtol=1e-6, atol=1e-9)
        assert (s > 0).sum() > 10


# -- variants -----------------------------------------------------------------------------------


def test_variant_rebuilding_rule():
    norm = Normalizer()
    assert line_variants("黃河遠上（一作「直上」）白雲間", norm) == ["黄河直上白云间"]
    assert line_variants("衣袴白如鶴（一作「衣苦自如鸖」）", norm) == ["衣苦自如鸖"]  # the whole line
    assert line_variants("莫謾遊他州（一作「尋他鄉」）郡", norm) == ["莫谩寻他乡郡"]
    assert line_variants("孤城萬仞（一作「一片」，一作「萬里」）山", norm) == ["孤城一片山", "孤城万里山"]
    assert line_variants("風織池間樹（一作字）", norm) == ["风织池间字"]  # without quote marks
    assert line_variants("年來（一作「來年」）二月二（一作三）", norm) == ["来年二月二", "年来二月三"]
    scan = VariantScan()
    assert line_variants("（「餧」，一作「餵」）父爲理毛衣", norm, scan) == []
    assert line_variants("丙（一作「丁戊己」）丁戊", norm, scan) == []
    assert line_variants("鸟兽（一作「兽」）虫鱼龟", norm, scan) == []
    assert line_variants("春眠（一作□）不觉", norm, scan) == []
    assert line_variants("春眠（京本作「夏」）不觉", norm, scan) == []  # not 一作: not counted
    assert scan.annotations == 4
    assert scan.skipped == {"not only 一作 readings": 1, "reading longer than the text before it": 1,
                            "reading changes nothing": 1, "reading is not plain characters": 1}


def test_variant_census_of_the_made_up_corpus(mini_corpus):
    census = variant_census(mini_corpus)
    assert census["annotated_lines"] == 7
    assert census["annotations"] == 7
    assert census["usable_variants"] == len(VARIANTS) == 5
    assert census["skipped"] == {"not only 一作 readings": 1, "reading longer than the text before it": 1,
                                 "reading changes nothing": 1}


# -- the tasks on the made-up corpus ----------------------------------------------------------


def test_mini_index_has_the_lines_counted_by_hand(mini, mini_texts):
    assert len(mini) == len(mini_texts) == N_LINES


def test_couplets_are_exactly_the_regulated_ones(mini, mini_texts):
    pairs = index_couplets(mini)
    assert len(pairs) == len(COUPLETS)
    assert {(mini_texts[a], mini_texts[b]) for a, b in pairs} == COUPLETS


def test_couplet_task_ranks_by_hand(mini, mini_texts, reference):
    report = evaluate(mini, tasks=["couplets"], sample=100, seed=0)
    t = report.tasks[0]
    assert (t.task, t.n, t.available) == ("couplets", 7, 7)
    d = t.details
    assert len(d["queries"]) == len(d["targets"]) == len(d["baseline_greater"]) == 7
    by_query = {q: i for i, q in enumerate(d["queries"])}
    assert {(q, mini_texts[d["targets"][i]]) for q, i in by_query.items()} == COUPLETS
    assert all(mini_texts[d["exclude"][i]] == q for q, i in by_query.items())
    # 甲乙丙 is shared by the answer alone: rank 1, no tie
    i = by_query["甲乙丙丁戊"]
    assert (d["baseline_greater"][i], d["baseline_ties"][i]) == (0, 0)
    # 子丑寅卯辰 shares nothing with 巳午未申酉; 子女老少壮, 日月星辰光 and 日月星辰明 share a character:
    # beaten by those 3, tied with every other line but the query and the answer
    i = by_query["子丑寅卯辰"]
    assert (d["baseline_greater"][i], d["baseline_ties"][i]) == (3, N_LINES - 5)
    # the model's ranks: brute force of the reference method over every line
    matrix = np.stack([reference.one(x) for x in mini_texts])
    for q, i in by_query.items():
        qi, ti = mini_texts.index(q), d["targets"][i]
        sims = matrix @ matrix[qi]
        others = np.delete(sims, [qi, ti])
        assert np.count_nonzero(others > sims[ti] + 1e-5) <= d["model_greater"][i] <= np.count_nonzero(others > sims[ti] - 1e-5)
    # the reported figures are the metric functions over those ranks
    bg, bt = np.array(d["baseline_greater"]), np.array(d["baseline_ties"])
    assert t.baseline == pytest.approx(ranking_metrics(bg, bt, (1, 10, 100)))
    assert len(t.baseline) == 4
    # 二二二二二 shares nothing with 三三三三三, and 二 with 一二三四五 alone
    i = by_query["二二二二二"]
    assert (d["baseline_greater"][i], d["baseline_ties"][i]) == (1, N_LINES - 3)
    # ranks not all 1: recall@1 counts the queries beaten by nobody, 1/(ties+1) each
    assert t.baseline["recall@1"] == pytest.approx(np.mean([(g == 0) / (z + 1) for g, z in zip(bg, bt)]))
    assert 0 < t.baseline["recall@1"] < 1


def test_variant_task_by_hand(mini, mini_texts):
    report = evaluate(mini, tasks=["variants"], sample=100, seed=0)
    t = report.tasks[0]
    assert (t.n, t.available) == (5, 5)
    d = t.details
    assert {(q, mini_texts[g]) for q, g in zip(d["queries"], d["targets"])} == VARIANTS
    i = d["queries"].index("日月星辰明")
    # the variant is also a line of 唐诗三百首: that line is the query's own and is no candidate
    assert mini_texts[d["exclude"][i]] == "日月星辰明"
    assert (d["baseline_greater"][i], d["baseline_ties"][i]) == (0, 0)
    assert sum(e >= 0 for e in d["exclude"]) == 1
    i = d["queries"].index("金木水火风")
    assert (d["baseline_greater"][i], d["baseline_ties"][i]) == (0, 0)
    assert t.baseline == pytest.approx(ranking_metrics(d["baseline_greater"], d["baseline_ties"], (1, 10)))
    assert set(t.model) == {"recall@1", "recall@10", "MRR"}


def test_ccpm_by_hand(mini, reference, tmp_path):
    items = [
        {"translation": "甲乙丙的意思", "choices": ["子丑寅卯辰", "甲乙丙己庚", "春夏秋冬寒", "梅兰竹菊松"], "answer": 1},
        {"translation": "他们说话", "choices": ["红黄蓝绿紫", "一二三四五", "六七八九十", "东西南北中"], "answer": 2},
        {"translation": "金木水火", "choices": ["金木水火土", "山川草木石", "天地玄黄宇", "风雨雷电声"], "answer": 1},
    ]
    f = tmp_path / "ccpm.jsonl"
    f.write_text("\n".join(json.dumps(x, ensure_ascii=False) for x in items) + "\n", "utf-8")
    t = evaluate(mini, tasks=["ccpm"], ccpm=f, sample=100).tasks[0]
    assert (t.n, t.available) == (3, 3)
    # lexical: the only overlapping choice (right), a four-way tie of no overlap, the wrong choice
    assert t.baseline["accuracy"] == pytest.approx((1 + 0.25 + 0) / 3)
    # the model: brute force of the reference method picks the same choice for each item
    picks = [int(np.argmax([reference.one(c) @ reference.one(x["translation"]) for c in x["choices"]])) for x in items]
    assert [int(np.argmax(s)) for s in t.details["model_scores"]] == picks
    assert t.model["accuracy"] == pytest.approx(np.mean([p == x["answer"] for p, x in zip(picks, items)]))
    # the command: --ccpm adds the ccpm task to the ones asked for
    r = CliRunner().invoke(cli, ["eval", "--index", str(mini.path), "--task", "couplets", "--ccpm", str(f), "--json", "-q"])
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert list(data["tasks"]) == ["couplets", "ccpm"]
    assert data["tasks"]["ccpm"]["baseline"]["accuracy"] == pytest.approx((1 + 0.25 + 0) / 3)
    assert data["tasks"]["ccpm"]["n"] == 3


def test_bad_ccpm_files_are_one_line_usage_errors(mini, tmp_path):
    with pytest.raises(UsageProblem, match="needs a file"):
        evaluate(mini, tasks=["ccpm"])
    with pytest.raises(UsageProblem, match="no CCPM file"):
        evaluate(mini, tasks=["ccpm"], ccpm=tmp_path / "nope.jsonl")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"translation": "x", "choices": ["a", "b"], "answer": 0}\n{"translation": "x", "choices": ["a"]}\n')
    with pytest.raises(UsageProblem, match="line 2 is not a CCPM item"):
        evaluate(mini, tasks=["ccpm"], ccpm=bad)
    with pytest.raises(UsageProblem, match="unknown task"):
        evaluate(mini, tasks=["poems"])


# -- the sample, against brute force ----------------------------------------------------------


def test_sample_couplets_match_an_independent_reading_of_the_corpus(opened, texts_table):
    reader = CorpusReader(SAMPLE)
    norm = reader.normalizer()
    expected = set()
    for poem in reader.poems():
        lines = poem_lines(poem, norm)
        paras = Counter(line.paragraph for line in lines)
        lengths = {len(line.text) for line in lines}
        if len(paras) >= 2 and set(paras.values()) == {2} and len(lengths) == 1 and lengths <= {5, 7}:
            for p in paras:
                a, b = [line.text for line in lines if line.paragraph == p]
                if a != b:
                    expected.add((a, b))
    got = {(texts_table[a], texts_table[b]) for a, b in index_couplets(opened)}
    assert len(expected) > 1000
    assert got == expected


def test_sample_couplet_ranks_equal_brute_force(opened, reference_matrix, texts_table):
    report = evaluate(opened, tasks=["couplets"], sample=300, seed=3)
    t = report.tasks[0]
    d = t.details
    assert t.n == len(d["targets"]) == 300
    bm = CharBM25(texts_table)
    exact = 0
    for j in range(t.n):
        q, g = d["exclude"][j], d["targets"][j]
        assert texts_table[q] == d["queries"][j]
        sims = reference_matrix @ reference_matrix[q]
        others = np.delete(sims, [q, g])
        lo = np.count_nonzero(others > sims[g] + 1e-5)
        hi = np.count_nonzero(others > sims[g] - 1e-5)
        mg = d["model_greater"][j]
        if lo >= 100:
            assert mg == 100  # a miss
        elif hi < 100:
            assert lo <= mg <= hi
        exact += mg == min(lo, 100) == min(hi, 100)
        if j < 40:  # the baseline against scoring every line one by one
            s = bm.score_docs(d["queries"][j], texts_table)
            others = np.delete(s, [q, g])
            assert (d["baseline_greater"][j], d["baseline_ties"][j]) == (
                np.count_nonzero(others > s[g] * (1 + 1e-9)), np.count_nonzero(np.abs(others - s[g]) <= 1e-9 * max(s[g], 1e-12)))
    assert exact >= 290
    assert t.model == pytest.approx(ranking_metrics(d["model_greater"], d["model_ties"], (1, 10, 100)))
    # deterministic for a seed; another seed draws other couplets
    again = evaluate(opened, tasks=["couplets"], sample=300, seed=3).tasks[0]
    assert again.details == d and again.model == t.model and again.baseline == t.baseline
    other = evaluate(opened, tasks=["couplets"], sample=300, seed=4).tasks[0]
    assert other.details["targets"] != d["targets"]


def test_ann_recall_equals_brute_force_on_an_ivf_index(sample_index, tiny_model, reference_matrix, ivf_index):
    idx = Index.open(ivf_index, nprobe=1)
    t = evaluate(idx, tasks=["ann"], sample=200, seed=0).tasks[0]
    d = t.details
    assert t.n == len(d["query_ids"]) == len(d["per_query"]) == 200
    per_query = []
    for q, got in zip(d["query_ids"], d["got"]):
        sims = reference_matrix @ reference_matrix[q]
        kth = np.sort(sims)[-10]
        per_query.append(sum(1 for g in got if g >= 0 and sims[g] >= kth - 1e-5) / 10)
    assert t.model["recall@10"] == pytest.approx(np.mean(per_query), abs=0.01)
    assert t.model["recall@10"] < 0.9  # one list of ~500 visited: far from exact
    assert t.baseline is None
    idx.close()
    # the flat index is exact
    flat = evaluate(Index.open(sample_index), tasks=["ann"], sample=200, seed=0).tasks[0]
    assert flat.model["recall@10"] == 1.0


# -- the command ----------------------------------------------------------------------------


def test_eval_command_json_and_table(mini, tmp_path):
    r = CliRunner().invoke(cli, ["eval", "--index", str(mini.path), "--json", "-q", "--sample", "50"])
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert [t for t in data["tasks"]] == ["couplets", "variants", "ann"]
    rows = data["rows"]
    assert len(rows) == 4 + 3 + 1
    assert {(x["task"], x["n"]) for x in rows} == {("couplets", 7), ("variants", 5), ("ann", N_LINES)}
    r = CliRunner().invoke(cli, ["eval", "--index", str(mini.path), "--task", "couplets", "-q"])
    assert r.exit_code == 0, r.output
    assert "recall@100" in r.stdout and "baseline" in r.stdout and len(r.stdout.splitlines()) == 1 + 2 + 4 + 1
    assert "couplets: 7 queries of 7 available" in r.stdout


def test_eval_command_errors(mini, tmp_path):
    r = run_cli("eval", "--index", str(mini.path), "--task", "ccpm")
    assert r.returncode == 2 and "--ccpm FILE" in r.stderr and "Traceback" not in r.stderr
    r = run_cli("eval", "--index", str(tmp_path / "none"))
    assert r.returncode == 1 and "no index" in r.stderr
    r = run_cli("eval", "--index", str(mini.path), "--sample", "0")
    assert r.returncode == 2 and "--sample" in r.stderr
