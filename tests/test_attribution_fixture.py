"""The issue's named lines, on the corpus's real records for every occurrence of them
(tests/data/attribution, made by scripts/make_attribution_fixture.py): read with CorpusReader
exactly as a build reads the corpus, then fame, attribution, variant keys and near matches."""

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))

from poetry_search.build.attribution import attribute, cite_rank, era_of  # noqa: E402
from poetry_search.build.fame import CURATED_BOOKS, corpus_fame  # noqa: E402
from poetry_search.corpus.authors import canonical_author  # noqa: E402
from poetry_search.corpus.normalize import fold  # noqa: E402
from poetry_search.corpus.reader import CorpusReader, poem_lines  # noqa: E402
from poetry_search.corpus.variants import match_key  # noqa: E402
from poetry_search.store.near import NearIndex  # noqa: E402

FIXTURE = Path(__file__).resolve().parent / "data" / "attribution"


@pytest.fixture(scope="module")
def corpus():
    reader = CorpusReader(FIXTURE, strict=True)
    norm = reader.normalizer()
    poems = list(reader.poems())
    texts: dict[str, int] = {}
    occ_text, occ_poem, first = [], [], []
    paragraphs = []  # (poem index, key of the paragraph's lines joined)
    for i, p in enumerate(poems):
        lines = poem_lines(p, norm)
        for ln in lines:
            occ_text.append(texts.setdefault(ln.text, len(texts)))
            occ_poem.append(i)
        ids = [texts[ln.text] for ln in lines[:2]] + [-1, -1]
        first.append((ids[0], ids[1]))
        for par in sorted({ln.paragraph for ln in lines}):
            paragraphs.append((i, match_key("".join(ln.text for ln in lines if ln.paragraph == par))))
    books = [fold(p.book) for p in poems]
    fame, source = corpus_fame([p.source for p in poems], [p.position for p in poems], [p.author for p in poems],
                               [p.title for p in poems], books, first, FIXTURE / "rank", fold, canonical_author)
    occ_text, occ_poem = np.array(occ_text), np.array(occ_poem)
    era = np.array([era_of(fold(p.dynasty)) for p in poems])
    curated = np.array([b in CURATED_BOOKS for b in books])
    anon = np.array([canonical_author(p.author) in ("", "无名氏", "不详") for p in poems])
    rank = cite_rank(era[occ_poem], fame[occ_poem], curated[occ_poem], np.arange(occ_poem.size), anon[occ_poem])
    text_list = list(texts)
    return dict(poems=poems, norm=norm, texts=text_list, keys=[match_key(t) for t in text_list], occ_text=occ_text,
                occ_poem=occ_poem, fame=fame, source=source, rank=rank, paragraphs=paragraphs,
                best=attribute(occ_text, rank, len(texts)), today=attribute(occ_text, np.arange(occ_poem.size), len(texts)))


def _tid(c, line):
    key = match_key(c["norm"].text(line))
    got = [i for i, k in enumerate(c["keys"]) if k == key]
    assert len(got) == 1, (line, got)
    return got[0]


@pytest.mark.parametrize("line, poet, today", [
    ("二月春风似剪刀", "贺知章", "李龏"), ("更上一层楼", "王之涣", "释士珪"), ("对酒当歌", "曹操", None),
    ("处处闻啼鸟", "孟浩然", "释元肇"), ("飞流直下三千尺", "李白", "郭祥正"), ("春风花草香", "杜甫", None),
    ("白日依山尽", "王之涣", "李龏"), ("夜阑卧听风吹雨", "陆游", "陆游"),
])
def test_a_line_is_attributed_to_the_poem_a_reader_cites(corpus, line, poet, today):
    t = _tid(corpus, line)
    poems, occ_poem = corpus["poems"], corpus["occ_poem"]
    holders = {canonical_author(poems[p].author) for p in occ_poem[corpus["occ_text"] == t]}
    assert poet in holders and len(holders) >= 1
    assert canonical_author(poems[occ_poem[corpus["best"][t]]].author) == poet
    if today is not None:  # what reading order names today (the wrong attributions)
        assert canonical_author(poems[occ_poem[corpus["today"][t]]].author) == today


def test_a_line_written_with_a_variant_form_is_found(corpus):
    # the corpus writes 守著窗兒 (t2s keeps 著); the reader types 守着窗儿
    key = match_key(corpus["norm"].text("守着窗儿"))
    assert not any("守着窗儿" in t for t in corpus["texts"])  # the embedded text is left as it is
    hits = [i for i, k in enumerate(corpus["keys"]) if key in k]
    assert len(hits) == 1 and "守著窗儿" in corpus["texts"][hits[0]]
    owners = {canonical_author(corpus["poems"][p].author) for p in corpus["occ_poem"][corpus["occ_text"] == hits[0]]}
    assert owners == {"李清照"}


def test_a_couplet_without_its_comma_and_a_line_with_a_dunhao_are_found_as_paragraphs(corpus):
    # a couplet typed without its comma is in no single line, only in its paragraph
    key = match_key(corpus["norm"].text("独上高楼望尽天涯路"))
    assert not any(key in k for k in corpus["keys"])
    owners = [corpus["poems"][i] for i, k in corpus["paragraphs"] if key in k]
    assert len(owners) >= 1 and "晏殊" in {canonical_author(p.author) for p in owners}
    # 、 does not end a line: 便胜却、人间无数 is one line
    key = match_key(corpus["norm"].text("便胜却人间无数"))
    holders = [k for k in corpus["keys"] if k == key]
    assert len(holders) == 1


def test_the_near_line_of_another_edition(corpus):
    near = NearIndex.build(corpus["keys"])
    got = near.near(match_key(corpus["norm"].text("远近高低各不同")))
    assert len(got) == 1 and corpus["texts"][got[0]] == "远近高低总不同"
    owner = corpus["poems"][corpus["occ_poem"][corpus["best"][got[0]]]]
    assert canonical_author(owner.author) == "苏轼"
    assert near.near(match_key("远近高低总不同")).size == 0  # the exact line is not its own near match


def test_poems_without_rank_data_get_a_prior_and_cite_order_lists_the_source_first(corpus):
    poems, fame, source = corpus["poems"], corpus["fame"], corpus["source"]
    caocao = [i for i, p in enumerate(poems) if p.book == "曹操诗集"]
    assert len(caocao) == 1 and source[caocao[0]] == 2 and not np.isnan(fame[caocao[0]])
    # --poems for 对酒当歌 in cite order: 曹操 first (today: 12th of 12 by popularity)
    t = _tid(corpus, "对酒当歌")
    occ = np.flatnonzero(corpus["occ_text"] == t)
    ordered = occ[np.argsort(corpus["rank"][occ])]
    assert len(ordered) >= 10
    assert canonical_author(poems[corpus["occ_poem"][ordered[0]]].author) == "曹操"


def test_li_yu_under_his_title(corpus):
    titled = [p for p in corpus["poems"] if p.author == "後主煜"]
    assert len(titled) == 54
    assert {canonical_author(p.author) for p in titled} == {"李煜"}
