"""Text in at every entrance: decoding, surrogates, invisible characters, batches, short errors."""

from __future__ import annotations

import io
import json
import unicodedata
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from poetry_search.corpus.textin import (
    QUOTE_CHARS,
    check_visible,
    fold_invisible,
    iter_lines,
    quote,
    read_text,
)
from poetry_search.errors import UsageProblem

SAMPLE = Path(__file__).resolve().parent.parent / "data" / "sample"

# An oracle written by hand, independent of the by-category choice in the code: characters that
# pasted text is known to carry and that must vanish.
INVISIBLE = ["\ufeff", "\u200b", "\u200c", "\u200d", "\u2060", "\u200e", "\u200f", "\u202a", "\u202e",
             "\u2066", "\u2069", "\u00ad", "\u180e", "\ufe00", "\ufe0f", "\U000e0100", "\U000e01ef",
             "\U000e0001", "\U000e0041", "\U000e007f", "\x00", "\x07", "\x1b"]
SPACES = ["\u00a0", "\u3000", "\u2002", "\u2003", "\u2009", "\u202f", "\u205f", "\u2028", "\u2029", "\t", "\u0085"]


def _paragraph_lines() -> list[str]:
    """Raw lines (as in the corpus files, traditional script and all) of the sample's collections."""
    out = []
    for path in sorted(SAMPLE.rglob("*.json")):
        if "author" in path.name:
            continue
        for poem in json.loads(path.read_text(encoding="utf-8")):
            for para in poem.get("paragraphs") or poem.get("content") or []:
                out.extend(p for p in para.replace("。", "，").split("，") if p)
    return out


LINES = _paragraph_lines()
fold_invisible("")  # builds the category table once, outside Hypothesis' per-example deadline
any_text = st.text(alphabet=st.characters(exclude_categories=()), max_size=200)  # surrogates included


def test_the_sample_gives_real_lines():
    assert len(LINES) > 10_000
    assert "白日依山盡" in LINES and "明月出天山" in LINES


# -- fold_invisible ----------------------------------------------------------------------------

def test_pasted_copies_fold_to_the_line():
    assert fold_invisible("\ufeff床前明月光") == "床前明月光"
    assert fold_invisible("床前\u200b明月光") == "床前明月光"
    assert fold_invisible("床前\u00a0明月光\u3000疑是地上霜") == "床前 明月光 疑是地上霜"


def test_oracle_characters_are_what_the_brief_names():
    # the hand list really is format characters, variation selectors, tags and controls
    cats = {unicodedata.category(c) for c in INVISIBLE}
    assert cats == {"Cf", "Mn", "Cc"}
    assert {c for c in INVISIBLE if unicodedata.category(c) == "Mn"} == {"\ufe00", "\ufe0f", "\U000e0100", "\U000e01ef"}
    assert len(INVISIBLE) == 23


def test_every_space_kind_becomes_one_ordinary_space():
    folded = [fold_invisible(f"月{s}光") for s in SPACES]
    assert folded == ["月 光"] * len(SPACES)
    assert len(folded) == 11


def test_visible_characters_are_kept():
    # marks, private-use glyphs (rare characters in some corpora), CJK extension B, punctuation
    kept = "e\u0301\ue000\U00020000，。《》□"
    assert fold_invisible(kept) == kept


@given(st.sampled_from(LINES), st.lists(st.tuples(st.integers(0, 40), st.sampled_from(INVISIBLE)), max_size=8))
def test_a_line_sprinkled_with_invisibles_folds_to_the_clean_line(line, sprinkles):
    dirty = list(line)
    for pos, ch in sprinkles:
        dirty.insert(pos % (len(dirty) + 1), ch)
    assert fold_invisible("".join(dirty)) == line


@given(st.sampled_from(LINES), st.lists(st.tuples(st.integers(0, 40), st.sampled_from(SPACES)), min_size=1, max_size=4))
def test_spaces_sprinkled_in_fold_to_ordinary_spaces(line, sprinkles):
    dirty, clean = list(line), list(line)
    for pos, ch in sprinkles:
        at = pos % (len(dirty) + 1)
        dirty.insert(at, ch)
        clean.insert(at, " ")
    assert fold_invisible("".join(dirty)) == "".join(clean)


@given(any_text)
def test_fold_is_idempotent_and_never_raises(text):
    once = fold_invisible(text)
    assert fold_invisible(once) == once
    assert len(once) <= len(text)
    assert not any(c in once for c in INVISIBLE)


# -- read_text ---------------------------------------------------------------------------------

def test_gbk_bytes_name_the_offset_and_the_fix():
    raw = "床前明月光".encode("utf-8") + "疑是地上霜".encode("gbk")
    with pytest.raises(UsageProblem) as e:
        read_text(raw, what="the query")
    assert str(e.value).startswith("the query is not valid utf-8 at byte 15 (bytes d2 c9")
    assert "iconv -f GB18030 -t UTF-8" in str(e.value) and "--encoding gb18030" in str(e.value)
    assert read_text("疑是地上霜".encode("gbk"), what="the query", encoding="gb18030") == "疑是地上霜"
    assert read_text("疑是地上霜".encode("gbk"), what="the query", encoding="GBK") == "疑是地上霜"


def test_bytes_that_no_encoding_explains_still_get_a_fix():
    with pytest.raises(UsageProblem, match=r"at byte 3 \(bytes ff\): re-encode it as UTF-8"):
        read_text(b"abc\xff", what="the query")


def test_unknown_encoding_is_a_usage_problem():
    for name in ("no-such-codec", "rot13", "base64", ""):
        with pytest.raises(UsageProblem, match="unknown text encoding"):
            read_text(b"x", what="the query", encoding=name)


def test_lone_surrogate_names_the_field():
    body = json.loads('{"texts": ["床前明月光", "\\ud800"]}')
    with pytest.raises(UsageProblem) as e:
        read_text(body["texts"][1], what="texts[1]")
    assert str(e.value).startswith("texts[1] contains a lone surrogate (U+D800) at character 0")


def test_argv_bytes_kept_by_surrogateescape_decode_with_the_encoding():
    raw = "明月光".encode("gb18030")
    argv = raw.decode("utf-8", "surrogateescape")  # what Python puts in sys.argv for these bytes
    assert read_text(argv, what="the query", encoding="gb18030") == "明月光"
    with pytest.raises(UsageProblem, match=r"^the query is not valid utf-8 at byte 0 .*--encoding gb18030"):
        read_text(argv, what="the query")


def test_valid_text_passes_unchanged():
    for line in LINES[:500]:
        assert read_text(line, what="q") == line
        assert read_text(line.encode("utf-8"), what="q") == line
        assert read_text(line.encode("utf-8-sig"), what="q", encoding="utf-8-sig") == line


@settings(max_examples=300)
@given(st.one_of(any_text, st.binary(max_size=200)),
       st.sampled_from(["utf-8", "gb18030", "big5", "utf-16", "ascii", "latin-1", "nope", "rot13"]))
def test_read_text_raises_only_usage_problems(value, encoding):
    try:
        out = read_text(value, what="the query", encoding=encoding)
    except UsageProblem as e:
        assert "\n" not in str(e) and len(str(e)) < 300
    else:
        assert isinstance(out, str)
        out.encode("utf-8")  # strict: no surrogate survives


# -- check_visible -----------------------------------------------------------------------------

@pytest.mark.parametrize("text", ["\u200b", "\ufeff", "\u180e", "\x00", "\u3000 \u00a0", "\ufe0f\u200d"])
def test_nothing_visible_is_refused(text):
    with pytest.raises(UsageProblem, match=r"^the query is empty after removing invisible characters \(it held only U\+"):
        check_visible(text)


def test_empty_and_visible():
    with pytest.raises(UsageProblem, match="^the query is empty: pass a line"):
        check_visible("")
    assert check_visible("\ufeff嗟") == "\ufeff嗟"
    assert check_visible("a", what="texts[0]") == "a"


@given(any_text)
def test_check_visible_agrees_with_fold(text):
    folded = fold_invisible(text)
    try:
        check_visible(text)
    except UsageProblem:
        assert folded.strip() == "" or all(unicodedata.category(c) == "Cs" for c in folded.strip())
    else:
        assert folded.strip() != ""


# -- errors stay short -------------------------------------------------------------------------

def test_quote_is_a_short_printable_prefix():
    assert quote("床" * 100_000) == '"' + "床" * QUOTE_CHARS + '…"'
    assert quote("a\u200bb") == '"a\\u200bb"'
    assert quote("ab") == '"ab"'


@pytest.mark.parametrize("value", ["\ud800" * 100_000, ("床" * 100_000).encode("utf-8") + b"\xff",
                                   "\u200b" * 100_000, ("床" * 50_000).encode("gbk")])
def test_errors_on_long_input_are_short(value):
    with pytest.raises(UsageProblem) as e:
        check_visible(read_text(value, what="the query"))
    assert len(str(e.value)) < 250


@settings(max_examples=50)
@given(st.text(min_size=1000, max_size=3000), st.sampled_from(["\ud800", "\u200b", "\x00"]))
def test_errors_stay_short_whatever_the_length(prefix, bad):
    try:
        check_visible(read_text(bad + prefix if bad != "\u200b" else bad * len(prefix), what="the query"))
    except UsageProblem as e:
        assert len(str(e)) < 250


# -- iter_lines --------------------------------------------------------------------------------

def test_a_batch_reports_each_bad_line_and_goes_on():
    data = ("床前明月光\n\n".encode() + "疑是地上霜".encode("gbk") + b"\r\n" + "\u200b\n".encode()
            + "举头望明月\r\n".encode() + b"\xff\xfe\n" + "低头思故乡".encode())
    got = list(iter_lines(io.BytesIO(data), source="stdin"))
    assert [n for n, _ in got] == [1, 3, 4, 5, 6, 7]
    assert [x for _, x in got if isinstance(x, str)] == ["床前明月光", "举头望明月", "低头思故乡"]
    errors = {n: str(x) for n, x in got if isinstance(x, UsageProblem)}
    assert len(errors) == 3
    assert errors[3].startswith("line 3 of stdin is not valid utf-8 at byte 0")
    assert errors[4].startswith("line 4 of stdin is empty after removing invisible characters")
    assert errors[6].startswith("line 6 of stdin is not valid utf-8 at byte 0 (bytes ff fe)")
    assert "--encoding utf-16" in errors[6]  # FF FE is the UTF-16 byte-order mark


def test_a_gb18030_file_reads_with_its_encoding():
    lines = LINES[:200]
    data = "\n".join(lines).encode("gb18030", errors="replace")
    expected = [line.encode("gb18030", "replace").decode("gb18030") for line in lines]
    got = list(iter_lines(io.BytesIO(data), "gb18030", source="queries.txt"))
    assert [x for _, x in got] == [e.strip() for e in expected]
    assert len(got) == 200


def test_utf16_is_read_whole_and_split():
    got = list(iter_lines(io.BytesIO("床前明月光\n疑是地上霜\n".encode("utf-16")), "utf-16"))
    assert got == [(1, "床前明月光"), (2, "疑是地上霜")]


def test_a_text_stream_is_read_through_its_buffer():
    stream = io.TextIOWrapper(io.BytesIO("床前明月光\n".encode() + "疑是地上霜".encode("gbk")), encoding="utf-8")
    got = list(iter_lines(stream))
    assert len(got) == 2
    assert got[0] == (1, "床前明月光") and isinstance(got[1][1], UsageProblem)


# -- with today's normaliser -------------------------------------------------------------------

def _cjk(ch: str) -> bool:
    return "\u4e00" <= ch <= "\u9fff"


@given(st.sampled_from(LINES), st.lists(st.tuples(st.integers(0, 40), st.sampled_from(INVISIBLE + SPACES)), max_size=6))
def test_folded_then_normalised_is_the_clean_lines_text(line, sprinkles):
    """What the normaliser will embed and match once it folds first: the clean line's text."""
    from poetry_search.corpus.normalize import Normalizer

    norm = Normalizer()
    dirty = list(line)
    for pos, ch in sprinkles:
        # spaces only between two ideographs: inside an editor's bracket ([攪]) a space is content
        gaps = [i for i in range(1, len(dirty)) if _cjk(dirty[i - 1]) and _cjk(dirty[i])] if ch in SPACES else \
            list(range(len(dirty) + 1))
        if gaps:
            dirty.insert(gaps[pos % len(gaps)], ch)
    assert norm.text(fold_invisible("".join(dirty))) == norm.text(line)
