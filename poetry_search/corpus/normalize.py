"""The one place that decides what text is embedded and searched.

Corpus lines, queries, and filter values (titles, authors, dynasties) all pass through here, so a
simplified query finds a traditional line and ``--author 王之涣`` finds 王之渙.

Decisions, each on purpose:

* Script: OpenCC ``t2s`` (traditional to simplified). Simplified text passes through unchanged.
* Compatibility forms: Unicode NFKC, so full-width ASCII (``ａｂｃ``, ``１２``) is the ASCII the
  model's vocabulary knows (``abc``, ``12``): unfolded, every such character is ``[UNK]`` to
  bert-base-chinese. Applied after structural descriptions are replaced (their keys are as written).
* Editorial annotations are removed from the embedded text (they stay in ``original``):
  ``（一作…）`` and every other full-width or ASCII parenthetical (in this corpus they are all
  editorial: 一作, 京本, 題擬, 見《…》…), ``〖1〗`` footnote marks, ``[1]`` numeric footnote marks.
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

#: Bumped whenever the embedded text of any line could change; part of every cache key.
NORMALIZE_VERSION = 3  # 2: NFKC (full-width ASCII folds to ASCII); 3: invisible characters, 、 inside a line

SENTENCE_PUNCTUATION = "，。！？；：,.!?;:．｡﹐﹒﹔﹕﹖﹗…"
_PUNCT_CLASS = re.escape(SENTENCE_PUNCTUATION)

# Tokens of a paragraph: an annotation (kept whole, so punctuation inside it does not split),
# a run of sentence punctuation, or any other run of text.
_TOKEN = re.compile(
    r"（[^（）]*）|\([^()]*\)|〖[^〗]*〗|\[[^\]]*\]|\{[^{}]*\}"
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
