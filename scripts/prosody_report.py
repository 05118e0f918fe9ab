"""The 格律 checker over 唐诗三百首, and line_tones against the corpus's own strains/ over 全唐诗.

\b
  PYTHONPATH=$PWD python scripts/prosody_report.py data/chinese-poetry
  PYTHONPATH=$PWD python scripts/prosody_report.py data/chinese-poetry --json report.json --list

1. 唐诗三百首 (mengxue/tangshisanbaishou.json), its sections 五言絕句, 七言絕句, 五言律詩 and 七言律詩:
   the share judged 合律 or 合律（拗救）, and every other poem with its faults or reason.
2. 全唐诗 (quantangshi/poet.tang.*.json) beside strains/json/poet.tang.*.json (same ids): for each
   paragraph whose character count equals its strains string's, each character where both give a
   definite tone (ours 平/仄, not 中 or ？; theirs 平/仄, not ○ or ？): the agreement rate and the
   characters that disagree most.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import time
from collections import Counter

from poetry_search.errors import UsageProblem
from poetry_search.prosody import rhymes
from poetry_search.prosody.meter import check, split_lines

SECTIONS = ("五言絕句", "七言絕句", "五言律詩", "七言律詩")


def tang300(root: str, strict: bool = False) -> dict:
    with open(os.path.join(root, "mengxue", "tangshisanbaishou.json"), encoding="utf-8") as f:
        book = json.load(f)
    verdicts: Counter = Counter()
    per_section: dict[str, Counter] = {}
    others = []
    rules: Counter = Counter()
    for section in book["content"]:
        if section["type"] not in SECTIONS:
            continue
        tally = per_section.setdefault(section["type"], Counter())
        for poem in section["content"]:
            title = poem["chapter"] + (f" ({poem['subchapter']})" if poem.get("subchapter") else "")
            try:
                v = check("".join(poem["paragraphs"]), strict=strict)
                verdict = v.verdict
            except UsageProblem as e:
                v, verdict = None, f"error: {e}"
            verdicts[verdict] += 1
            tally[verdict] += 1
            if v is None or not v.ok:
                entry = {"section": section["type"], "title": title, "author": poem["author"], "verdict": verdict}
                if v is not None:
                    entry["form"] = v.form
                    entry["reason"] = v.reason
                    entry["lines"] = v.lines
                    entry["faults"] = [f"{f.line + 1}.{f.position + 1} {f.rule}: {f.detail}" for f in v.faults]
                    rules.update(f.rule for f in v.faults)
                others.append(entry)
    total = sum(verdicts.values())
    ok = verdicts["合律"] + verdicts["合律（拗救）"]
    ze_rhyme = sum(1 for e in others if (e.get("reason") or "").startswith("仄韵"))
    return {
        "poems": total,
        "ze_rhyme": ze_rhyme,
        "ok_share_of_ping_rhymed": ok / (total - ze_rhyme) if total > ze_rhyme else 0.0,
        "verdicts": dict(verdicts),
        "per_section": {k: dict(v) for k, v in per_section.items()},
        "ok_share": ok / total if total else 0.0,
        "fault_rules": dict(rules.most_common()),
        "others": others,
    }


def strains(root: str) -> dict:
    pairs: Counter = Counter()  # (ours, theirs) over every character compared
    disagree: Counter = Counter()  # (char, ours, theirs)
    paragraphs = matched = 0
    poems = 0
    t0 = time.perf_counter()
    for path in sorted(glob.glob(os.path.join(root, "strains", "json", "poet.tang.*.json"))):
        text_path = os.path.join(root, "quantangshi", os.path.basename(path))
        if not os.path.exists(text_path):
            continue
        with open(path, encoding="utf-8") as f:
            marks = {r["id"]: r["strains"] for r in json.load(f)}
        with open(text_path, encoding="utf-8") as f:
            poems_here = json.load(f)
        for poem in poems_here:
            theirs_all = marks.get(poem.get("id"))
            if not theirs_all:
                continue
            poems += 1
            for para, theirs in zip(poem["paragraphs"], theirs_all):
                paragraphs += 1
                chars = "".join(split_lines(para))
                theirs = "".join(c for c in theirs if c in "平仄○？?")
                if len(chars) != len(theirs):
                    continue
                matched += 1
                ours = rhymes.line_tones(chars)
                for c, a, b in zip(chars, ours, theirs):
                    pairs[(a, b)] += 1
                    if a in "平仄" and b in "平仄" and a != b:
                        disagree[(c, a, b)] += 1
    definite = sum(n for (a, b), n in pairs.items() if a in "平仄" and b in "平仄")
    agree = sum(n for (a, b), n in pairs.items() if a in "平仄" and a == b)
    by_char: Counter = Counter()
    for (c, a, b), n in disagree.items():
        by_char[c] += n
    return {
        "poems": poems,
        "paragraphs": paragraphs,
        "paragraphs_compared": matched,
        "characters_compared": sum(pairs.values()),
        "both_definite": definite,
        "agreement": agree / definite if definite else 0.0,
        "pairs": {f"{a}/{b}": n for (a, b), n in pairs.most_common()},
        "top_disagreements": [
            {"char": c, "ours": rhymes.line_tones(c), "groups": rhymes.groups_of(c), "count": n,
             "theirs": {f"{a}->{b}": m for (cc, a, b), m in disagree.items() if cc == c}}
            for c, n in by_char.most_common(30)
        ],
        "seconds": round(time.perf_counter() - t0, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description="The 格律 checker over 唐诗三百首; line_tones against strains/.")
    ap.add_argument("corpus")
    ap.add_argument("--json", help="write the figures here as JSON")
    ap.add_argument("--list", action="store_true", help="print every 唐诗三百首 poem not judged 合律")
    ap.add_argument("--strict", action="store_true", help="三仄尾 and 特拗 with a 仄 first character are faults")
    args = ap.parse_args()
    t = tang300(args.corpus, strict=args.strict)
    print(f"唐诗三百首 绝句/律诗: {t['poems']} poems, {t['ok_share']:.1%} 合律 or 合律（拗救）; "
          f"{t['ok_share_of_ping_rhymed']:.1%} of the {t['poems'] - t['ze_rhyme']} that rhyme in 平声")
    print("  verdicts: " + ", ".join(f"{k} {v}" for k, v in sorted(t["verdicts"].items())))
    for sec, tally in t["per_section"].items():
        print(f"  {sec}: " + ", ".join(f"{k} {v}" for k, v in sorted(tally.items())))
    print("  faults by rule: " + ", ".join(f"{k} {v}" for k, v in t["fault_rules"].items()))
    if args.list:
        for e in t["others"]:
            print(f"  - {e['section']} {e['author']}《{e['title']}》 {e['verdict']}"
                  + (f" ({e['reason']})" if e.get("reason") else "")
                  + ("; " + "; ".join(e.get("faults", [])) if e.get("faults") else ""))
    s = strains(args.corpus)
    print(f"全唐诗 vs strains/: {s['poems']:,} poems, {s['paragraphs_compared']:,} of {s['paragraphs']:,} paragraphs "
          f"of equal length; {s['characters_compared']:,} characters, {s['both_definite']:,} definite in both: "
          f"agreement {s['agreement']:.2%}")
    print("  ours/theirs: " + ", ".join(f"{k} {v:,}" for k, v in s["pairs"].items()))
    print("  top disagreements: " + "; ".join(
        f"{d['char']}({'/'.join(d['groups'])}) {d['count']:,} {d['theirs']}" for d in s["top_disagreements"][:20]))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"tang300": t, "strains": s}, f, ensure_ascii=False, indent=1)


if __name__ == "__main__":
    main()
