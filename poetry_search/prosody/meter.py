"""The 格律 checker for 近体诗 (五绝, 七绝, 五律, 七律), on 平水韵 tones.

The rules, as in 王力《诗词格律》 (the pattern tables below are written out so that they can be read
against the book):

* **Line types.** Four basic 五言 lines; a 七言 line puts two syllables of the opposite tone in front.
* **Poem patterns.** A 绝句 is four lines; its first line decides the pattern: 平起/仄起 by the tone of
  its second character, 首句入韵 when it ends in 平 (it then rhymes). A 律诗 is the 绝句 followed by
  the four lines of the 首句不入韵 绝句 of the same 起 (which are the same four lines whichever way
  the first line ends).
* **对 and 粘.** In a couplet the second characters are of opposite tones (对); the second character
  of an odd line (3, 5, 7) has the tone of the line before it (粘). A line that is a regular line of
  the other type breaks 对 (失对) or 粘 (失粘) rather than its own characters; so does a wrong 2nd
  character alone (失粘 on lines 3, 5, 7; 失对 on the others).
* **一三五不论.** In 五言 the 1st and 3rd characters, in 七言 the 1st, 3rd and 5th, may take either
  tone, except where that makes 孤平 (the 平平仄仄平 line with only the rhyme and one other 平),
  三平尾 (a line ending 平平平) or 三仄尾 (a 平平平仄仄 line ending 仄仄仄). The 2nd, 4th, 6th
  and last characters follow the pattern.
* **拗救.** 本句自救: 仄平平仄平 (孤平 avoided by a 平 at the 3rd) and 平平仄平仄 (特拗, for 平平平仄仄,
  its first character 平); 对句相救: 仄仄平仄仄 (the 4th 拗) with the next line 平平平仄平 (its 3rd 平).
  In 七言 each at two characters later.
* **Rhyme.** The even lines (and the first, when 首句入韵) end in characters of one 平水韵 平声 group;
  another group is 出韵, except that the first line may borrow a neighbouring group (邻韵, a note).
  A poem whose even lines end in 仄 is a 仄韵 poem: not 近体 (春晓 is a 仄韵 古绝).
* A character with readings of both tones (中) is read in whichever tone its position wants, and
  the verdict says which.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field

from ..errors import UsageProblem
from . import rhymes
from .rhymes import BOTH, PING, UNKNOWN, ZE

# ---------------------------------------------------------------------------------------------
# The pattern tables (王力《诗词格律》 第一章).

#: The four basic 五言 lines: 仄起仄收, 平起平收, 平起仄收, 仄起平收.
LINES_5 = {
    "A": "仄仄平平仄",
    "B": "平平仄仄平",
    "C": "平平平仄仄",
    "D": "仄仄仄平平",
}
#: The 七言 lines: the 五言 line with two characters of the opposite tone in front.
LINES_7 = {
    "A": "平平仄仄平平仄",
    "B": "仄仄平平仄仄平",
    "C": "仄仄平平平仄仄",
    "D": "平平仄仄仄平平",
}
#: The four 绝句, by their first line; a 律诗 is the 绝句 followed by the second column's 绝句.
QUATRAINS = {
    # first line: (the 绝句's line types, the types of a 律诗's lines 5-8)
    "A": ("ABCD", "ABCD"),  # 五言仄起首句不入韵 / 七言平起首句不入韵
    "D": ("DBCD", "ABCD"),  # 五言仄起首句入韵   / 七言平起首句入韵
    "C": ("CDAB", "CDAB"),  # 五言平起首句不入韵 / 七言仄起首句不入韵
    "B": ("BDAB", "CDAB"),  # 五言平起首句入韵   / 七言仄起首句入韵
}
#: 邻韵 (neighbouring 平声 groups) that a first line may borrow from.
NEIGHBOURS = [
    {"一东", "二冬"},
    {"三江", "七阳"},
    {"四支", "五微", "八齐"},
    {"六鱼", "七虞"},
    {"九佳", "十灰"},
    {"十一真", "十二文", "十三元"},
    {"十三元", "十四寒", "十五删", "一先"},
    {"二萧", "三肴", "四豪"},
    {"五歌", "六麻"},
    {"八庚", "九青", "十蒸"},
    {"十三覃", "十四盐", "十五咸"},
]

RULES = (
    "一三五不论 (五言 1/3, 七言 1/3/5 free) except where it makes 孤平, 三平尾 or 三仄尾",
    "2/4/6 and the last character follow the line's pattern",
    "孤平: 平平仄仄平 (七言 仄仄平平仄仄平) may not keep only one 平 besides the rhyme",
    "三平尾 / 三仄尾: no line ends 平平平; a 平平平仄仄 line does not end 仄仄仄",
    "对: the 2nd characters of a couplet differ; 粘: an odd line's 2nd matches the line before",
    "rhyme: even lines (and line 1 if 入韵) in one 平水韵 平声 group; line 1 may borrow a 邻韵",
    "拗救: 本句自救 (仄平平仄平, 平平仄平仄) and 对句相救 (仄仄平仄仄 + 平平平仄平) are not faults",
    "仄韵 poems, and any shape other than 4 or 8 lines of 5 or 7 characters, are 非近体",
)

AOJIU = ("本句自救", "对句相救")  #: the 拗救 kinds that make the verdict 合律（拗救）
FREE = {5: (0, 2), 7: (0, 2, 4)}  #: 一三五不论: the positions that may take either tone, by line width
FORMS = {(4, 5): "五绝", (4, 7): "七绝", (8, 5): "五律", (8, 7): "七律"}
HEGE, HEGE_AOJIU, BUHE, FEI = "合律", "合律（拗救）", "不合", "非近体"

# Line types by the tone of the 五言 core's 2nd character and the last character.
_OPPOSITE = {"A": "B", "C": "D", "B": "D", "D": "B"}  # 对: the 平收 line with the other 2nd tone
_STICK = {"B": "C", "D": "A"}  # 粘: the 仄收 line with the same 2nd tone


@dataclass(frozen=True)
class Fault:
    """A broken rule: at ``line`` (0-based), character ``position`` (0-based)."""

    line: int
    position: int
    rule: str  #: 孤平, 三平尾, 三仄尾, 失对, 失粘, 出韵 or 平仄不合
    detail: str


@dataclass(frozen=True)
class Note:
    """Something allowed that a reader should see: 邻韵, 本句自救, 对句相救."""

    line: int
    position: int
    kind: str
    detail: str


@dataclass(frozen=True)
class Reading:
    """The tone chosen for a character of both readings (中)."""

    line: int
    position: int
    char: str
    tone: str
    groups: tuple[str, ...]


@dataclass
class Verdict:
    """What ``check`` found."""

    verdict: str  #: 合律, 合律（拗救）, 不合 or 非近体
    lines: list[str]
    form: str | None = None  #: 五绝, 七绝, 五律, 七律
    pattern: str | None = None  #: e.g. 仄起首句不入韵
    start: str | None = None  #: 平起 or 仄起
    first_line_rhymes: bool | None = None
    rhyme: str | None = None  #: the 平水韵 group of the rhyme, e.g. 十一尤
    reason: str | None = None  #: why 非近体
    tones: list[str] = field(default_factory=list)  #: line_tones of each line
    expected: list[str] = field(default_factory=list)  #: the pattern each line was held to
    marks: list[list[str]] = field(default_factory=list)  #: 合 / 不合 per character
    faults: list[Fault] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)
    readings: list[Reading] = field(default_factory=list)
    rules: tuple[str, ...] = RULES

    @property
    def ok(self) -> bool:
        """合律, with or without 拗救."""
        return self.verdict in (HEGE, HEGE_AOJIU)

    def as_dict(self) -> dict:
        """Plain data for JSON (``json.dumps(v.as_dict(), ensure_ascii=False)``)."""
        return {**asdict(self), "ok": self.ok, "rules": list(self.rules)}


_SPLIT = re.compile(r"[^\u3400-\u9fff\uf900-\ufaff\U00020000-\U0003ffff]+")
_NOTE = re.compile(r"[（(][^（）()]*[）)]")  # the corpus sometimes opens with ( and closes with ）


_SUPPLIED = re.compile(r"\[([^\]\s]{1,2})\]")  # [玄]: a character the editors supplied; it stays
_BRACKETED = re.compile(r"\[[^\]]*\]|〖[^〗]*〗")


def split_lines(text: str) -> list[str]:
    """A poem as one string -> its lines: split at punctuation and whitespace, notes ``（…）`` dropped."""
    text = _BRACKETED.sub("", _SUPPLIED.sub(r"\1", _NOTE.sub("", text)))
    return [s for s in _SPLIT.split(text) if s]


def _clean(lines: list[str] | str) -> list[str]:
    if isinstance(lines, str):
        lines = split_lines(lines)
    out = []
    for line in lines:
        out.extend(split_lines(line))
    # couplets given as one line each (白日依山尽黄河入海流): halve them
    if out and all(len(s) in (10, 14) and len(s) == len(out[0]) for s in out):
        out = [half for s in out for half in (s[: len(s) // 2], s[len(s) // 2:])]
    return out


def _options(char: str) -> set[str]:
    return rhymes.tones_of(char)


def check(lines: list[str] | str, strict: bool = False) -> Verdict:
    """Judge a 五绝, 七绝, 五律 or 七律 against 平水韵 (see the module's docstring for the rules).

    ``lines`` are the poem's lines (traditional or simplified; punctuation is stripped), or the
    whole poem as one string. ``strict``: 三仄尾, and 特拗 (平平仄平仄) with a 仄 first character,
    are faults; by default they are notes, because the Tang masters use both freely (平平仄仄仄;
    故人具鸡黍). Raises ``UsageProblem`` for empty
    input or characters the table does not know; any other shape gets the verdict 非近体 with its
    reason.
    """
    text = _clean(lines)
    if not text:
        raise UsageProblem("no Chinese characters to check: pass the poem's lines, e.g. check(['白日依山尽', ...])",
                           code="empty_query")
    tones = [rhymes.line_tones(s) for s in text]
    unknown = sorted({c for s, t in zip(text, tones) for c, m in zip(s, t) if m == UNKNOWN})
    if unknown:
        raise UsageProblem(
            f"characters not in the 平水韵 table: {''.join(unknown)}; write them in a common form "
            "(traditional or simplified) or replace them with a character of the same tone", code="unknown_char")
    v = Verdict(verdict=FEI, lines=text, tones=tones)
    lengths = sorted({len(s) for s in text})
    if len(lengths) > 1:
        v.reason = f"lines of mixed lengths ({', '.join(map(str, lengths))} characters): a 近体诗 has lines of one length"
        return v
    n, width = len(text), lengths[0]
    if width not in (5, 7):
        v.reason = f"lines of {width} characters: 近体诗 lines have 5 or 7"
        return v
    if n not in (4, 8):
        v.reason = (f"{n} lines: a 绝句 has 4 and a 律诗 8"
                    + (" (排律 are not checked)" if n > 8 and n % 2 == 0 else ""))
        return v
    v.form = FORMS[(n, width)]
    best, rhymes_first, reason = _rhyme(v)
    if reason:
        v.reason = reason
        return v
    # the first line's type decides the rest: take the reading of it under which the poem keeps
    # the most rules (a 中 second character, or 平平仄平仄 against 仄仄平平仄)
    tries = []
    for first in (["B", "D"] if rhymes_first else ["A", "C"]):
        w = Verdict(verdict=FEI, lines=list(text), tones=list(tones), form=v.form, rhyme=best,
                    first_line_rhymes=rhymes_first)
        _judge(w, width, first, strict)
        table = LINES_5 if width == 5 else LINES_7
        tries.append(((len(w.faults), len(w.notes), table[first][1] not in _options(text[0][1])), w))
    return min(tries, key=lambda x: x[0])[1]


def _rhyme(v: Verdict) -> tuple[str | None, bool, str | None]:
    """(the rhyme group, whether line 1 rhymes, the reason for 非近体 if 仄韵)."""
    ends = [s[-1] for s in v.lines]
    even = ends[1::2]
    ping_groups = [{g.name for g in rhymes.readings(c) if g.tone == PING} for c in even]
    ze_only = sum(1 for gs in ping_groups if not gs)
    if ze_only * 2 > len(even):
        return None, False, f"仄韵: the even lines end in 仄 ({''.join(even)}); 近体诗 rhyme in 平声"
    first = {g.name for g in rhymes.readings(ends[0]) if g.tone == PING}
    counts: dict[str, int] = {}
    for gs in ping_groups:
        for g in gs:
            counts[g] = counts.get(g, 0) + 1
    # ties go to the line 1 rhyme, then to the earliest rhyming line: the first rhyme sets the group
    earliest = {g: min(i for i, gs in enumerate(ping_groups) if g in gs) for g in counts}
    best = max(counts, key=lambda g: (counts[g], g in first, -earliest[g]))
    first_tones = _options(ends[0])
    if first_tones == {PING}:
        rhymes_first = True
    elif first_tones == {ZE}:
        rhymes_first = False
    else:  # 中: it rhymes if it can
        rhymes_first = best in first or any(best in nb and first & nb for nb in NEIGHBOURS)
    return best, rhymes_first, None


def _judge(v: Verdict, width: int, first_type: str, strict: bool) -> Verdict:
    rhymes_first = v.first_line_rhymes
    table = LINES_5 if width == 5 else LINES_7
    off = width - 5  # the 五言 core starts here
    n = len(v.lines)
    types: list[str] = []
    for i, (line, tone) in enumerate(zip(v.lines, v.tones)):
        if i == 0:
            types.append(first_type)
            continue
        if i % 2:
            allowed, expected = ["B", "D"], _OPPOSITE[types[-1]]
        else:
            allowed, expected = ["A", "C"], _STICK[types[-1]]
        after = v.lines[i + 1] if i + 1 < n else None
        scores = {t: _key_misses(line, table[t], off, after, strict) for t in allowed}
        if scores[expected] == 0:
            chosen = expected
        else:
            other = next(t for t in allowed if t != expected)
            if scores[other] == 0:
                chosen = other
                rule = "失对" if i % 2 else "失粘"
                partner = "对" if i % 2 else "粘"
                v.faults.append(Fault(i, 1, rule, f"第{i + 1}句第2字 {line[1]} 与第{i}句不{partner}"))
            else:
                chosen = expected
        types.append(chosen)
    v.expected = [table[t] for t in types]
    first = types[0]
    v.start = "平起" if table[first][1] == PING else "仄起"
    v.pattern = v.start + ("首句入韵" if rhymes_first else "首句不入韵")
    resolved = [list(t) for t in v.tones]
    bad: set[tuple[int, int]] = {(f.line, f.position) for f in v.faults}
    for f in v.faults:  # 失对/失粘 lines: their key characters stand against the neighbour
        for p in range(1, width, 2):
            bad.add((f.line, p))
    for i in range(n):
        _check_line(v, i, types, table, off, resolved, bad, strict)
    _check_rhyme(v, resolved, bad)
    if not strict:  # 三仄尾 as a note
        for f in [f for f in v.faults if f.rule == "三仄尾"]:
            v.faults.remove(f)
            bad.discard((f.line, f.position))
            v.notes.append(Note(f.line, f.position, "三仄尾", f.detail + " (不以为病; strict=True 作错)"))
    v.marks = [["不合" if (i, p) in bad else "合" for p in range(width)] for i in range(n)]
    v.faults.sort(key=lambda f: (f.line, f.position))
    if v.faults:
        v.verdict = BUHE
    elif any(x.kind in AOJIU for x in v.notes):
        v.verdict = HEGE_AOJIU
    else:
        v.verdict = HEGE
    return v


def _key_misses(line: str, pattern: str, off: int, after: str | None, strict: bool) -> int:
    """Mismatches at the 2nd/4th(/6th) characters; a 拗 counts as a fit only where it is answered.

    ``after`` is the next line (an A line's 4th-character 拗 needs its 3rd to be 平).
    """
    misses = 0
    for p in range(1, len(line) - 1, 2):
        want = pattern[p]
        if want in _options(line[p]):
            continue
        core = p - off
        if pattern[off:] == LINES_5["A"] and core == 3 and after and PING in _options(after[off + 2]):
            continue  # 仄仄平仄仄 answered by 平平平仄平 (对句相救)
        if (pattern[off:] == LINES_5["C"] and core == 3 and _options(line[p]) == {PING}
                and ZE in _options(line[off + 2]) and (PING in _options(line[off]) or not strict)):
            continue  # 平平仄平仄 (特拗)
        misses += 1
    return misses


def _read(v: Verdict, resolved: list[list[str]], i: int, p: int, want: str) -> str:
    """The tone of character p of line i, reading a 中 character as ``want``."""
    if resolved[i][p] == BOTH:
        resolved[i][p] = want
        c = v.lines[i][p]
        v.readings.append(Reading(i, p, c, want, tuple(rhymes.groups_of(c))))
    return resolved[i][p]


def _check_line(v, i, types, table, off, resolved, bad, strict) -> None:
    line, t = v.lines[i], types[i]
    pattern = table[t]
    width = len(line)
    core = LINES_5[t]

    def tone(p: int, want: str) -> str:
        return _read(v, resolved, i, p, want)

    def fault(p: int, rule: str, detail: str) -> None:
        if (i, p) not in {(f.line, f.position) for f in v.faults}:
            v.faults.append(Fault(i, p, rule, detail))
        bad.add((i, p))

    last = width - 1
    c1, c3, c4 = off, off + 2, off + 3  # the 五言 core's 1st, 3rd and 4th characters
    # 平平仄平仄 (特拗): the 4th cannot be read 仄 and the 3rd can; decided before the free positions
    special = core == LINES_5["C"] and _options(line[c4]) == {PING} and ZE in _options(line[c3])
    for p in range(width - 1):
        want = pattern[p]
        if p % 2 == 1:  # 2nd, 4th, 6th
            if special and p == c4:
                tone(p, PING)
                continue
            if core == LINES_5["A"] and p == c4 and _options(line[p]) == {ZE}:
                continue  # checked with the next line below
            if tone(p, want) != want and (i, p) not in bad:
                if p == 1:  # 粘对 are judged by the 2nd character
                    odd = i % 2 == 0 and i > 0
                    other = i - 1 if odd or i % 2 else i + 1
                    rule, rel = ("失粘", "粘") if odd else ("失对", "对")
                    fault(p, rule, f"第2字 {line[p]} 应{want}: 与第{other + 1}句不{rel}")
                else:
                    fault(p, "平仄不合", f"第{p + 1}字 {line[p]} 应{want}")
        # free positions are read as the pattern wants; the rules below look at them
        elif p != c3 and not (core == LINES_5["B"] and p == c1):
            tone(p, want)
    # last character of a non-rhyming line: 仄
    if t in ("A", "C") and tone(last, ZE) != ZE:
        fault(last, "平仄不合", f"第{i + 1}句不入韵, 末字 {line[last]} 应仄")
    if t == "B":  # 平平仄仄平: 孤平 unless the 3rd is 平 (本句自救)
        first_tone = tone(c1, PING)
        if first_tone == ZE:
            if PING in _options(line[c3]):
                tone(c3, PING)
                v.notes.append(Note(i, c3, "本句自救",
                                    f"第{c1 + 1}字 {line[c1]} 仄, 第{c3 + 1}字 {line[c3]} 平: 孤平拗救"))
            else:
                fault(c1, "孤平", f"第{c1 + 1}字 {line[c1]} 仄而第{c3 + 1}字 {line[c3]} 亦仄: 除韵脚只一平")
        else:
            tone(c3, ZE)
    elif t == "D":  # 仄仄仄平平: the 3rd 平 makes 三平尾 (where the 4th is 平 as it should be)
        if tone(c3, ZE) == PING and resolved[i][c4] == PING:
            fault(c3, "三平尾", f"第{c3 + 1}字 {line[c3]} 平: 末三字皆平")
    elif t == "C":
        if special:
            tone(c3, ZE)
            v.notes.append(Note(i, c3, "本句自救", f"平平仄平仄: 第{c3 + 1}字 {line[c3]} 仄, 第{c4 + 1}字 {line[c4]} 平 (特拗)"))
            if tone(c1, PING) != PING:
                detail = f"平平仄平仄 (特拗) 第{c1 + 1}字 {line[c1]} 须平"
                if strict:
                    fault(c1, "平仄不合", detail)
                else:  # 故人具鸡黍, 客心洗流水: the Tang poets did not keep to it
                    v.notes.append(Note(i, c1, "特拗首字仄", detail + " (王力; strict=True 作错)"))
        elif tone(c3, PING) == ZE and resolved[i][c4] == ZE:
            fault(c3, "三仄尾", f"第{c3 + 1}字 {line[c3]} 仄: 末三字皆仄")
    elif t == "A":
        tone(c3, PING)
        if _options(line[c4]) == {ZE}:  # 仄仄平仄仄: the next line's 3rd must be 平
            nxt = i + 1
            if nxt < len(v.lines) and types[nxt] == "B" and PING in _options(v.lines[nxt][c3]):
                _read(v, resolved, nxt, c3, PING)
                v.notes.append(Note(nxt, c3, "对句相救",
                                    f"第{i + 1}句第{c4 + 1}字 {line[c4]} 拗, 第{nxt + 1}句第{c3 + 1}字 {v.lines[nxt][c3]} 平救之"))
            else:
                fault(c4, "平仄不合", f"第{c4 + 1}字 {line[c4]} 应平 (或对句第{c3 + 1}字用平以救)")


def _simplified(c: str) -> str:
    from ..corpus.normalize import to_simplified

    return to_simplified(c)


def _check_rhyme(v: Verdict, resolved, bad) -> None:
    best = v.rhyme
    for i, line in enumerate(v.lines):
        if i % 2 == 0 and not (i == 0 and v.first_line_rhymes):
            continue
        p = len(line) - 1
        c = line[p]
        names = set(rhymes.groups_of(c))
        if best in names:
            _read(v, resolved, i, p, PING)
            continue
        alt = _simplified(c)
        if alt != c and best in rhymes.groups_of(alt):
            # a simplified text converted to traditional can carry the wrong form (征 -> 徵)
            _read(v, resolved, i, p, PING)
            v.notes.append(Note(i, p, "异体", f"韵脚 {c} 读作 {alt} ({best})"))
            continue
        neighbours = set().union(*[nb for nb in NEIGHBOURS if best in nb]) - {best}
        if i == 0 and names & neighbours:
            _read(v, resolved, i, p, PING)
            v.notes.append(Note(i, p, "邻韵", f"首句韵脚 {c} ({'/'.join(sorted(names & neighbours))}) 借邻韵, 全诗押{best}"))
            continue
        v.faults.append(Fault(i, p, "出韵", f"韵脚 {c} ({'/'.join(rhymes.groups_of(c)) or '?'}) 不在{best}"))
        bad.add((i, p))
