"""Rebuild data/sample/ from the full corpus (data/chinese-poetry, from `make corpus`).

The sample keeps the package's folder layout so one reader serves both. Whole files are copied;
the authors files are cut down to the authors who appear in the sample, so the sample stays small.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

WHOLE = [
    "quantangshi/唐诗三百首.json",
    "songci/宋词三百首.json",
    "shijing/shijing.json",
    "caocaoshiji/caocao.json",
]
AUTHORS = {"quantangshi/authors.tang.json": "quantangshi/唐诗三百首.json",
           "songci/author.song.json": "songci/宋词三百首.json"}


def main(src: str = "data/chinese-poetry", dst: str = "data/sample") -> None:
    src_p, dst_p = Path(src), Path(dst)
    for rel in WHOLE:
        (dst_p / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src_p / rel, dst_p / rel)
    for rel, poems_rel in AUTHORS.items():
        names = {p.get("author") for p in json.loads((src_p / poems_rel).read_text("utf-8"))}
        authors = [a for a in json.loads((src_p / rel).read_text("utf-8")) if a.get("name") in names]
        (dst_p / rel).write_text(json.dumps(authors, ensure_ascii=False, indent=1), "utf-8")
    total = sum(f.stat().st_size for f in dst_p.rglob("*.json"))
    print(f"{dst_p}: {total / 1e6:.2f} MB")


if __name__ == "__main__":
    main(*sys.argv[1:])
