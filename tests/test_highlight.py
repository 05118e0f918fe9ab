"""Highlights land on the original text: ``fold_with_offsets`` folds exactly like the normaliser and
maps each folded character back; the hits' ``highlight`` spans are in the original's coordinates.
Oracles: the normaliser itself (for the folded text), the sample's JSON, strings written here."""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from poetry_search.corpus.normalize import Normalizer, fold_with_offsets
from poetry_search.search.results import highlight

SAMPLE = Path(__file__).resolve().parent.parent / "data" / "sample"

# What a corpus line or a pasted query holds: traditional and simplified characters, variants,
# invisible characters, every kind of space, punctuation, annotations, structure descriptions,
# full-width ASCII, combining marks and half-width kana, and now and then any character at all
# (but a lone surrogate, which is not text: the entrances refuse it, corpus.textin).
PIECES = ["黃", "河", "入", "海", "流", "著", "着", "沈", "吟", "後", "髮", "雲", "床", "牀", "明", "月", "a", "ａ", "１",
          "\u200b", "\ufeff", "\u2060", "\u00ad", "\ufe0f", "\U000e0041", "\x07", " ", "\u3000", "\xa0", "\n", "\u2028",
          "，", "。", "、", "！", "…", "“", "”", "《", "》", "（一作看）", "(京本)", "〖1〗", "[1]", "[攪]", "{上休下鳥}",
          "{口口}", "（", "）", "[", "]", "{", "}", "\u0301", "e", "ｶ", "ﾞ", "㈠", "ﬁ", "ㄱ", "ㅏ", "\U00020000"]
TEXTS = st.lists(st.one_of(st.sampled_from(PIECES), st.characters(exclude_categories=["Cs"])), max_size=30).map("".join)
STRUCTURES = Normalizer({"{上休下鳥}": "休"})


def _check(text: str, normalizer: Normalizer) -> None:
    folded, spans = fold_with_offsets(text, normalizer)
    assert folded == normalizer.text(text)
    assert len(spans) == len(folded)
    assert all(0 <= a < b <= len(text) for a, b in spans)
    assert all(p[0] <= q[0] and p[1] <= q[1] for p, q in zip(spans, spans[1:]))


@settings(max_examples=400, deadline=None)
@given(TEXTS)
def test_fold_with_offsets_is_the_normaliser_with_monotone_offsets(text):
    _check(text, Normalizer())
    _check(text, STRUCTURES)


def test_offsets_point_at_the_characters_folded():
    text = "[攪]亂{上休下鳥}春\u200b，沈吟（一作看）至今"
    folded, spans = fold_with_offsets(text, STRUCTURES)
    assert folded == "搅乱休春沉吟至今" and len(spans) == 8
    assert [text[a:b] for a, b in spans] == ["攪", "亂", "{上休下鳥}", "春", "沈", "吟", "至", "今"]


def _line(collection: str, book: str, needle: str) -> str:
    poems = json.loads((SAMPLE / collection / book).read_text("utf-8"))
    paragraph = next(p for poem in poems for p in poem["paragraphs"] if needle in p)
    return next(part for part in paragraph.replace("。", "，").split("，") if needle in part)


def test_a_traditional_line_found_by_a_simplified_query_marks_its_own_characters(client):
    line = _line("quantangshi", "唐诗三百首.json", "黃河入海")
    assert line == "黃河入海流"
    r = client.get("/api/search", params={"q": "黄河入海", "mode": "lexical", "k": 5})
    hits = [h for h in r.json()["hits"] if h["original"] == line]
    assert r.status_code == 200 and len(hits) == 1
    (a, b), = hits[0]["highlight"]
    assert line[a:b] == "黃河入海" and (a, b) == (0, 4)


def test_a_variant_and_an_invisible_character_inside_the_match(client):
    # 著 in the corpus, 着 typed, a zero-width space pasted inside the query
    line = _line("songci", "宋词三百首.json", "思量著")
    r = client.get("/api/search", params={"q": "思\u200b量着", "mode": "lexical", "k": 20})
    hits = [h for h in r.json()["hits"] if h["original"] == line]
    assert r.status_code == 200 and len(hits) == 1
    spans = hits[0]["highlight"]
    assert [line[a:b] for a, b in spans] == ["思量著"] and len(spans) == 1
    # an invisible character inside the line's match: one span over it, only the matched ones
    text = "黃河\u200b入海流"
    assert highlight(text, ["黄河入海"]) == [[0, 5]] and text[0:5].replace("\u200b", "") == "黃河入海"
    # an annotation inside is not marked: two spans around it
    text = "黃河（一作江）入海流"
    assert [text[a:b] for a, b in highlight(text, ["黄河入海"])] == ["黃河", "入海"]


def test_find_and_meaning_hits_are_marked(client):
    r = client.get("/api/find", params={"pattern": "黄河?海*", "k": 5})
    hits = r.json()["hits"]
    assert r.status_code == 200 and len(hits) >= 1
    for h in hits:
        assert h["original"].startswith("黃河") and h["highlight"][:2] == [[0, 2], [3, 4]]
    # no run of the query in the line: the characters it shares with the query
    assert highlight("秦時明月漢時關", ["月照明"]) == [[2, 4]]
    assert highlight("秦時明月漢時關", ["风雨"]) == []
