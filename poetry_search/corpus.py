"""Reading the chinese-poetry dataset (any folder laid out like the npm package's ``dist/``).

Every collection has its own JSON shape; each is handled on purpose by a reader below, and a record
of an unexpected shape is skipped with a warning naming its file. Reading streams file by file, so
memory holds one file's records at a time.

Poem ids: the dataset's own ``id`` where it has one and it is unique, else
``collection/file-stem/position``, so a rebuild from the same files gives the same ids.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from .errors import CorpusError
from .normalize import Normalizer, Segment, fold

# The collections we know, in reading order, with their human name.
COLLECTIONS: dict[str, str] = {
    "quantangshi": "全唐诗 / 全宋诗",
    "songci": "全宋词",
    "yuanqu": "元曲",
    "shijing": "诗经",
    "chuci": "楚辞",
    "wudaishici": "五代诗词",
    "caocaoshiji": "曹操诗集",
    "nalanxingde": "纳兰性德诗集",
    "shuimotangshi": "水墨唐诗",
    "yudingquantangshi": "御定全唐诗",
    "mengxue": "蒙学",
    "lunyu": "论语",
    "sishuwujing": "四书五经",
    "youmengying": "幽梦影",
}
# Folders that hold no poetry text (rankings, tone patterns).
NOT_TEXT = {"rank", "strains"}


@dataclass
class Poem:
    """One poem (or chapter, for prose collections) as the dataset gives it."""

    id: str
    collection: str
    book: str
    dynasty: str
    title: str
    author: str
    paragraphs: list[str]
    source: str
    position: int
    form: str | None = None
    chapter: str | None = None
    section: str | None = None
    tags: list[str] = field(default_factory=list)


@dataclass
class Author:
    """An entry of one of the dataset's authors files."""

    name: str
    dynasty: str
    bio: str
    source: str


@dataclass
class Line:
    """One line of a poem; ``text`` is what is embedded, ``original`` what the corpus says."""

    poem_id: str
    position: int
    paragraph: int
    original: str
    text: str


class Warnings:
    """Collects per-file problems; ``strict`` turns the first into an error."""

    def __init__(self, strict: bool = False, echo: Callable[[str], None] | None = None):
        self.strict = strict
        self.echo = echo
        self.skipped: list[dict] = []

    def skip(self, source: str, reason: str, records: int | None = None) -> None:
        entry = {"file": source, "reason": reason, "records": records}
        if self.strict:
            what = f"{records} record(s) of unexpected shape" if records is not None else reason
            raise CorpusError(f"{source}: {what} (run without --strict to skip it and read the rest)")
        self.skipped.append(entry)
        if self.echo:
            n = f"{records} record(s) skipped" if records is not None else "file skipped"
            self.echo(f"warning: {source}: {reason}; {n}")


# ---------------------------------------------------------------------------------------------
# Shapes. Each returns (title, author, paragraphs, extra) for one record, or raises _Shape.


class _Shape(Exception):
    pass


def _strs(value, key: str) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    raise _Shape(f"'{key}' is not a list of strings")


def _get(record, *keys, required=True):
    if not isinstance(record, dict):
        raise _Shape("record is not an object")
    for key in keys:
        if key in record and record[key] is not None:
            return record[key]
    if required:
        raise _Shape(f"no {'/'.join(keys)}")
    return None


_DYNASTY_PREFIX = re.compile(r"^\s*[（(]([^）)]{1,4})[）)]\s*|^\s*([^：:\s]{1,4})[：:]\s*")


def _split_author(author: str) -> tuple[str, str | None]:
    """'（唐）孟浩然' or '先秦：左丘明 ' → ('孟浩然', '唐')."""
    m = _DYNASTY_PREFIX.match(author or "")
    if not m:
        return (author or "").strip(), None
    return author[m.end():].strip(), fold(m.group(1) or m.group(2))


# ---------------------------------------------------------------------------------------------


class CorpusReader:
    """Reads a corpus folder into ``Poem`` and ``Author`` records."""

    def __init__(self, root: str | Path, strict: bool = False, echo: Callable[[str], None] | None = None):
        self.root = Path(root)
        self.warnings = Warnings(strict, echo)
        self.authors: list[Author] = []
        self.structures: dict[str, str] = {}
        self._seen_ids: set[str] = set()
        if not self.root.is_dir():
            raise CorpusError(f"no corpus folder at {self.root}: run `make corpus` or pass a folder laid out like chinese-poetry's dist/")
        self.collections = [c for c in COLLECTIONS if (self.root / c).is_dir()]
        if not self.collections:
            present = ", ".join(sorted(p.name for p in self.root.iterdir() if p.is_dir())[:8]) or "nothing"
            raise CorpusError(
                f"{self.root} is not a chinese-poetry corpus: expected one or more of the folders "
                f"{', '.join(COLLECTIONS)} (found {present}); run `make corpus` for the full dataset"
            )
        self._load_structures()

    # -- helpers -------------------------------------------------------------------------------

    def rel(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()

    def _load(self, path: Path):
        try:
            with open(path, encoding="utf-8") as f:
                return json.load(f)
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            self.warnings.skip(self.rel(path), f"cannot be read as JSON ({type(e).__name__}: {e})")
            return None

    def _records(self, path: Path) -> list | None:
        data = self._load(path)
        if data is None:
            return None
        if isinstance(data, dict):
            data = [data]
        if not isinstance(data, list):
            self.warnings.skip(self.rel(path), "top level is neither a list nor an object")
            return None
        return data

    def _id(self, record, collection: str, path: Path, position: int) -> str:
        own = record.get("id") if isinstance(record, dict) else None
        if isinstance(own, str) and own and own not in self._seen_ids:
            pid = own
        else:
            pid = f"{collection}/{path.stem}/{position}"
        self._seen_ids.add(pid)
        return pid

    def _load_structures(self) -> None:
        path = self.root / "quantangshi" / "表面结构字.json"
        if not path.exists():
            return
        data = self._load(path)
        if not isinstance(data, dict):
            if data is not None:
                self.warnings.skip(self.rel(path), "not an object of descriptions")
            return
        for desc, fonts in data.items():
            if isinstance(fonts, list) and fonts and isinstance(fonts[0], dict) and fonts[0].get("font"):
                self.structures[desc] = fonts[0]["font"]

    def normalizer(self) -> Normalizer:
        return Normalizer(self.structures)

    def _flat(self, path: Path, collection: str, book: str, dynasty: str, shape: Callable) -> Iterator[Poem]:
        """A file that is a list of poem records, each read by ``shape``."""
        records = self._records(path)
        if records is None:
            return
        bad = 0
        source = self.rel(path)
        for i, rec in enumerate(records):
            try:
                fields = shape(rec)
            except _Shape:
                bad += 1
                continue
            pid = self._id(rec, collection, path, i)
            yield Poem(id=pid, collection=collection, book=book, dynasty=fields.pop("dynasty", None) or dynasty,
                       source=source, position=i, **fields)
        if bad:
            self.warnings.skip(source, "unexpected record shape", bad)

    def _authors(self, path: Path, dynasty: str, bio_keys=("desc", "description", "short_description")) -> None:
        records = self._records(path)
        if records is None:
            return
        bad = 0
        for rec in records:
            name = rec.get("name") if isinstance(rec, dict) else None
            if not isinstance(name, str):
                bad += 1
                continue
            bio = next((rec[k] for k in bio_keys if isinstance(rec.get(k), str) and rec[k]), "")
            self.authors.append(Author(name=name, dynasty=dynasty, bio=bio, source=self.rel(path)))
        if bad:
            self.warnings.skip(self.rel(path), "author records without a name", bad)

    def _unknown(self, path: Path) -> None:
        self.warnings.skip(self.rel(path), "not a file this reader knows")

    # -- collections ---------------------------------------------------------------------------

    @staticmethod
    def _shi(rec):
        return {
            "title": _get(rec, "title", required=False) or "",
            "author": _get(rec, "author", required=False) or "",
            "paragraphs": _strs(_get(rec, "paragraphs"), "paragraphs"),
            "tags": [t for t in (rec.get("tags") or []) if isinstance(t, str)],
        }

    def read_quantangshi(self, folder: Path) -> Iterator[Poem]:
        def key(p: Path):
            m = re.search(r"\.(\d+)\.json$", p.name)
            return (p.name.split(".")[1] if m else p.name, int(m.group(1)) if m else 0)

        for path in sorted(folder.glob("*.json"), key=key):
            name = path.name
            if name.startswith("poet.tang."):
                yield from self._flat(path, "quantangshi", "全唐诗", "唐", self._shi)
            elif name.startswith("poet.song."):
                yield from self._flat(path, "quantangshi", "全宋诗", "宋", self._shi)
            elif name == "唐诗三百首.json":
                yield from self._flat(path, "quantangshi", "唐诗三百首", "唐", self._shi)
            elif name == "唐诗补录.json":
                yield from self._flat(path, "quantangshi", "唐诗补录", "唐", self._shi)
            elif name == "authors.tang.json":
                self._authors(path, "唐")
            elif name == "authors.song.json":
                self._authors(path, "宋")
            elif name == "表面结构字.json":
                pass  # read up front: it maps structural descriptions to characters
            else:
                self._unknown(path)
        # error/ holds the dataset's known-bad copies; it is not read on purpose.

    @staticmethod
    def _ci(rec):
        rhythmic = _get(rec, "rhythmic", required=False)
        return {
            "title": _get(rec, "title", "rhythmic", required=False) or "",
            "author": _get(rec, "author", required=False) or "",
            "paragraphs": _strs(_get(rec, "paragraphs"), "paragraphs"),
            "form": rhythmic,
            "tags": [t for t in (rec.get("tags") or []) if isinstance(t, str)],
        }

    def read_songci(self, folder: Path) -> Iterator[Poem]:
        def key(p: Path):
            m = re.search(r"\.(\d+)\.json$", p.name)
            return (0 if m else 1, int(m.group(1)) if m else 0, p.name)

        for path in sorted(folder.glob("*.json"), key=key):
            if path.name.startswith("ci.song."):
                yield from self._flat(path, "songci", "全宋词", "宋", self._ci)
            elif path.name == "宋词三百首.json":
                yield from self._flat(path, "songci", "宋词三百首", "宋", self._ci)
            elif path.name == "author.song.json":
                self._authors(path, "宋")
            else:
                self._unknown(path)

    def read_yuanqu(self, folder: Path) -> Iterator[Poem]:
        def shape(rec):
            out = self._shi(rec)
            out["dynasty"] = "元"
            return out

        for path in sorted(folder.glob("*.json")):
            yield from self._flat(path, "yuanqu", "元曲", "元", shape)

    def read_shijing(self, folder: Path) -> Iterator[Poem]:
        def shape(rec):
            return {
                "title": _get(rec, "title"),
                "author": "",
                "paragraphs": _strs(_get(rec, "content"), "content"),
                "chapter": _get(rec, "chapter", required=False),
                "section": _get(rec, "section", required=False),
            }

        for path in sorted(folder.glob("*.json")):
            yield from self._flat(path, "shijing", "诗经", "先秦", shape)

    def read_chuci(self, folder: Path) -> Iterator[Poem]:
        def shape(rec):
            return {
                "title": _get(rec, "title"),
                "author": _get(rec, "author", required=False) or "",
                "paragraphs": _strs(_get(rec, "content"), "content"),
                "section": _get(rec, "section", required=False),
            }

        for path in sorted(folder.glob("*.json")):
            yield from self._flat(path, "chuci", "楚辞", "先秦", shape)

    def read_wudaishici(self, folder: Path) -> Iterator[Poem]:
        huajian = folder / "huajianji"
        for path in sorted(huajian.glob("*.json")) if huajian.is_dir() else []:
            if "preface" in path.name:
                continue  # 花间集序: prose about the anthology, not a poem
            yield from self._flat(path, "wudaishici", "花间集", "五代", self._ci)
        nantang = folder / "nantang"
        if nantang.is_dir():
            for path in sorted(nantang.glob("*.json")):
                if path.name == "poetrys.json":
                    yield from self._flat(path, "wudaishici", "南唐二主词", "五代", self._ci)
                elif path.name == "authors.json":
                    self._authors(path, "五代")
                elif path.name != "intro.json":
                    self._unknown(path)

    def read_caocaoshiji(self, folder: Path) -> Iterator[Poem]:
        def shape(rec):
            out = self._shi(rec)
            out["author"] = out["author"] or "曹操"
            return out

        for path in sorted(folder.glob("*.json")):
            yield from self._flat(path, "caocaoshiji", "曹操诗集", "汉", shape)

    def read_nalanxingde(self, folder: Path) -> Iterator[Poem]:
        def shape(rec):
            return {
                "title": _get(rec, "title", required=False) or "",
                "author": _get(rec, "author", required=False) or "纳兰性德",
                "paragraphs": _strs(_get(rec, "para", "paragraphs"), "para"),
            }

        for path in sorted(folder.glob("*.json")):
            yield from self._flat(path, "nalanxingde", "纳兰性德诗集", "清", shape)

    def read_shuimotangshi(self, folder: Path) -> Iterator[Poem]:
        for path in sorted(folder.glob("*.json")):
            yield from self._flat(path, "shuimotangshi", "水墨唐诗", "唐", self._shi)

    def read_yudingquantangshi(self, folder: Path) -> Iterator[Poem]:
        def shape(rec):
            out = self._shi(rec)
            out["section"] = rec.get("volume") if isinstance(rec.get("volume"), str) else None
            return out

        for path in sorted((folder / "json").glob("*.json")):
            yield from self._flat(path, "yudingquantangshi", "御定全唐诗", "唐", shape)

    def read_lunyu(self, folder: Path) -> Iterator[Poem]:
        def shape(rec):
            chapter = _get(rec, "chapter")
            return {"title": chapter, "author": "", "chapter": chapter,
                    "paragraphs": _strs(_get(rec, "paragraphs"), "paragraphs")}

        for path in sorted(folder.glob("*.json")):
            yield from self._flat(path, "lunyu", "论语", "先秦", shape)

    def read_sishuwujing(self, folder: Path) -> Iterator[Poem]:
        books = {"daxue": "大学", "zhongyong": "中庸", "mengzi": "孟子"}

        def shape(rec):
            chapter = _get(rec, "chapter")
            return {"title": chapter, "author": "", "chapter": chapter,
                    "paragraphs": _strs(_get(rec, "paragraphs"), "paragraphs")}

        for path in sorted(folder.glob("*.json")):
            yield from self._flat(path, "sishuwujing", books.get(path.stem, path.stem), "先秦", shape)

    def read_youmengying(self, folder: Path) -> Iterator[Poem]:
        counter = iter(range(1, 10**6))

        def shape(rec):
            return {"title": f"幽梦影 {next(counter)}", "author": "张潮",
                    "paragraphs": _strs(_get(rec, "content"), "content")}

        for path in sorted(folder.glob("*.json")):
            yield from self._flat(path, "youmengying", "幽梦影", "清", shape)

    def read_mengxue(self, folder: Path) -> Iterator[Poem]:
        """Primers: one object a book, poems nested under ``content`` one or two levels deep."""
        for path in sorted(folder.glob("*.json")):
            data = self._load(path)
            if data is None:
                continue
            if not isinstance(data, dict) or not isinstance(data.get("title"), str):
                self.warnings.skip(self.rel(path), "expected one object with a title")
                continue
            book = fold(data["title"])
            default_author, default_dynasty = _split_author(data.get("author") or "")
            dynasty = default_dynasty or (fold(data["tags"]) if isinstance(data.get("tags"), str) and len(data["tags"]) <= 4 and data["tags"] not in ("新版", "傳統版") else "")
            state = {"position": 0, "bad": 0}
            yield from self._mengxue_node(data, path, book, data["title"], default_author, dynasty, None, state, top=True)
            if state["bad"]:
                self.warnings.skip(self.rel(path), "unexpected record shape", state["bad"])

    def _mengxue_node(self, node, path, book, title, author, dynasty, form, state, top=False) -> Iterator[Poem]:
        if not isinstance(node, dict):
            state["bad"] += 1
            return
        form = node.get("type") if isinstance(node.get("type"), str) else form
        if not top:
            title = node.get("chapter") or node.get("title") or title
            if isinstance(node.get("subchapter"), str) and node["subchapter"]:
                title = f"{title} {node['subchapter']}"
            if isinstance(node.get("author"), str) and node["author"].strip():
                author, own_dynasty = _split_author(node["author"])
                dynasty = own_dynasty or dynasty
        nested = node.get("paragraphs")
        if isinstance(nested, list) and nested and all(isinstance(c, dict) for c in nested):
            # 千家詩 groups a set of poems (其一, 其二) under one chapter: each child is a poem
            for child in nested:
                yield from self._mengxue_node(child, path, book, title, author, dynasty, form, state)
        elif "paragraphs" in node:
            try:
                paragraphs = _strs(node["paragraphs"], "paragraphs")
            except _Shape:
                state["bad"] += 1
                return
            i = state["position"]
            state["position"] += 1
            yield Poem(id=self._id(node, "mengxue", path, i), collection="mengxue", book=book,
                       dynasty=dynasty, title=str(title), author=author, paragraphs=paragraphs,
                       source=self.rel(path), position=i, form=form)
        content = node.get("content")
        if isinstance(content, list):
            for child in content:
                yield from self._mengxue_node(child, path, book, title, author, dynasty, form, state)
        elif "paragraphs" not in node:
            state["bad"] += 1

    # -- public --------------------------------------------------------------------------------

    def poems(self) -> Iterator[Poem]:
        """Every poem of every collection present, in a fixed order."""
        for name in self.collections:
            yield from getattr(self, f"read_{name}")(self.root / name)


def poem_lines(poem: Poem, normalizer: Normalizer) -> list[Line]:
    """The lines of a poem, each with its position and the paragraph (couplet) it stands in."""
    out: list[Line] = []
    for p, paragraph in enumerate(poem.paragraphs):
        seg: Segment
        for seg in normalizer.split(paragraph):
            out.append(Line(poem.id, len(out), p, seg.original, seg.text))
    return out


def corpus_stats(root: str | Path, strict: bool = False, echo: Callable[[str], None] | None = None) -> dict:
    """Per collection: poems and lines; in all: poems, lines, distinct normalised lines, skipped files.

    Distinct lines are counted from 64-bit hashes kept in arrays, so memory stays small (8 bytes a
    line) for the 3.7M lines of the whole corpus.
    """
    from array import array

    import numpy as np

    reader = CorpusReader(root, strict=strict, echo=echo)
    norm = reader.normalizer()
    stats: dict[str, dict] = {}
    hashes: dict[str, array] = {}
    for poem in reader.poems():
        s = stats.setdefault(poem.collection, {"poems": 0, "lines": 0})
        s["poems"] += 1
        lines = poem_lines(poem, norm)
        s["lines"] += len(lines)
        hashes.setdefault(poem.collection, array("q")).extend(hash(line.text) for line in lines)
    arrays = {name: np.unique(np.frombuffer(h, dtype=np.int64)) for name, h in hashes.items()}
    for name, s in stats.items():
        s["distinct_lines"] = int(arrays[name].size)
    every = np.unique(np.concatenate(list(arrays.values()))) if arrays else np.empty(0)
    return {
        "collections": stats,
        "poems": sum(s["poems"] for s in stats.values()),
        "lines": sum(s["lines"] for s in stats.values()),
        "distinct_lines": int(every.size),
        "authors": len(reader.authors),
        "skipped": reader.warnings.skipped,
    }
