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

Names are compared folded (poetry_search.normalize.fold: simplified, no spaces), so 後主煜 and
后主煜 are one name. An alias that two rules send to different names is left out (reported).

Usage: python scripts/make_author_aliases.py [--corpus DIR] [--cache PKL]
"""

from __future__ import annotations

import argparse
import re
from collections import Counter, defaultdict
from pathlib import Path

import _layout  # noqa: F401
import corpus_cache

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


def build(data: dict) -> tuple[dict[str, tuple[str, str, str]], dict]:
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
    aliases, conflicts = {}, {}
    for alias, got in found.items():
        targets = {t for t, _, _ in got}
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, default=corpus_cache.DEFAULT_CORPUS)
    ap.add_argument("--cache", type=Path, default=corpus_cache.DEFAULT_CACHE)
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    aliases, stats = build(corpus_cache.load(args.corpus, args.cache))
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
