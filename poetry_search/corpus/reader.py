"""Reading the chinese-poetry dataset (any folder laid out like the npm package's ``dist/``).

Every collection has its own JSON shape; each is handled on purpose by an entry of ``TABLE`` below
(its files, book, dynasty and record shape), and a record of an unexpected shape is skipped with a
warning naming its file. Reading streams file by file, so
memory holds one file's records at a time.

Poem ids: the dataset's own ``id`` where it has one and it is unique, else
``collection/file-stem/position``, so a rebuild from the same files gives the same ids.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path

from ..errors import CorpusError
from .normalize import Normalizer, Segment, fold


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
# Record shapes: (record, n) → the Poem fields of one record (n: the record's 1-based number within
# its collection), or _Shape when the record is not of that shape.


def _shi(rec, n=0):
    return {
        "title": _get(rec, "title", required=False) or "",
        "author": _get(rec, "author", required=False) or "",
        "paragraphs": _strs(_get(rec, "paragraphs"), "paragraphs"),
        "tags": [t for t in (rec.get("tags") or []) if isinstance(t, str)],
    }


def _ci(rec, n=0):
    return {
        "title": _get(rec, "title", "rhythmic", required=False) or "",
        "author": _get(rec, "author", required=False) or "",
        "paragraphs": _strs(_get(rec, "paragraphs"), "paragraphs"),
        "form": _get(rec, "rhythmic", required=False),
        "tags": [t for t in (rec.get("tags") or []) if isinstance(t, str)],
    }


def _shijing(rec, n=0):
    return {
        "title": _get(rec, "title"),
        "author": "",
        "paragraphs": _strs(_get(rec, "content"), "content"),
        "chapter": _get(rec, "chapter", required=False),
        "section": _get(rec, "section", required=False),
    }


def _chuci(rec, n=0):
    return {
        "title": _get(rec, "title"),
        "author": _get(rec, "author", required=False) or "",
        "paragraphs": _strs(_get(rec, "content"), "content"),
        "section": _get(rec, "section", required=False),
    }


def _caocao(rec, n=0):
    out = _shi(rec)
    out["author"] = out["author"] or "曹操"
    return out


def _nalan(rec, n=0):
    return {
        "title": _get(rec, "title", required=False) or "",
        "author": _get(rec, "author", required=False) or "纳兰性德",
        "paragraphs": _strs(_get(rec, "para", "paragraphs"), "para"),
    }


def _yuding(rec, n=0):
    out = _shi(rec)
    out["section"] = rec.get("volume") if isinstance(rec.get("volume"), str) else None
    return out


def _chapter(rec, n=0):
    """论语 and 四书五经: a chapter of prose, titled by its chapter."""
    chapter = _get(rec, "chapter")
    return {"title": chapter, "author": "", "chapter": chapter,
            "paragraphs": _strs(_get(rec, "paragraphs"), "paragraphs")}


def _youmengying(rec, n=0):
    return {"title": f"幽梦影 {n}", "author": "张潮", "paragraphs": _strs(_get(rec, "content"), "content")}


# ---------------------------------------------------------------------------------------------
# The table: adding a collection is one entry.

POEMS, AUTHORS, SKIP, NESTED = "poems", "authors", "skip", "nested"


@dataclass(frozen=True)
class Rule:
    """How to read the files of a collection that match ``match`` (a pattern on the path relative
    to the collection folder): ``POEMS`` (a list of records, each read by ``shape``), ``AUTHORS``
    (an authors file), ``NESTED`` (蒙学's nested books) or ``SKIP`` (not poetry, on purpose)."""

    match: str
    read: str = POEMS
    book: str | Callable[[Path], str] = ""
    dynasty: str = ""
    shape: Callable[..., dict] | None = None

    def book_of(self, path: Path) -> str:
        return self.book(path) if callable(self.book) else self.book


@dataclass(frozen=True)
class Collection:
    """One collection folder: its files (globs read in this order, each sorted by ``order``) and
    the rules that read them (the first that matches a file decides; a file none matches is
    skipped with a warning)."""

    title: str
    rules: tuple[Rule, ...]
    files: tuple[str, ...] = ("*.json",)
    order: Callable[[Path], object] = lambda p: p.name


def _numbered_by_kind(p: Path):
    """poet.song.0.json … poet.tang.57000.json: by kind, then by number."""
    m = re.search(r"\.(\d+)\.json$", p.name)
    return (p.name.split(".")[1] if m else p.name, int(m.group(1)) if m else 0)


def _numbered_first(p: Path):
    """ci.song.0.json … ci.song.21000.json, then the other files by name."""
    m = re.search(r"\.(\d+)\.json$", p.name)
    return (0 if m else 1, int(m.group(1)) if m else 0, p.name)


_SISHU_BOOKS = {"daxue": "大学", "zhongyong": "中庸", "mengzi": "孟子"}

TABLE: dict[str, Collection] = {
    "quantangshi": Collection("全唐诗 / 全宋诗", order=_numbered_by_kind, rules=(
        Rule("poet.tang.*", book="全唐诗", dynasty="唐", shape=_shi),
        Rule("poet.song.*", book="全宋诗", dynasty="宋", shape=_shi),
        Rule("唐诗三百首.json", book="唐诗三百首", dynasty="唐", shape=_shi),
        Rule("唐诗补录.json", book="唐诗补录", dynasty="唐", shape=_shi),
        Rule("authors.tang.json", AUTHORS, dynasty="唐"),
        Rule("authors.song.json", AUTHORS, dynasty="宋"),
        Rule("表面结构字.json", SKIP),  # read up front: it maps structural descriptions to characters
        # error/ holds the dataset's known-bad copies: not read, on purpose (the glob stays at the top)
    )),
    "songci": Collection("全宋词", order=_numbered_first, rules=(
        Rule("ci.song.*", book="全宋词", dynasty="宋", shape=_ci),
        Rule("宋词三百首.json", book="宋词三百首", dynasty="宋", shape=_ci),
        Rule("author.song.json", AUTHORS, dynasty="宋"),
    )),
    "yuanqu": Collection("元曲", rules=(Rule("*", book="元曲", dynasty="元", shape=_shi),)),
    "shijing": Collection("诗经", rules=(Rule("*", book="诗经", dynasty="先秦", shape=_shijing),)),
    "chuci": Collection("楚辞", rules=(Rule("*", book="楚辞", dynasty="先秦", shape=_chuci),)),
    "wudaishici": Collection("五代诗词", files=("huajianji/*.json", "nantang/*.json"), rules=(
        Rule("huajianji/*preface*", SKIP),  # 花间集序: prose about the anthology, not a poem
        Rule("huajianji/*", book="花间集", dynasty="五代", shape=_ci),
        Rule("nantang/poetrys.json", book="南唐二主词", dynasty="五代", shape=_ci),
        Rule("nantang/authors.json", AUTHORS, dynasty="五代"),
        Rule("nantang/intro.json", SKIP),
    )),
    "caocaoshiji": Collection("曹操诗集", rules=(Rule("*", book="曹操诗集", dynasty="汉", shape=_caocao),)),
    "nalanxingde": Collection("纳兰性德诗集", rules=(Rule("*", book="纳兰性德诗集", dynasty="清", shape=_nalan),)),
    "shuimotangshi": Collection("水墨唐诗", rules=(Rule("*", book="水墨唐诗", dynasty="唐", shape=_shi),)),
    "yudingquantangshi": Collection("御定全唐诗", files=("json/*.json",),
                                    rules=(Rule("*", book="御定全唐诗", dynasty="唐", shape=_yuding),)),
    "mengxue": Collection("蒙学", rules=(Rule("*", NESTED),)),
    "lunyu": Collection("论语", rules=(Rule("*", book="论语", dynasty="先秦", shape=_chapter),)),
    "sishuwujing": Collection("四书五经", rules=(
        Rule("*", book=lambda p: _SISHU_BOOKS.get(p.stem, p.stem), dynasty="先秦", shape=_chapter),)),
    "youmengying": Collection("幽梦影", rules=(Rule("*", book="幽梦影", dynasty="清", shape=_youmengying),)),
}
# The collections we know, in reading order, with their human name.
COLLECTIONS: dict[str, str] = {name: c.title for name, c in TABLE.items()}


#: How many paragraphs on a note opened in one paragraph may close (``join_split_notes``).
NOTE_REACH = 4


class _Pass:
    """What one read of the corpus accumulates: nothing of it outlives ``poems()``."""

    def __init__(self):
        self.seen_ids: set[str] = set()
        self.authors: list[Author] = []
        self.records = 0  # records of the current collection so far


# ---------------------------------------------------------------------------------------------


class CorpusReader:
    """Reads a corpus folder into ``Poem`` and ``Author`` records.

    ``poems()`` may be called any number of times and gives the same records each time; after a
    complete read, ``authors`` holds that read's authors and ``warnings.skipped`` its skipped files.
    """

    def __init__(self, root: str | Path, strict: bool = False, echo: Callable[[str], None] | None = None):
        self.root = Path(root)
        self.warnings = Warnings(strict, echo)
        self.authors: list[Author] = []
        self.structures: dict[str, str] = {}
        if not self.root.is_dir():
            raise CorpusError(f"no corpus folder at {self.root}: run `make corpus` or pass a folder laid out like chinese-poetry's dist/")
        self.collections = [c for c in TABLE if (self.root / c).is_dir()]
        if not self.collections:
            present = ", ".join(sorted(p.name for p in self.root.iterdir() if p.is_dir())[:8]) or "nothing"
            raise CorpusError(
                f"{self.root} is not a chinese-poetry corpus: expected one or more of the folders "
                f"{', '.join(TABLE)} (found {present}); run `make corpus` for the full dataset"
            )
        self._load_structures()

    # -- public --------------------------------------------------------------------------------

    def poems(self) -> Iterator[Poem]:
        """Every poem of every collection present, in a fixed order."""
        run = _Pass()
        self.warnings.skipped = []
        for name in self.collections:
            for poem in self._collection(name, run):
                poem.paragraphs = join_split_notes(poem.paragraphs)
                yield poem
        self.authors = run.authors

    def normalizer(self) -> Normalizer:
        return Normalizer(self.structures)

    def rel(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()

    # -- reading -------------------------------------------------------------------------------

    def _collection(self, name: str, run: _Pass) -> Iterator[Poem]:
        spec = TABLE[name]
        folder = self.root / name
        run.records = 0
        for pattern in spec.files:
            for path in sorted(folder.glob(pattern), key=spec.order):
                where = path.relative_to(folder).as_posix()
                rule = next((r for r in spec.rules if fnmatchcase(where, r.match)), None)
                if rule is None:
                    self.warnings.skip(self.rel(path), "not a file this reader knows")
                elif rule.read == POEMS:
                    yield from self._flat(path, name, rule, run)
                elif rule.read == AUTHORS:
                    self._authors(path, rule.dynasty, run)
                elif rule.read == NESTED:
                    yield from self._mengxue(path, run)

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

    @staticmethod
    def _id(record, collection: str, path: Path, position: int, run: _Pass) -> str:
        own = record.get("id") if isinstance(record, dict) else None
        if isinstance(own, str) and own and own not in run.seen_ids:
            pid = own
        else:
            pid = f"{collection}/{path.stem}/{position}"
        run.seen_ids.add(pid)
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

    def _flat(self, path: Path, collection: str, rule: Rule, run: _Pass) -> Iterator[Poem]:
        """A file that is a list of poem records, each read by the rule's shape."""
        records = self._records(path)
        if records is None:
            return
        bad = 0
        source = self.rel(path)
        book = rule.book_of(path)
        for i, rec in enumerate(records):
            run.records += 1
            try:
                fields = rule.shape(rec, run.records)
            except _Shape:
                bad += 1
                continue
            pid = self._id(rec, collection, path, i, run)
            yield Poem(id=pid, collection=collection, book=book, dynasty=fields.pop("dynasty", None) or rule.dynasty,
                       source=source, position=i, **fields)
        if bad:
            self.warnings.skip(source, "unexpected record shape", bad)

    def _authors(self, path: Path, dynasty: str, run: _Pass, bio_keys=("desc", "description", "short_description")) -> None:
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
            run.authors.append(Author(name=name, dynasty=dynasty, bio=bio, source=self.rel(path)))
        if bad:
            self.warnings.skip(self.rel(path), "author records without a name", bad)

    def _mengxue(self, path: Path, run: _Pass) -> Iterator[Poem]:
        """Primers: one object a book, poems nested under ``content`` one or two levels deep."""
        data = self._load(path)
        if data is None:
            return
        if not isinstance(data, dict) or not isinstance(data.get("title"), str):
            self.warnings.skip(self.rel(path), "expected one object with a title")
            return
        book = fold(data["title"])
        default_author, default_dynasty = _split_author(data.get("author") or "")
        tags = data.get("tags")
        dynasty = default_dynasty or (fold(tags) if isinstance(tags, str) and len(tags) <= 4 and tags not in ("新版", "傳統版") else "")
        state = {"position": 0, "bad": 0, "run": run}
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
            yield Poem(id=self._id(node, "mengxue", path, i, state["run"]), collection="mengxue", book=book,
                       dynasty=dynasty, title=str(title), author=author, paragraphs=paragraphs,
                       source=self.rel(path), position=i, form=form)
        content = node.get("content")
        if isinstance(content, list):
            for child in content:
                yield from self._mengxue_node(child, path, book, title, author, dynasty, form, state)
        elif "paragraphs" not in node:
            state["bad"] += 1


def _open_parens(paragraph: str) -> int:
    return sum(paragraph.count(c) for c in "(（") - sum(paragraph.count(c) for c in ")）")


def join_split_notes(paragraphs: list[str], reach: int = NOTE_REACH) -> list[str]:
    """Paragraphs with an editor's note that the record splits across them, joined into one.

    全唐诗's notes (``（〖1〗…。``, ``〖2〗…``, ``）。``), 蒙学's 唐诗三百首 (``…(回樂``, ``一作：回樂``,
    ``）``) and 元曲's stage directions open a parenthesis in one paragraph and close it in a later
    one; read apart, each piece of the note is a "line" (回乐, 宵一作) and the verse around it loses
    its couplet. A paragraph that leaves a parenthesis open is joined with the next ones up to the
    one that closes it, when that is at most ``reach`` paragraphs on; a parenthesis that nothing
    closes within reach is left as it is, so no verse is swallowed by a stray one."""
    out: list[str] = []
    i = 0
    while i < len(paragraphs):
        depth, j = _open_parens(paragraphs[i]), i
        if depth > 0:
            while depth > 0 and j + 1 < len(paragraphs) and j - i < reach:
                j += 1
                depth += _open_parens(paragraphs[j])
            if depth > 0:
                j = i
        out.append("".join(paragraphs[i:j + 1]))
        i = j + 1
    return out


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
