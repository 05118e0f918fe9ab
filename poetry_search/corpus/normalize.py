"""The one place that decides what text is embedded and searched.

Corpus lines, queries, and filter values (titles, authors, dynasties) all pass through here, so a
simplified query finds a traditional line and ``--author 王之涣`` finds 王之渙.

Decisions, each on purpose:

* Script: OpenCC ``t2s`` (traditional to simplified). Simplified text passes through unchanged.
* Compatibility forms: Unicode NFKC, so full-width ASCII (``ａｂｃ``, ``１２``) is the ASCII the
  model's vocabulary knows (``abc``, ``12``): unfolded, every such character is ``[UNK]`` to
  bert-base-chinese. Applied after structural descriptions are replaced (their keys are as written).
* Editorial annotations are removed from the embedded text (they stay in ``original``):
  ``（一作…）`` and every other full-width or ASCII parenthetical, opened in either width and
  closed in either (in this corpus they are all editorial: 一作, 京本, 題擬, 見《…》…), ``〖1〗``
  footnote marks, ``[1]`` numeric footnote marks.
  A bracketed *character* such as ``[攪]`` in 全唐诗 is a character supplied by the editors: the
  brackets go, the character stays, because dropping it would cut a word out of the line.
* Structural descriptions such as ``{上休下鳥}`` are replaced by the character that
  ``表面结构字.json`` maps them to; unmapped ones become ``□`` (one unknown character).
* Quotes, book-title marks and whitespace are dropped.
* Invisible characters go first (``textin.fold_invisible``: format characters such as the BOM
  and zero-width spaces, variation selectors, controls), and every kind of space is a plain one,
  so text pasted from a web page is the text typed.
* Lines are the text between sentence punctuation (，。！？；： and their ASCII/full-width kin).
  The enumeration comma 、 does not end a line: ci use it inside one (便胜却、人间无数), so it is
  dropped from the embedded text like a quote mark.
  Punctuation inside an annotation does not split. A paragraph with no punctuation at all but with
  spaces (弟子規: ``弟子規 聖人訓 首孝弟``) is split at the spaces.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass

from .textin import fold_invisible

#: Bumped whenever the embedded text of any line could change; recorded in the manifest (the
#: embedding cache is keyed by the exact text encoded, so a bump re-encodes only the lines it changes).
NORMALIZE_VERSION = 4  # 2: NFKC (full-width ASCII folds to ASCII); 3: invisible characters, 、 inside a line;
# 4: a note opened in one width and closed in the other, (…）, does not split

SENTENCE_PUNCTUATION = "，。！？；：,.!?;:．｡﹐﹒﹔﹕﹖﹗…"
_PUNCT_CLASS = re.escape(SENTENCE_PUNCTUATION)

# Tokens of a paragraph: an annotation (kept whole, so punctuation inside it does not split),
# a run of sentence punctuation, or any other run of text.
_TOKEN = re.compile(
    r"[（(][^（）()]*[）)]|〖[^〗]*〗|\[[^\]]*\]|\{[^{}]*\}"
    rf"|[{_PUNCT_CLASS}]+|[^{_PUNCT_CLASS}（(〖\[{{]+|."
)
_ANNOTATION = re.compile(r"（[^（）]*）|\([^()]*\)|〖[^〗]*〗|\[[0-9０-９一二三四五六七八九十]*\]")
_SUPPLIED_CHAR = re.compile(r"\[([^\]\s]{1,2})\]")
_STRUCTURE = re.compile(r"\{[^{}]*\}")
_DROP = re.compile(r"[\s\"'“”‘’「」『』《》〈〉【】〔〕<>＜＞＂＇`·・•—－\-_~～*＊/\\|｜、､﹑]+")
_SPACE = re.compile(r"\s+")
_ANY_PUNCT = re.compile(rf"[{_PUNCT_CLASS}]")
UNKNOWN_CHAR = "□"


@functools.lru_cache(maxsize=1)
def _t2s():
    import opencc

    return opencc.OpenCC("t2s")


def to_simplified(text: str) -> str:
    """Traditional → simplified (OpenCC t2s)."""
    return _t2s().convert(text) if text else text


def fold(value: str | None) -> str:
    """Fold a title, author or dynasty for filtering: simplified script, no spaces or quotes."""
    if not value:
        return ""
    return _DROP.sub("", to_simplified(fold_invisible(value).strip()))


# -- folded text with its offsets in the original --------------------------------------------------
# Each step of ``Normalizer.text`` again, on the text and, beside it, the span of the original that
# each of its characters comes from; the steps are the same calls on the same strings, so the
# folded text is the normaliser's own.

Spans = list[tuple[int, int]]


def fold_with_offsets(text: str, normalizer: Normalizer | None = None) -> tuple[str, Spans]:
    """``normalizer.text(text)`` (a plain ``Normalizer()`` by default) and, for each of its
    characters, the span ``(start, end)`` of ``text`` it was folded from: ``text[start:end]``.
    Spans are in code points (a Python index, not UTF-16), non-decreasing in both ends; a
    character made of several (``{上休下鳥}``, a base and its combining mark) spans them all."""
    norm = normalizer if normalizer is not None else Normalizer()
    s, spans = text, [(i, i + 1) for i in range(len(text))]
    table = _invisible_table()
    s, spans = _per_char(s, spans, lambda ch: table.get(ord(ch), ch))
    s, spans = _sub(_STRUCTURE, norm._structure, s, spans)
    s, spans = _nfkc(s, spans)
    s, spans = _sub(_ANNOTATION, lambda m: "", s, spans)
    s, spans = _sub(_SUPPLIED_CHAR, lambda m: m.group(1), s, spans, group=1)
    s, spans = _sub(_SPACE, lambda m: "", s, spans)
    s, spans = _aligned(s, spans, to_simplified(s))
    s, spans = _sub(_DROP, lambda m: "", s, spans)
    return _sub(_ANY_PUNCT, lambda m: "", s, spans)


def _invisible_table() -> dict[int, str | None]:
    from .textin import _fold_table

    return _fold_table()


def _per_char(s: str, spans: Spans, f) -> tuple[str, Spans]:
    out, where = [], []
    for ch, sp in zip(s, spans):
        r = f(ch) or ""
        out.append(r)
        where += [sp] * len(r)
    return "".join(out), where


def _sub(pattern: re.Pattern, repl, s: str, spans: Spans, group: int | None = None) -> tuple[str, Spans]:
    """``pattern.sub(repl, s)``: a replacement spans its whole match, or, with ``group``, keeps the
    group's own characters' spans (a supplied character keeps its place, its brackets go)."""
    out, where, last = [], [], 0
    for m in pattern.finditer(s):
        out.append(s[last:m.start()])
        where += spans[last:m.start()]
        r = repl(m)
        if group is not None and r == m.group(group):
            where += spans[m.start(group):m.end(group)]
        elif r:
            where += [(spans[m.start()][0], spans[m.end() - 1][1])] * len(r)
        out.append(r)
        last = m.end()
    out.append(s[last:])
    where += spans[last:]
    return "".join(out), where


def _nfkc(s: str, spans: Spans) -> tuple[str, Spans]:
    """NFKC with spans: the text cut into clusters that NFKC treats apart (a character joins the
    one before when NFKC of the pair differs from the pair of NFKCs: a combining mark, ﾞ, a
    Hangul jamo), each cluster's output spanning the cluster."""
    whole = unicodedata.normalize("NFKC", s)
    if whole == s:
        return s, list(spans)
    clusters: list[list[int]] = []  # [start, end) in s
    for i, ch in enumerate(s):
        if clusters:
            a, b = clusters[-1]
            last = s[a:b]
            if unicodedata.normalize("NFKC", last + ch) != unicodedata.normalize("NFKC", last) + \
                    unicodedata.normalize("NFKC", ch):
                clusters[-1][1] = i + 1
                continue
        clusters.append([i, i + 1])
    outs = [unicodedata.normalize("NFKC", s[a:b]) for a, b in clusters]
    if "".join(outs) != whole:  # NFKC joined across clusters after all: one span for all
        return whole, [(spans[0][0], spans[-1][1])] * len(whole)
    where: Spans = []
    for (a, b), out in zip(clusters, outs):
        where += [(spans[a][0], spans[b - 1][1])] * len(out)
    return whole, where


def _aligned(before: str, spans: Spans, after: str) -> tuple[str, Spans]:
    """The spans of ``after``, OpenCC's conversion of ``before`` (by phrase, so of the whole text):
    character for character where the lengths agree (it converts in place), else by the longest
    common runs (difflib), a changed run spanning the run it replaced."""
    if after == before or len(after) == len(before):
        return after, list(spans)
    import difflib

    where: Spans = []
    ops = difflib.SequenceMatcher(None, before, after, autojunk=False).get_opcodes()
    for tag, i1, i2, j1, j2 in ops:
        if tag == "equal" or (tag == "replace" and i2 - i1 == j2 - j1):
            where += spans[i1:i2]
        elif tag == "replace":
            where += [(spans[i1][0], spans[i2 - 1][1])] * (j2 - j1)
        elif tag == "insert":  # made from nothing: where its neighbour came from
            near = spans[i1 - 1] if i1 > 0 else spans[i1]
            where += [near] * (j2 - j1)
    return after, where


@dataclass(frozen=True)
class Segment:
    """One line of a paragraph: as in the corpus, and as embedded."""

    original: str
    text: str


class Normalizer:
    """Normalises text; ``structures`` maps structural descriptions (``{上休下鳥}``) to characters."""

    def __init__(self, structures: dict[str, str] | None = None):
        self.structures = dict(structures or {})

    def _structure(self, match: re.Match) -> str:
        return self.structures.get(match.group(0), UNKNOWN_CHAR)

    def text(self, raw: str) -> str:
        """The embedded form of one line (or of a query)."""
        s = _STRUCTURE.sub(self._structure, fold_invisible(raw))
        s = unicodedata.normalize("NFKC", s)
        s = _ANNOTATION.sub("", s)
        s = _SUPPLIED_CHAR.sub(r"\1", s)
        s = _SPACE.sub("", s)  # before t2s, which converts phrases (沈吟 → 沉吟) only when whole
        s = to_simplified(s)
        s = _DROP.sub("", s)
        return _ANY_PUNCT.sub("", s)

    def split(self, paragraph: str) -> list[Segment]:
        """Split a paragraph into lines; lines whose text is empty (only an annotation) are dropped."""
        if not paragraph:
            return []
        paragraph = fold_invisible(paragraph)
        if not _ANY_PUNCT.search(_ANNOTATION.sub("", paragraph)) and " " in paragraph.strip():
            pieces = paragraph.split()
        else:
            pieces, current = [], []
            for token in _TOKEN.findall(paragraph):
                if _ANY_PUNCT.fullmatch(token[0]) and token.strip(SENTENCE_PUNCTUATION) == "":
                    pieces.append("".join(current))
                    current = []
                else:
                    current.append(token)
            pieces.append("".join(current))
        out = []
        for piece in pieces:
            original = piece.strip()
            if not original:
                continue
            text = self.text(original)
            if text:
                out.append(Segment(original, text))
        return out
