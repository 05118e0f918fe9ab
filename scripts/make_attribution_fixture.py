"""Extract tests/data/attribution/: the corpus's real records for every occurrence of the lines the
attribution tests use, laid out like chinese-poetry's folders (same file names, same record
shapes), so CorpusReader reads it unchanged and `make test` needs no download.

Kept: every poem record (flat files, and 蒙学's nested books pruned to the branches that hold one)
whose text, punctuation removed and variant forms folded, contains one of LINES; every poem of
the authors in AUTHORS; for each kept record of a file that rank/ describes, the rank entry at the
same position (so read_popularity matches them by position, as on the full corpus); the author
records of every kept poem's author and of those authors' canonical names. Records are copied
whole, byte-for-byte as JSON values.

Usage: python scripts/make_attribution_fixture.py [--corpus DIR] [--out tests/data/attribution]
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import _layout  # noqa: F401

from poetry_search.corpus.authors import canonical_author
from poetry_search.corpus.normalize import Normalizer, fold
from poetry_search.corpus.variants import match_key

OUT = _layout.ROOT / "tests" / "data" / "attribution"
LINES = ("二月春风似剪刀", "更上一层楼", "对酒当歌", "便胜却人间无数", "白日依山尽", "独上高楼望尽天涯路", "守着窗儿",
         "远近高低总不同", "远近高低各不同", "处处闻啼鸟", "飞流直下三千尺", "春风花草香", "夜阑卧听风吹雨")
AUTHORS = ("後主煜",)
TEXT_KEYS = ("paragraphs", "content", "para")
AUTHOR_FILES = ("quantangshi/authors.tang.json", "quantangshi/authors.song.json", "songci/author.song.json",
                "wudaishici/nantang/authors.json")
LICENSE = """The records in this folder are copied unchanged from chinese-poetry
(https://github.com/chinese-poetry/chinese-poetry, npm package chinese-poetry 2.0.1), MIT License:

Copyright (c) 2016 JackeyGao

Permission is hereby granted, free of charge, to any person obtaining a copy of this software and
associated documentation files (the "Software"), to deal in the Software without restriction,
including without limitation the rights to use, copy, modify, merge, publish, distribute,
sublicense, and/or sell copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all copies or
substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED, INCLUDING BUT
NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND
NONINFRINGEMENT. IN NO EVENT SHALL THE AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM,
DAMAGES OR OTHER LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM, OUT
OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE SOFTWARE.

Made by scripts/make_attribution_fixture.py (which lists the lines it looks for).
"""

NORM = Normalizer()
KEYS = tuple(match_key(NORM.text(s)) for s in LINES)
WANTED_AUTHORS = {fold(a) for a in AUTHORS}


def _text(rec: dict) -> str | None:
    for k in TEXT_KEYS:
        v = rec.get(k)
        if isinstance(v, list) and all(isinstance(x, str) for x in v):
            return "".join(v)
        if isinstance(v, str):
            return v
    return None


def wanted(rec) -> bool:
    if not isinstance(rec, dict):
        return False
    if fold(str(rec.get("author") or "")) in WANTED_AUTHORS:
        return True
    text = _text(rec)
    if text is None:
        return False
    key = match_key(NORM.text(text))
    return any(k in key for k in KEYS)


def prune(node):
    """A 蒙学 node cut down to the branches that hold a wanted poem, or None."""
    if not isinstance(node, dict):
        return None
    children = None
    for field in ("content", "paragraphs"):
        v = node.get(field)
        if isinstance(v, list) and v and all(isinstance(c, dict) for c in v):
            kept = [c for c in (prune(c) for c in v) if c is not None]
            if kept:
                children = (field, kept)
    if children:
        out = dict(node)
        out[children[0]] = children[1]
        return out
    return node if wanted(node) else None


def rank_file(rel: str) -> str | None:
    name = Path(rel).name
    parts = name.split(".")
    if rel.startswith("quantangshi/poet.") and len(parts) == 4:
        return f"rank/poet/poet.{parts[1]}.rank.{parts[2]}.json"
    if rel.startswith("songci/ci.song.") and len(parts) == 4:
        return f"rank/ci/ci.song.rank.{parts[2]}.json"
    return None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, default=Path("/work/main/data/chinese-poetry"))
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    root = args.corpus
    if args.out.exists():
        shutil.rmtree(args.out)
    authors: set[str] = set()
    poems = files = 0
    skip = set(AUTHOR_FILES) | {"quantangshi/表面结构字.json"}
    for path in sorted(root.rglob("*.json")):
        rel = path.relative_to(root).as_posix()
        if rel in skip or rel.startswith(("rank/", "strains/", "quantangshi/error/")) or path.name.startswith("."):
            continue
        data = json.loads(path.read_text("utf-8"))
        if rel.startswith("mengxue/"):
            kept = prune(data)
            if kept is None:
                continue
            out_data, n = kept, sum(1 for _ in _leaves(kept))
            for leaf in _leaves(kept):
                authors.add(str(leaf.get("author") or kept.get("author") or ""))
        else:
            records = data if isinstance(data, list) else [data]
            idx = [i for i, r in enumerate(records) if wanted(r)]
            if not idx:
                continue
            out_data, n = [records[i] for i in idx], len(idx)
            authors.update(str(records[i].get("author") or "") for i in idx if isinstance(records[i], dict))
            rf = rank_file(rel)
            if rf and (root / rf).exists():
                ranks = json.loads((root / rf).read_text("utf-8"))
                _write(args.out / rf, [ranks[i] for i in idx if i < len(ranks)])
        _write(args.out / rel, out_data)
        poems += n
        files += 1
    names = {fold(a) for a in authors if a} | {canonical_author(a) for a in authors if a}
    for rel in AUTHOR_FILES:
        path = root / rel
        if path.exists():
            recs = [r for r in json.loads(path.read_text("utf-8")) if isinstance(r, dict) and fold(str(r.get("name") or "")) in names]
            if recs:
                _write(args.out / rel, recs)
    (args.out / "LICENSE-chinese-poetry.txt").write_text(LICENSE, "utf-8")
    size = sum(p.stat().st_size for p in args.out.rglob("*") if p.is_file())
    print(f"{poems} poems from {files} files, authors of {len(names)} names, {size / 1024:.0f} KB -> {args.out}")


def _leaves(node):
    if isinstance(node, dict):
        if isinstance(node.get("paragraphs"), list) and all(isinstance(c, str) for c in node["paragraphs"]):
            yield node
        for field in ("content", "paragraphs"):
            v = node.get(field)
            if isinstance(v, list):
                for c in v:
                    if isinstance(c, dict):
                        yield from _leaves(c)


def _write(path: Path, data) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", "utf-8")


if __name__ == "__main__":
    main()
