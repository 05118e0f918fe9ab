"""The index as a user opens it: one facade that opens, checks and delegates.

    index = Index.open("index")
    hits = index.search("大梦谁先觉", k=10, author="李白")

The work is done by the parts under it, each given only what it uses: ``SemanticSearch`` (the
vectors), ``LexicalSearch`` (the lexicon), ``ModeSearch`` (query's modes over both), ``Results``
(hits from the store's rows), ``Neighbours`` (bulk k-NN), ``QueryEncoder`` (queries to vectors).
None of them imports this module.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from .. import __version__
from ..corpus.dynasties import dynasty_rank
from ..corpus.normalize import Normalizer, fold
from ..encode.onnx_runtime import DATA_NAME, ONNX_NAME, TOKENIZER_NAME
from ..errors import (
    IndexDamagedError,
    IndexNotFoundError,
    ModelMismatchError,
    PoemNotFoundError,
    UsageProblem,
    VectorsMissingError,
)
from ..options import DEFAULT_INDEX, MODES, NEIGHBOURS_BATCH_SIZE, SORTS
from ..store import integrity, vectors
from ..store.db import DB_NAME, SCHEMA_VERSION, Store
from .filters import Filters
from .lexical import LexicalSearch
from .modes import ModeSearch
from .neighbours import NeighbourBatch, Neighbours
from .patterns import parse_pattern
from .prosody import ProsodySearch, RhymeBook, rhyme_book
from .query import QueryEncoder
from .results import FindResult, Hit, PoemHit, Results, check_k, mark
from .semantic import SemanticSearch
from .suggest import suggest_names

ONNX_FILES = (ONNX_NAME, DATA_NAME, TOKENIZER_NAME)
__all__ = ["Index", "Hit", "PoemHit", "FindResult", "similarity"]
log = logging.getLogger("poetry_search")


def similarity(texts: Sequence[str], index: str | Path | None = None, model: str | None = None) -> np.ndarray:
    """The cosine matrix of ``texts``: with ``model`` used directly, or with the model of the index
    at ``index`` (default: ``DEFAULT_INDEX``). Both normalise and encode like a query."""
    if len(texts) < 2:
        raise UsageProblem("give at least two texts to compare")
    if index is not None and model:
        raise UsageProblem("pass --index or --model, not both")
    if model:
        return QueryEncoder.for_model(model).similarity(texts)
    if index is None and not Path(DEFAULT_INDEX).exists():
        raise UsageProblem(f"no index at {DEFAULT_INDEX}/ to take the model from: pass --model M (e.g. --model bert-base-chinese) "
                           "or --index PATH, or build one with `make index`")
    return Index.open(index or DEFAULT_INDEX).similarity(texts)


class Index:
    """An index on disk: SQLite metadata, FAISS vectors, and the manifest that ties them."""

    def __init__(self, path: Path, store: Store, vecs: vectors.Vectors | None, manifest: dict):
        self.path = path
        self.store = store
        self.vectors = vecs
        self.manifest = manifest
        self.normalizer = Normalizer(store.glyphs())
        self.queries = QueryEncoder(self.normalizer, self._load_encoder, stored=self._stored_vectors)
        self._lexicon = None
        self._has_lexicon: bool | None = None
        self.results = Results(store, lambda: self.lexicon, lambda: self.has_lexicon)
        self.semantic = SemanticSearch(vecs, self.results) if vecs is not None else None
        self.lexical = LexicalSearch(store, lambda: self.lexicon, self.normalizer.text, self.results)
        self.prosody = ProsodySearch(store)
        self.modes = ModeSearch(self.semantic, self.lexical, self.results, len(self))
        self._bulk = None
        self._facets: dict | None = None
        self._authors: list[str] | None = None

    @classmethod
    def open(cls, path: str | Path = DEFAULT_INDEX, ef: int | None = None, nprobe: int | None = None) -> "Index":
        """Open and check an index; ``ef``/``nprobe`` override the search depth chosen at build time."""
        p = Path(path)
        if not p.exists() or (p.is_dir() and not any(p.iterdir())):
            raise IndexNotFoundError(f"no index at {p}: run `make index` or pass --index")
        if not p.is_dir():
            raise IndexNotFoundError(f"{p} is not an index folder: run `make index` or pass --index")
        if not (p / DB_NAME).exists() and not (p / vectors.VECTORS_NAME).exists():
            raise IndexNotFoundError(f"no index at {p} (no {DB_NAME} or {vectors.VECTORS_NAME}): run `make index` or pass --index")
        recs = integrity.read_records(p)
        if recs:  # sizes and times only (a file whose time alone differs is hashed)
            # the ONNX export checks itself on load and falls back to torch with a warning: a query
            # still gets the right answer, so only `info --verify` names it
            recs = {name: r for name, r in recs.items() if name not in ONNX_FILES}
            problems = integrity.check_changed(p, recs, rebuild=f"poetry-search index --index {p} --corpus CORPUS")
            if problems:
                raise IndexDamagedError("; ".join(str(x) for x in problems))
        store = Store(p / DB_NAME, read_only=True)  # queries never write; one connection per thread
        manifest = store.manifest()
        if not manifest.get("counts"):
            raise IndexDamagedError(f"{p / DB_NAME} has no manifest (an unfinished build?): rebuild the index with `poetry-search index`")
        if manifest.get("schema_version") != SCHEMA_VERSION:
            raise IndexDamagedError(
                f"the index at {p} has schema version {manifest.get('schema_version')}, and this poetry-search "
                f"{__version__} reads version {SCHEMA_VERSION}: rebuild it with `poetry-search index --index {p}`")
        n_texts = store.count("texts")
        if manifest.get("lexical_only"):
            if manifest["counts"].get("texts") != n_texts:
                raise IndexDamagedError(f"the index at {p} is inconsistent: {n_texts} texts in the database, "
                                        f"{manifest['counts'].get('texts')} in the manifest; rebuild it with `poetry-search index`")
            return cls(p, store, None, manifest)
        index = vectors.Vectors.load(p)
        expected = manifest["counts"].get("texts")
        if index.ntotal != n_texts or expected != n_texts:
            raise IndexDamagedError(f"the index at {p} is inconsistent: {index.ntotal} vectors, {n_texts} texts in the database, "
                                    f"{expected} in the manifest; rebuild it with `poetry-search index`")
        if index.d != manifest.get("dimension"):
            raise IndexDamagedError(f"the vectors at {p} have dimension {index.d} but the manifest says {manifest.get('dimension')}: rebuild the index")
        self = cls(p, store, index, manifest)
        if ef is not None or nprobe is not None:
            index.set_depth(ef=ef, nprobe=nprobe)
        else:
            depth = manifest.get("search_depth") or {}
            index.set_depth(**{k: depth[k] for k in ("ef", "nprobe") if k in depth})
        return self

    def __len__(self) -> int:
        return self.vectors.ntotal if self.vectors is not None else int(self.manifest["counts"]["texts"])

    @property
    def has_vectors(self) -> bool:
        """False for an index built with ``--lexical-only``: only lexical calls work on it."""
        return self.vectors is not None

    def require_vectors(self) -> None:
        if self.vectors is None:
            raise VectorsMissingError(
                f"the index at {self.path} was built with --lexical-only and has no vectors: `poetry-search find`, "
                f"`poem` and `query --mode lexical` work on it; to search by meaning, rebuild it with a model: "
                f"poetry-search index --corpus {self.manifest.get('corpus', 'CORPUS')} --index {self.path} --model bert-base-chinese")

    @property
    def has_lexicon(self) -> bool:
        """False for an index built before lexical search existed (semantic search still works)."""
        if self._has_lexicon is None:
            self._has_lexicon = self.store.has_lexicon and self.store.has_lexicon_field("text")
        return self._has_lexicon

    @property
    def lexicon(self):
        """The lexical index (lexical.py), read lazily."""
        if self._lexicon is None:
            from ..store.lexicon import Lexicon

            if not self.has_lexicon:
                raise IndexDamagedError(f"the index at {self.path} was built before lexical search existed: "
                                        f"rebuild it with `poetry-search index` (or `--lexical-only`) to use find, poem and --mode")
            self._lexicon = Lexicon(self.store)
        return self._lexicon

    def warm(self) -> None:
        """Load now what the first query would otherwise wait for: the query encoder (an index with
        vectors), the near-match index and the normaliser's tables. A server calls this on open."""
        self.normalizer.text("春")
        if self.has_vectors:
            self.encoder  # noqa: B018
        if self.has_lexicon:
            self.lexical.near_index()

    def check_model(self, model: str | None) -> None:
        """Refuse a model other than the one the index was built with."""
        if model is None:
            return
        self.require_vectors()
        built = self.manifest["model"]
        same = model == built or (Path(model).exists() and Path(built).exists() and Path(model).resolve() == Path(built).resolve())
        if not same:
            raise ModelMismatchError(f"the index at {self.path} was built with model {built}, not {model}: "
                                     f"drop --model, or rebuild with `poetry-search index --model {model}`")

    @property
    def encoder(self):
        """The query encoder, loaded on first use: the index's ONNX export on ONNX Runtime when it
        has a usable one (no torch), else the torch encoder of its model."""
        return self.queries.encoder

    def _load_encoder(self):
        from ..encode.onnx_runtime import open_for_index

        return open_for_index(self.path, self.manifest) or self._load_torch_encoder()

    def _load_torch_encoder(self):
        """The index's own model on torch, in fp32 (a query vector is fp32 whatever the build's
        precision); refused if its files changed since the build. They are hashed again only when
        their sizes or modification times differ from the manifest's record."""
        from ..encode.encoder import Encoder

        self.require_vectors()
        m = self.manifest
        spec = m["model"]
        enc = Encoder(spec, device="auto", precision="fp32",
                      known={"fingerprint": m.get("model_fingerprint"), "files": m.get("model_files")})
        if enc.resolved.fingerprint != m.get("model_fingerprint"):
            raise ModelMismatchError(
                f"the files of model {spec} changed since the index at {self.path} was built "
                f"(fingerprint {enc.resolved.fingerprint}, index has {m.get('model_fingerprint')}): "
                f"rebuild it with `poetry-search index --model {spec}`")
        return enc

    def adopt_encoder(self, other: "Index") -> bool:
        """Share ``other``'s loaded model when both indexes were built with the same one (same
        fingerprint and precision): a server reopening a rebuilt index then needs no second load."""
        keys = ("model", "model_fingerprint", "precision")
        if other.queries._encoder is None or any(self.manifest.get(k) != other.manifest.get(k) for k in keys):
            return False
        self.queries.share_model(other.queries)
        return True

    def _stored_vectors(self, normed: Sequence[str]) -> dict[int, np.ndarray]:
        """For each query that is a corpus line: its vector in the index, the very vector the model
        gave at build time (no model to load)."""
        known = self.store.ids_of_texts(normed)
        pos = [i for i, t in enumerate(normed) if t in known]
        if not pos:
            return {}
        vecs = self.vectors.get(np.array([known[normed[i]] for i in pos], dtype=np.int64))
        return dict(zip(pos, vecs))

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Normalise and encode query texts exactly like corpus lines."""
        return self.queries.embed(texts)

    def filters(self, author: str | None = None, dynasty: str | None = None, collection: str | None = None,
                form: str | None = None) -> Filters:
        """The filters folded as this index stores them (an unknown form is refused)."""
        return Filters.fold(self.store, author, dynasty, collection, form, facets=self.facets)

    def author_suggestions(self, author: str | None, n: int = 3) -> list[str]:
        """The nearest authors' names to ``author`` when it has no poems in this index (by edit
        distance, authors with more poems first); [] when it has some."""
        folded = fold(author)
        if not folded or self.store.has_author(folded):
            return []
        if self._authors is None:
            self._authors = [a for a, _ in self.store.author_counts()]
        return suggest_names(folded, self._authors, n)

    # -- search --------------------------------------------------------------------------------

    def search(self, text: str, k: int = 10, author: str | None = None, dynasty: str | None = None,
               collection: str | None = None, *, mode: str = "hybrid", form: str | None = None, sort: str = "score",
               poems: bool = False, offset: int = 0) -> list:
        """The k best lines for ``text`` (see ``search_batch``), filters applied before the search."""
        return self.search_batch([text], k=k, author=author, dynasty=dynasty, collection=collection, mode=mode,
                                 form=form, sort=sort, poems=poems, offset=offset)[0]

    def search_batch(self, texts: Sequence[str], k: int = 10, author: str | None = None, dynasty: str | None = None,
                     collection: str | None = None, *, mode: str = "hybrid", form: str | None = None,
                     sort: str = "score", poems: bool = False, offset: int = 0) -> list[list]:
        """``search`` for many queries, encoded and searched in batches.

        ``mode``: ``hybrid`` (lines containing the query verbatim first, the line equal to it
        marked ``exact``, the others ``contains``, in lexical order: exact, popularity, id; then
        the nearest lines by cosine, ``semantic``, no line twice), ``semantic`` (cosine only,
        exactly the plain nearest-neighbour search), ``lexical`` (containing lines only).
        ``sort="popularity"`` orders the same hits famous first. ``poems=True`` groups hits by
        poem (their first matching occurrence's) and returns k ``PoemHit``s. ``offset`` skips that
        many results first (paging): the page is exactly that slice of a search for ``offset + k``."""
        check_k(k)
        if offset < 0:
            raise UsageProblem("--offset must be 0 or more", code="bad_offset")
        if offset:
            pages = self.search_batch(texts, k=offset + k, author=author, dynasty=dynasty, collection=collection, mode=mode,
                                      form=form, sort=sort, poems=poems)
            return [Results.rerank(page[offset:offset + k], start=offset + 1) for page in pages]
        if mode not in MODES:
            raise UsageProblem(f"unknown mode {mode!r}: use one of {', '.join(MODES)}")
        if sort not in SORTS:
            raise UsageProblem(f"unknown sort {sort!r}: use one of {', '.join(SORTS)}")
        normed = [self.queries.normalize(t) for t in texts]  # bad queries fail before any work
        if mode != "lexical":
            self.require_vectors()
        if mode == "hybrid" and not self.has_lexicon:
            log.warning(f"the index at {self.path} was built before lexical search existed: these are semantic hits only "
                        "(rebuild it with `poetry-search index` for exact matches first)")
            mode = "semantic"
        plain = mode == "semantic" and not form and not poems and sort == "score"
        filters = self.filters(author, dynasty, collection, None if plain else form)
        allowed = filters.allowed_ids(self.store) if mode != "lexical" else None
        if allowed is not None and allowed.size == 0:
            filters.warn_no_match(self.author_suggestions(author), author=author, dynasty=dynasty, collection=collection, form=form)
            return [[] for _ in texts]
        if not texts:
            return []
        if plain:
            pages = self.semantic.search(self.queries.encode(normed), k, filters, allowed)
        else:
            q = self.queries.encode(normed) if self.has_vectors else None
            pages = self.modes.search(normed, q, k, mode, filters, allowed, sort, poems)
        return mark(pages, [[t] for t in normed], self.normalizer)

    def find(self, pattern: str | None = None, *, title: str | None = None, author: str | None = None,
             dynasty: str | None = None, collection: str | None = None, form: str | None = None, k: int = 10,
             offset: int = 0, sort: str = "default", poems: bool = False, tones: str | None = None,
             rhyme: str | None = None, rhymes_with: str | None = None) -> FindResult:
        """Lines matching ``pattern`` (a fragment: 谁先觉; or with ``?`` one character, ``*`` any
        run, matched against the whole line: '?花*'), or, with no pattern, the poems whose title
        contains ``title`` and/or whose author is ``author``. Scripts fold (誰先覺 = 谁先觉).

        Order (``sort="default"``): the line equal to the fragment first, then popularity, then
        id; ``"popularity"``: popularity, then id. ``total`` counts every match; ``k``/``offset``
        page through them. ``poems=True`` returns poems, each with its matching lines.

        By 平水韵, alone or with the rest: ``tones`` (平平仄仄平; 平 and 仄 also match a 中
        character, 中 matches either, ``?`` one character, ``*`` any run; whole line), ``rhyme``
        (a group, 七阳: the line ends in one of its characters), ``rhymes_with`` (a character,
        霜: the line ends in one sharing a group with it). See ``search.prosody``."""
        check_k(k)
        self.lexicon  # an index without one says so before anything else is checked
        among = None
        if tones is not None or rhyme is not None or rhymes_with is not None:
            among = self.prosody.match(tones=tones, rhyme=rhyme, rhymes_with=rhymes_with)
        found = self.lexical.find(pattern, self.filters(author, dynasty, collection, form), title=title, k=k,
                                  offset=offset, sort=sort, poems=poems, among=among)
        if pattern is not None:  # a pattern's literal runs are what its hits are highlighted by
            runs = [r for seg in parse_pattern(pattern, self.normalizer.text).segments for r in seg.split("?") if r]
            mark([found.hits], [runs], self.normalizer)
        return found

    def poem(self, poem_id: str) -> dict:
        """A whole poem: id, title, author, dynasty, collection, book, form, source, popularity,
        paragraphs (the original) and lines (position, paragraph, original, text, text_id, and
        the line's 平水韵 ``tones`` and ``rhyme`` groups, None on an index built without them)."""
        got = self.store.poem(str(poem_id))
        if got is None:
            raise PoemNotFoundError(f"no poem has id {poem_id!r} in the index at {self.path}: "
                                    "take the poem_id of a hit (query --json, find --json)")
        known = self.store.prosody_of([line["text_id"] for line in got["lines"]])
        for line in got["lines"]:
            tones, rhyme = known.get(line["text_id"], (None, None))
            line.update(tones=tones, rhyme=rhyme.split() if rhyme is not None else None)
        return got

    def poet(self, name: str, k: int = 20, offset: int = 0) -> dict:
        """A poet: name, dynasty, biography and poems by popularity, ``k`` from ``offset`` (``search.poets.poet``)."""
        from .poets import poet

        return poet(self.store, name, k=k, offset=offset)

    def rhyme(self, char: str, limit: int | None = None) -> RhymeBook:
        """The rhyme book of ``char``: its 平水韵 group(s), each with its characters, most used
        first, counted as the lines of this index's corpus that end in them (``limit``: at most
        that many characters a group)."""
        self.prosody.require()
        return rhyme_book(char, self.store.rhyme_char_counts, limit)

    def check(self, text: str | Sequence[str] | None = None, poem_id: str | None = None, strict: bool = False):
        """The 格律 verdict (``prosody.meter.Verdict``) of ``text`` (a poem, or its lines) or of
        the corpus poem ``poem_id`` (its lines as the corpus writes them)."""
        from ..build.prosody import written_form
        from .prosody import check

        if (text is None) == (poem_id is None):
            raise UsageProblem("check one poem: pass its text, or the poem id of a corpus poem (not both)")
        if text is not None:
            return check(text, strict=strict)
        lines = self.poem(poem_id)["lines"]
        return check([written_form(line["original"], line["text"], self.normalizer) for line in lines], strict=strict)

    def echoes(self, text_id: int, k: int = 10) -> list[Hit]:
        """The k lines nearest to line ``text_id`` written by other authors (``--exclude author``
        of bulk neighbours: lines that echo another poet), in score order."""
        self.require_vectors()
        check_k(k)
        if not 0 <= int(text_id) < len(self):
            raise UsageProblem(f"no line has id {text_id}: ids run from 0 to {len(self) - 1}")
        qids = np.array([int(text_id)], dtype=np.int64)
        scores, nbrs = self.bulk.nearest(self.vectors.get(qids), qids, k, "author")
        return self.results.lines([(int(i), float(s), "semantic") for s, i in zip(scores[0], nbrs[0]) if i >= 0])

    # -- similarity ----------------------------------------------------------------------------

    def similarity(self, texts: Sequence[str]) -> np.ndarray:
        """The cosine matrix of ``texts`` with this index's model."""
        return self.queries.similarity(texts)

    # -- bulk nearest neighbours ---------------------------------------------------------------

    @property
    def bulk(self) -> Neighbours:
        """The bulk-neighbours engine of this index, made once (it caches what it reads)."""
        if self._bulk is None:
            self.require_vectors()
            self._bulk = Neighbours(self.store, self.vectors, self.queries)
        return self._bulk

    def neighbours(self, k: int = 10, exclude: str = "self", min_score: float | None = None,
                   queries: Sequence[str] | None = None, batch_size: int = NEIGHBOURS_BATCH_SIZE,
                   with_meta: bool = False, method: str = "auto", say=None,
                   stage_progress=None) -> Iterator[NeighbourBatch]:
        """Every line's (or every query's) k nearest lines, batch by batch (``Neighbours.batches``;
        the last batch's ``quality`` holds their measured recall)."""
        self.require_vectors()
        return self.bulk.batches(k=k, exclude=exclude, min_score=min_score, queries=queries, batch_size=batch_size,
                                 with_meta=with_meta, method=method, say=say, stage_progress=stage_progress)

    def facets(self) -> dict:
        """Poem counts per dynasty (in time order) and per collection and book: the values the
        filters take."""
        if self._facets is None:
            f = self.store.facets()
            f["dynasties"].sort(key=lambda d: dynasty_rank(d["name"]))
            self._facets = f
        return self._facets

    def verify(self) -> list[str]:
        """Every check of the index's files, the slow ones too: every byte against its record,
        SQLite's integrity check, the vector count against the rows, vectors of unit length.
        [] when the index is intact; else one sentence a problem, naming the file and the fix."""
        rebuild = f"poetry-search index --index {self.path} --corpus CORPUS"
        recs = integrity.read_records(self.path)
        out = [str(x) for x in integrity.verify(self.path, recs, rebuild=rebuild)] if recs else \
            [f"the index at {self.path} has no file records (built before they existed): rebuild it with `{rebuild}` "
             "to have its files checked"]
        out += [f"{DB_NAME}: {e}" for e in integrity.sqlite_integrity(self.path / DB_NAME)]
        if self.vectors is not None:
            out += self.vectors.check(self.store.count("texts"))
        return out

    def info(self) -> dict:
        return {**self.manifest, "index": str(self.path), "database": str(self.path / DB_NAME),
                "vectors": str(self.path / vectors.VECTORS_NAME) if self.has_vectors else None, "ntotal": len(self),
                "search_depth": self.vectors.depth() if self.has_vectors else {}}

    def close(self) -> None:
        self.store.close()
