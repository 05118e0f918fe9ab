"""Hypothesis properties of what users type into ``find`` and into the filters: any ``str``
(invisible characters, surrogates, wildcards of both widths) gives a parse or a ``UsageProblem``,
never another exception, and a pattern parses to itself again from its own rendering."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from poetry_search.corpus.normalize import fold
from poetry_search.errors import UsageProblem
from poetry_search.search.filters import Filters
from poetry_search.search.patterns import parse_pattern

# Characters users paste: CJK of both scripts, wildcards of both widths, punctuation, invisible
# and space characters; and then any text at all (Hypothesis leaves out surrogates, which the
# faces refuse before the parsers see them: read_text; see test_a_lone_surrogate_… below).
PASTED = st.sampled_from(list("春眠不觉晓覺曉明月?？*＊，。、 \u3000\u00a0\u200b\ufeff\u2060\x00{}"))
TEXT = st.one_of(st.text(PASTED, max_size=12), st.text(max_size=12))
SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck), database=None)


def render(pattern) -> str:
    """A pattern written back as a user would type it."""
    body = "*".join(pattern.segments)
    if pattern.fragment and "?" not in body:  # a plain fragment; with a '?' it needs its stars
        return body
    return ("" if pattern.anchored_start else "*") + body + ("" if pattern.anchored_end else "*")


@SETTINGS
@given(TEXT)
@example("?花*")
@example("*楼")
@example("？？")
@example("* *")
def test_parse_pattern_raises_only_usage_problems_and_is_idempotent(raw):
    try:
        p = parse_pattern(raw, fold)
    except UsageProblem:
        return
    assert p.segments and all(p.segments)
    assert not _lost_wildcard(p)  # invisible characters after a wildcard once dropped it
    again = parse_pattern(render(p), fold)
    assert (again.segments, again.anchored_start, again.anchored_end) == (p.segments, p.anchored_start, p.anchored_end)
    assert len(again.segments) == len(p.segments)


def _lost_wildcard(p) -> bool:
    # a run that folds to nothing after a '*' leaves an anchored single segment: the whole line
    return not p.fragment and len(p.segments) == 1 and p.anchored_start and p.anchored_end and "?" not in p.segments[0]


# parse_pattern folds invisible characters out before splitting at the wildcards
def test_invisible_characters_after_a_wildcard_keep_it():
    p = parse_pattern("春*\u200b", fold)
    assert (p.segments, p.anchored_start, p.anchored_end) == (("春",), True, False)


def test_render_round_trips_known_patterns():
    cases = {"?花*": (("?花",), True, False), "*楼": (("楼",), False, True), "谁先觉": (("谁先觉",), False, False),
             "明月?时有": (("明月?时有",), True, True), "春*晓": (("春", "晓"), True, True)}
    for raw, expected in cases.items():
        p = parse_pattern(raw, fold)
        assert (p.segments, p.anchored_start, p.anchored_end) == expected, raw
        assert render(p) == raw
    assert len(cases) == 5
    with pytest.raises(UsageProblem, match="no literal character"):
        parse_pattern("??*", fold)


@pytest.fixture(scope="module")
def store(opened):
    return opened.store


@SETTINGS
@given(author=st.none() | TEXT, dynasty=st.none() | TEXT, collection=st.none() | TEXT, form=st.none() | TEXT)
def test_filters_fold_raises_only_usage_problems(opened, author, dynasty, collection, form):
    try:
        f = Filters.fold(opened.store, author, dynasty, collection, form, facets=opened.facets)
    except UsageProblem as e:
        assert e.code in ("unknown_dynasty", "unknown_collection", "unknown_form", "bad_request", "invalid_text"), e.code
        assert len(str(e)) < 2_000
        return
    assert isinstance(f, Filters)
    assert f.author == (fold(author) or None)


def test_known_filters_fold_and_unknown_ones_are_named(opened):
    f = Filters.fold(opened.store, "王之渙", "tang", "唐诗三百首", None, facets=opened.facets)
    assert (f.author, f.dynasty, f.collection) == ("王之涣", "唐", "唐诗三百首")
    with pytest.raises(UsageProblem) as e:
        Filters.fold(opened.store, None, "堂", None, None, facets=opened.facets)
    assert e.value.code == "unknown_dynasty" and "唐" in str(e.value)


@pytest.mark.parametrize("call", ["pattern", "filters"])
def test_a_lone_surrogate_is_a_usage_problem_in_the_library_too(opened, call):
    """A Python caller meets the same one-line refusal as the CLI and the API."""
    with pytest.raises(UsageProblem, match=r"lone surrogate \(U\+D800\)") as e:
        if call == "pattern":
            parse_pattern("春\ud800", fold)
        else:
            Filters.fold(opened.store, "李\ud800", None, None, None, facets=opened.facets)
    assert e.value.code == "invalid_text"


def test_the_faces_refuse_a_lone_surrogate_before_the_parsers(sample_index):
    from click.testing import CliRunner

    from poetry_search.cli import cli

    for args in (["find", "春\ud800"], ["find", "--author", "李\ud800"], ["query", "明月", "--author", "李\ud800"]):
        r = CliRunner().invoke(cli, [*args, "--index", str(sample_index)])
        assert r.exit_code == 2, (args, r.output)
        assert "lone surrogate (U+D800)" in r.output and "Traceback" not in r.output
