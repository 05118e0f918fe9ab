"""Retrieval quality measured from the corpus itself (``poetry-search eval``), for any index.

    from poetry_search import Index
    from poetry_search.evaluate import evaluate
    report = evaluate(Index.open("index"), tasks=("couplets", "variants", "ann"), sample=1000, seed=0)
    for row in report.rows():
        print(row)

Tasks, each run with the index's model AND with a lexical baseline (BM25 over characters,
``CharBM25``) on the same sampled queries and the same candidates:

* ``couplets``: the first line of a couplet of regulated verse (a paragraph of a 五言/七言 poem;
  see ``regulated_couplets``) is the query; the second line is the one right answer among
  *every* distinct line of the index but the query's own.
* ``variants``: a line rebuilt from an editor's alternative reading, ``（一作X）`` in 全唐诗/全宋诗
  (see ``line_variants`` for exactly how), is the query; the line it is a variant of is the answer,
  among every line but the variant's own text (when the corpus also has it as a line).
* ``ccpm``: CCPM's multiple choice (a modern translation, four classical lines): the choice with the
  highest score to the translation is picked.
* ``ann``: recall@10 of the index's own search against exact search, on corpus lines.
* ``attribution``: every line of the curated editions (唐诗三百首, 宋词三百首, 千家诗) whose poet is
  known, typed as its normalised text, is looked up with the curated editions left out of the
  candidates: found, and whether the first hit (and the first ``poems=True`` poem) names the
  poet (aliases folded); the same for their couplets typed without the comma. No model, no
  baseline: it measures what a search shows (docs/attribution.md). ``found_where_held`` leaves
  out the lines of curated poems that the complete collections do not hold (no line of the poem
  found exactly outside the curated editions), which no search can find there.

Ranks and ties. A query's rank of its answer is computed from ``greater`` (candidates that score
strictly higher) and ``ties`` (other candidates that score exactly the same). Metrics are their
expected values when ties are broken uniformly at random: a lexical score ties often (a target that
shares no character with the query ties with every other such line), and neither "the target wins
every tie" nor "loses every tie" would be honest. The model's ranks come from the index's own
search (``RANK_CUTOFF`` deep, as a user gets them, approximate indexes included); a target outside
that list counts as a miss, and MRR is over that list (a deeper answer adds 0).
"""

from __future__ import annotations

import json
import logging
import math
import re
import sys
import time
import weakref
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ..corpus.normalize import Normalizer
from ..errors import PoetrySearchError, UsageProblem
from ..options import EVAL_DEFAULT_TASKS as DEFAULT_TASKS
from ..options import EVAL_SAMPLE as DEFAULT_SAMPLE
from ..options import EVAL_TASKS as TASKS
from ..store.recall import exact_top, recall_rows

log = logging.getLogger("poetry_search")

RANK_CUTOFF = 100
RECALL_KS = {"couplets": (1, 10, 100), "variants": (1, 10)}
VARIANT_BOOKS = ("全唐诗", "全宋诗")
VARIANT_MARKER = "一作"
ANN_K = 10
BM25_K1 = 1.2
BM25_B = 0.75
_BATCH = 256


# -- metrics ----------------------------------------------------------------------------------


def expected_recall(greater, ties, k: int) -> np.ndarray:
    """Per query, the probability that the answer is in the top ``k`` when it is beaten by
    ``greater`` candidates and ties with ``ties`` others, ties broken uniformly at random."""
    g = np.asarray(greater, dtype=np.float64)
    t = np.asarray(ties, dtype=np.float64)
    return np.clip((k - g) / (t + 1), 0.0, 1.0)


def expected_reciprocal_rank(greater, ties, cutoff: int = RANK_CUTOFF) -> np.ndarray:
    """Per query, the expected 1/rank (ranks ``greater+1 .. greater+ties+1`` equally likely), a rank
    beyond ``cutoff`` counting 0."""
    harmonic = np.concatenate([[0.0], np.cumsum(1.0 / np.arange(1, cutoff + 1))])
    g = np.minimum(np.asarray(greater, dtype=np.int64), cutoff)
    t = np.asarray(ties, dtype=np.int64)
    hi = np.minimum(g + t + 1, cutoff)
    return np.where(hi > g, (harmonic[hi] - harmonic[g]) / (t + 1), 0.0)


def ranking_metrics(greater, ties, ks: Sequence[int], cutoff: int = RANK_CUTOFF) -> dict[str, float]:
    """recall@k for each k, and MRR, averaged over queries (empty when there are none)."""
    if len(greater) == 0:
        return {}
    out = {f"recall@{k}": float(expected_recall(greater, ties, k).mean()) for k in ks}
    out["MRR"] = float(expected_reciprocal_rank(greater, ties, cutoff).mean())
    return out


def choice_accuracy(scores, answers) -> float:
    """Mean over items of the probability of picking the answer when the highest-scoring choice is
    picked and ties are broken uniformly at random."""
    s = np.asarray(scores, dtype=np.float64)
    best = s == s.max(axis=1, keepdims=True)
    a = np.asarray(answers, dtype=np.int64)
    return float(np.mean(best[np.arange(len(a)), a] / best.sum(axis=1)))


def rank_counts(scores: np.ndarray, target: int, exclude: Iterable[int] = ()) -> tuple[int, int]:
    """(greater, ties) of ``scores[target]`` among all other entries but ``exclude``."""
    st = scores[target]
    greater = int(np.count_nonzero(scores > st))
    ties = int(np.count_nonzero(scores == st)) - 1
    for e in set(exclude) - {target}:
        if e < 0:
            continue
        if scores[e] > st:
            greater -= 1
        elif scores[e] == st:
            ties -= 1
    return greater, ties


_TEXTS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def index_texts(index):
    """The index's lines as a pyarrow string array indexed by ``texts.id``, read once per index."""
    if index not in _TEXTS:
        _TEXTS[index] = index.store.text_column("text")
    return _TEXTS[index]


def text_arrays(arr) -> tuple[np.ndarray, np.ndarray]:
    """Every line of a pyarrow string array as one array of code points, and each line's length in
    characters: decoded at once from the array's UTF-8 buffer."""
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int32)[arr.offset:arr.offset + len(arr) + 1].astype(np.int64)
    data = np.frombuffer(arr.buffers()[2], dtype=np.uint8)[offsets[0]:offsets[-1]]
    offsets -= offsets[0]
    # characters per line: count the bytes that start a UTF-8 sequence
    starts = np.concatenate([[0], np.cumsum((data & 0xC0) != 0x80)])
    lengths = starts[offsets[1:]] - starts[offsets[:-1]]
    return np.frombuffer(data.tobytes().decode("utf-8").encode("utf-32-le"), dtype=np.uint32), lengths


def regulated_couplets(position: np.ndarray, paragraph: np.ndarray, text_id: np.ndarray, text_lengths: np.ndarray,
                       lengths: Sequence[int] = (5, 7)) -> np.ndarray:
    """Distinct (first line, second line) ``texts.id`` pairs, sorted, of the couplets of regulated
    verse: poems of at least two paragraphs in which every paragraph holds exactly two lines and
    every line has the same length, one of ``lengths`` (五言/七言), counted in characters of the
    normalised text. A couplet of two equal lines is left out.

    The arrays describe every line in build order (``Store.line_layout``): a poem starts where
    ``position`` is 0, a paragraph where the poem or the paragraph number changes."""
    n = len(position)
    if not n:
        return np.empty((0, 2), np.int64)
    new_poem = position == 0
    new_poem[0] = True
    new_para = new_poem.copy()
    new_para[1:] |= paragraph[1:] != paragraph[:-1]
    poem_of_line = np.cumsum(new_poem) - 1
    poem_starts = np.flatnonzero(new_poem)
    para_starts = np.flatnonzero(new_para)
    para_sizes = np.diff(np.append(para_starts, n))
    poem_of_para = poem_of_line[para_starts]
    n_poems = len(poem_starts)
    ln = text_lengths[text_id]
    lo = np.minimum.reduceat(ln, poem_starts)
    hi = np.maximum.reduceat(ln, poem_starts)
    paras = np.bincount(poem_of_para, minlength=n_poems)
    min_size = np.full(n_poems, np.iinfo(np.int64).max)
    max_size = np.zeros(n_poems, np.int64)
    np.minimum.at(min_size, poem_of_para, para_sizes)
    np.maximum.at(max_size, poem_of_para, para_sizes)
    verse = (lo == hi) & np.isin(lo, list(lengths)) & (min_size == 2) & (max_size == 2) & (paras >= 2)
    firsts = para_starts[verse[poem_of_para]]
    a, b = text_id[firsts], text_id[firsts + 1]
    span = int(text_id.max()) + 1
    key = np.unique((a * span + b)[a != b])  # distinct pairs, sorted by first then second line
    return np.stack([key // span, key % span], axis=1)


# -- the lexical baseline ---------------------------------------------------------------------


class CharBM25:
    """BM25 over characters (k1=1.2, b=0.75, idf = ln(1 + (N - df + 0.5) / (df + 0.5))), with the
    index's distinct lines as the documents.

    Kept as a character → line-ids inverted index in numpy arrays (CSC: ``indptr`` per character,
    ``rows`` and precomputed term weights per posting), so scoring a query against every line is one
    ``bincount`` over the postings of its characters, not a loop over lines."""

    def __init__(self, texts: Sequence[str] | None = None, *, codepoints: np.ndarray | None = None,
                 lengths: np.ndarray | None = None, k1: float = BM25_K1, b: float = BM25_B):
        if texts is not None:
            lengths = np.fromiter((len(t) for t in texts), np.int64, len(texts))
            codepoints = np.frombuffer("".join(texts).encode("utf-32-le"), dtype=np.uint32)
        assert codepoints is not None and lengths is not None
        self.k1, self.b = k1, b
        n = self.n = len(lengths)
        self.lengths = lengths.astype(np.int64)
        self.avgdl = float(self.lengths.mean()) if n else 0.0
        rows = np.repeat(np.arange(n, dtype=np.int32), self.lengths)
        # characters → dense ids through a lookup table (no sort of every character)
        present = np.zeros(int(codepoints.max()) + 1 if len(codepoints) else 1, bool)
        present[codepoints] = True
        self.chars = np.flatnonzero(present).astype(np.uint32)
        col = (np.cumsum(present, dtype=np.int32) - 1)[codepoints]
        del present
        # one stable sort by character keeps lines ascending within each: CSC order; a character
        # repeated in a line gives adjacent equal (character, line) entries, counted as its tf
        order = np.argsort(col, kind="stable")
        col, rows = col[order], rows[order]
        del order
        first = np.ones(len(col), bool)
        first[1:] = (col[1:] != col[:-1]) | (rows[1:] != rows[:-1])
        starts = np.flatnonzero(first)
        tf = np.diff(np.append(starts, len(col)))
        self.rows = rows[starts]
        col_of = col[starts]
        del col, rows, first, starts
        self.indptr = np.concatenate([[0], np.cumsum(np.bincount(col_of, minlength=len(self.chars)))]).astype(np.int64)
        df = np.diff(self.indptr)
        self.idf = np.log1p((n - df + 0.5) / (df + 0.5))
        self.weights = self._tf_weight(tf, self.lengths[self.rows]).astype(np.float32)

    @classmethod
    def from_index(cls, index) -> "CharBM25":
        """Built from the index's lines."""
        codepoints, lengths = text_arrays(index_texts(index))
        return cls(codepoints=codepoints, lengths=lengths)

    def _tf_weight(self, tf, length):
        tf = np.asarray(tf, dtype=np.float64)
        norm = 1.0 - self.b + self.b * np.asarray(length, dtype=np.float64) / self.avgdl
        return tf * (self.k1 + 1.0) / (tf + self.k1 * norm)

    def _idf_of(self, df) -> float:
        return math.log1p((self.n - df + 0.5) / (df + 0.5))

    def _query_terms(self, query: str) -> tuple[np.ndarray, np.ndarray]:
        """Character ids of the query present in the corpus, and how often each occurs in it."""
        cps = np.frombuffer(query.encode("utf-32-le"), dtype=np.uint32)
        uniq, qtf = np.unique(cps, return_counts=True)
        pos = np.searchsorted(self.chars, uniq)
        pos = np.minimum(pos, max(len(self.chars) - 1, 0))
        known = (self.chars[pos] == uniq) if len(self.chars) else np.zeros(len(uniq), bool)
        return pos[known], qtf[known]

    def scores(self, query: str) -> np.ndarray:
        """BM25 of ``query`` against every line (float64, indexed by ``texts.id``)."""
        ids, qtf = self._query_terms(query)
        if not len(ids):
            return np.zeros(self.n)
        parts = [slice(int(self.indptr[c]), int(self.indptr[c + 1])) for c in ids]
        rows = np.concatenate([self.rows[s] for s in parts])
        w = np.concatenate([self.weights[s] * (self.idf[c] * q) for s, c, q in zip(parts, ids, qtf)])
        return np.bincount(rows, weights=w, minlength=self.n)

    def score_docs(self, query: str, docs: Sequence[str]) -> np.ndarray:
        """BM25 of ``query`` against arbitrary ``docs``, with this corpus's idf and average length
        (for CCPM's choices, which need not be lines of the index)."""
        qchars: dict[str, int] = {}
        for c in query:
            qchars[c] = qchars.get(c, 0) + 1
        idf = {}
        for c in qchars:
            p = int(np.searchsorted(self.chars, ord(c)))
            df = int(self.indptr[p + 1] - self.indptr[p]) if p < len(self.chars) and self.chars[p] == ord(c) else 0
            idf[c] = self._idf_of(df)
        out = np.zeros(len(docs))
        for i, d in enumerate(docs):
            for c, q in qchars.items():
                tf = d.count(c)
                if tf:
                    out[i] += float(self._tf_weight(tf, len(d))) * idf[c] * q
        return out


# -- variants ---------------------------------------------------------------------------------

_PAREN = re.compile(r"（([^（）]*)）|\(([^()]*)\)")
_ALTERNATIVE = re.compile(r"一作[「『“]?([^「」『』“”]+)[」』”「]?")
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f]+")


@dataclass
class VariantScan:
    """What the （一作X） annotations of some lines gave: usable variant lines and why others did not."""

    lines: int = 0
    annotations: int = 0
    variants: list[tuple[str, str]] = field(default_factory=list)  # (variant text, line text)
    skipped: dict[str, int] = field(default_factory=dict)

    def skip(self, reason: str) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + 1


def line_variants(original: str, normalizer: Normalizer, scan: VariantScan | None = None) -> list[str]:
    """The variant lines that the ``（一作X）`` annotations of one corpus line spell out.

    How a variant is rebuilt: the line's normalised text is cut at the annotation into the text
    before it and the text after it (other annotations dropped); X, normalised the same way, replaces
    the same number of characters at the *end of the text before the annotation*, and the text after
    it stays. So 黃河遠上（一作「直上」）白雲間 gives 黄河直上白云间, and an X as long as the whole
    text before an annotation at the end of the line replaces the whole line. An annotation holding
    several readings (一作A，一作B) gives one variant each.

    Skipped (counted in ``scan.skipped``): an annotation that is not only 一作 readings (「餧」，一作「餵」;
    京本作…; 一作某人詩 reads as characters and is caught by the next rules only if it is too long),
    a reading that is not plain Han characters once normalised, one longer than the text before the
    annotation (which characters it replaces is ambiguous), and one that changes nothing.
    """
    scan = scan if scan is not None else VariantScan()
    full = normalizer.text(original)
    out: list[str] = []
    for m in _PAREN.finditer(original):
        content = m.group(1) if m.group(1) is not None else m.group(2)
        if VARIANT_MARKER not in content:
            continue
        scan.annotations += 1
        items = [s.strip() for s in re.split(r"[，,、；;]", content) if s.strip()]
        readings = [_ALTERNATIVE.fullmatch(s) for s in items]
        if not readings or not all(readings):
            scan.skip("not only 一作 readings")
            continue
        before = normalizer.text(original[:m.start()])
        after = normalizer.text(original[m.end():])
        if before + after != full:
            scan.skip("line does not split at the annotation")
            continue
        for r in readings:
            x = normalizer.text(r.group(1))
            if not x or not _HAN.fullmatch(x):
                scan.skip("reading is not plain characters")
            elif len(x) > len(before):
                scan.skip("reading longer than the text before it")
            else:
                variant = before[:len(before) - len(x)] + x + after
                if variant == full:
                    scan.skip("reading changes nothing")
                elif variant not in out:
                    out.append(variant)
    return out


def variant_census(corpus: str | Path) -> dict:
    """Scan a corpus folder (no index, no model) for the usable variants of 全唐诗 and 全宋诗: how
    many lines mention 一作 (``annotated_lines``), how many parenthesised annotations hold it, how
    many distinct (variant, line) pairs ``line_variants`` rebuilds, and why the rest were skipped."""
    from ..corpus.normalize import fold
    from ..corpus.reader import CorpusReader, poem_lines

    reader = CorpusReader(corpus)
    norm = reader.normalizer()
    scan = VariantScan()
    pairs: set[tuple[str, str]] = set()
    books = {fold(b) for b in VARIANT_BOOKS}
    # 全唐诗 and 全宋诗 live in one folder: read only that one
    reader.collections = [c for c in reader.collections if c == "quantangshi"]
    for poem in reader.poems():
        if fold(poem.book) not in books:
            continue
        for line in poem_lines(poem, norm):
            if VARIANT_MARKER in line.original:
                scan.lines += 1
                pairs.update((v, line.text) for v in line_variants(line.original, norm, scan))
    return {"corpus": str(corpus), "books": list(VARIANT_BOOKS), "annotated_lines": scan.lines,
            "annotations": scan.annotations, "usable_variants": len(pairs), "skipped": scan.skipped}


# -- the report -------------------------------------------------------------------------------


@dataclass
class TaskResult:
    """One task's figures: the model's and the baseline's metrics over the same ``n`` queries."""

    task: str
    n: int
    available: int
    model: dict[str, float]
    baseline: dict[str, float] | None
    note: str = ""
    seconds: float = 0.0
    details: dict = field(default_factory=dict, repr=False)

    def to_dict(self, details: bool = False) -> dict:
        d = asdict(self)
        if not details:
            d.pop("details")
        return d


@dataclass
class EvalReport:
    """Every task's result, and what was evaluated."""

    index: str
    model: str
    index_type: str
    texts: int
    seed: int
    sample: int
    tasks: list[TaskResult]

    def rows(self) -> list[dict]:
        """(task, metric, model, baseline, n) rows, the table ``poetry-search eval`` prints."""
        out = []
        for t in self.tasks:
            for metric, value in t.model.items():
                base = (t.baseline or {}).get(metric)
                out.append({"task": t.task, "metric": metric, "model": value, "baseline": base, "n": t.n})
        return out

    def to_dict(self, details: bool = False) -> dict:
        return {"index": self.index, "model": self.model, "index_type": self.index_type, "texts": self.texts,
                "seed": self.seed, "sample": self.sample, "rows": self.rows(),
                "tasks": {t.task: t.to_dict(details) for t in self.tasks}}


# -- tasks ------------------------------------------------------------------------------------


def _bar(enabled: bool, total: int, desc: str):
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="query", file=sys.stderr, disable=not enabled, dynamic_ncols=True,
                mininterval=0.5, leave=False)


def _rng(seed: int, task: str) -> np.random.Generator:
    # one stream per task, so adding or dropping a task does not change another task's sample
    return np.random.default_rng([seed, TASKS.index(task)])


def _sample(rng: np.random.Generator, available: int, n: int) -> np.ndarray:
    return np.sort(rng.choice(available, size=min(n, available), replace=False)) if available else np.empty(0, np.int64)


def model_ranks(index, qvecs: np.ndarray, targets: np.ndarray, exclude: np.ndarray, cutoff: int = RANK_CUTOFF,
                bar=None) -> tuple[np.ndarray, np.ndarray]:
    """(greater, ties) of each target in the index's top ``cutoff`` candidates for its query vector,
    the ``exclude`` id of each query (-1: none) not being a candidate; a target outside that list
    gets greater = cutoff (a miss at every k <= cutoff)."""
    n = len(targets)
    greater = np.full(n, cutoff, np.int64)
    ties = np.zeros(n, np.int64)
    depth = min(len(index), cutoff + 1)
    for s in range(0, n, _BATCH):
        scores, ids = index.vectors.search(qvecs[s:s + _BATCH], depth)
        for j in range(len(ids)):
            keep = (ids[j] >= 0) & (ids[j] != exclude[s + j])
            cand_i, cand_s = ids[j][keep][:cutoff], scores[j][keep][:cutoff]
            hit = np.flatnonzero(cand_i == targets[s + j])
            if hit.size:
                st = cand_s[hit[0]]
                greater[s + j] = int(np.count_nonzero(cand_s > st))
                ties[s + j] = int(np.count_nonzero(cand_s == st)) - 1
        if bar is not None:
            bar.update(len(ids))
    return greater, ties


def baseline_ranks(bm25: CharBM25, queries: Sequence[str], targets: np.ndarray, exclude: np.ndarray,
                   bar=None) -> tuple[np.ndarray, np.ndarray]:
    """(greater, ties) of each target among every line by BM25, the ``exclude`` id (-1: none) left out."""
    greater = np.zeros(len(targets), np.int64)
    ties = np.zeros(len(targets), np.int64)
    for j, q in enumerate(queries):
        greater[j], ties[j] = rank_counts(bm25.scores(q), int(targets[j]), [int(exclude[j])])
        if bar is not None:
            bar.update(1)
    return greater, ties


def _ranking_task(task, index, bm25, queries, qvecs, targets, exclude, available, progress, note="") -> TaskResult:
    t0 = time.perf_counter()
    ks = RECALL_KS[task]
    if not len(targets):
        return TaskResult(task, 0, available, {}, {}, note or "no queries in this index")
    bar = _bar(progress, 2 * len(targets), task)
    mg, mt = model_ranks(index, qvecs, targets, exclude, bar=bar)
    bg, bt = baseline_ranks(bm25, queries, targets, exclude, bar=bar)
    bar.close()
    details = {"queries": list(queries), "targets": targets.tolist(), "exclude": exclude.tolist(),
               "model_greater": mg.tolist(), "model_ties": mt.tolist(),
               "baseline_greater": bg.tolist(), "baseline_ties": bt.tolist()}
    return TaskResult(task, len(targets), available, ranking_metrics(mg, mt, ks), ranking_metrics(bg, bt, ks), note,
                      round(time.perf_counter() - t0, 2), details)


def index_couplets(index) -> np.ndarray:
    """The (first, second) ``texts.id`` pairs of the index's couplets of regulated verse."""
    return regulated_couplets(*index.store.line_layout(), text_arrays(index_texts(index))[1])


def couplet_task(index, bm25: CharBM25, sample: int, seed: int, progress: bool = False) -> TaskResult:
    """Query with the first line of sampled couplets of regulated verse; the answer is the second."""
    pairs = index_couplets(index)
    pick = _sample(_rng(seed, "couplets"), len(pairs), sample)
    q_ids, targets = pairs[pick, 0], pairs[pick, 1]
    queries = index_texts(index).take(q_ids).to_pylist() if len(q_ids) else []
    # the query lines are corpus lines: their stored vectors are the model's encoding of them
    qvecs = index.vectors.get(q_ids) if len(q_ids) else np.empty((0, index.vectors.d), np.float32)
    return _ranking_task("couplets", index, bm25, queries, qvecs, targets, q_ids, len(pairs), progress)


def index_variants(index) -> list[tuple[str, int]]:
    """Distinct (variant text, ``texts.id`` of the line it is a variant of) from the index's
    全唐诗/全宋诗 lines, sorted."""
    pairs: set[tuple[str, int]] = set()
    for tid, original in index.store.annotated_lines(VARIANT_BOOKS, VARIANT_MARKER):
        pairs.update((v, tid) for v in line_variants(original, index.normalizer))
    return sorted(pairs)


def variant_task(index, bm25: CharBM25, sample: int, seed: int, progress: bool = False) -> TaskResult:
    """Query with variant lines rebuilt from （一作X）; the answer is the line annotated."""
    pairs = index_variants(index)
    pick = _sample(_rng(seed, "variants"), len(pairs), sample)
    queries = [pairs[i][0] for i in pick]
    targets = np.array([pairs[i][1] for i in pick], dtype=np.int64)
    own = index.store.ids_of_texts(queries)
    exclude = np.array([own.get(q, -1) for q in queries], dtype=np.int64)
    qvecs = index.embed(queries) if queries else np.empty((0, index.vectors.d), np.float32)
    note = "" if pairs else "this index holds no 全唐诗/全宋诗 line with a usable （一作…） annotation"
    return _ranking_task("variants", index, bm25, queries, qvecs, targets, exclude, len(pairs), progress, note)


def read_ccpm(path: str | Path) -> list[dict]:
    """CCPM's JSON lines: ``{"translation": str, "choices": [str, …], "answer": int}`` a line."""
    p = Path(path)
    if not p.is_file():
        raise UsageProblem(f"no CCPM file at {p}: pass a JSON-lines file such as CCPM's valid.jsonl "
                           "(https://github.com/THUNLP-AIPoet/CCPM)")
    items = []
    with open(p, encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
                ok = (isinstance(rec, dict) and isinstance(rec.get("translation"), str) and rec["translation"].strip()
                      and isinstance(rec.get("choices"), list) and len(rec["choices"]) >= 2
                      and all(isinstance(c, str) and c.strip() for c in rec["choices"])
                      and isinstance(rec.get("answer"), int) and 0 <= rec["answer"] < len(rec["choices"]))
            except json.JSONDecodeError:
                ok = False
            if not ok:
                raise UsageProblem(f"{p} line {n} is not a CCPM item: each line must be a JSON object with "
                                   "'translation' (text), 'choices' (a list of lines) and 'answer' (the index of "
                                   "the right choice); CCPM's test file has no answers, use valid.jsonl")
            items.append(rec)
    if not items:
        raise UsageProblem(f"{p} holds no CCPM items")
    return items


def ccpm_task(index, bm25: CharBM25, path: str | Path, sample: int, seed: int, progress: bool = False) -> TaskResult:
    """Accuracy of picking, among each item's choices, the one closest to its translation."""
    t0 = time.perf_counter()
    every = read_ccpm(path)
    pick = _sample(_rng(seed, "ccpm"), len(every), sample)
    items = [every[i] for i in pick]
    norm = index.normalizer
    width = max(len(it["choices"]) for it in items)
    model = np.full((len(items), width), -np.inf)
    base = np.full((len(items), width), -np.inf)
    bar = _bar(progress, len(items), "ccpm")
    for s in range(0, len(items), _BATCH):
        batch = items[s:s + _BATCH]
        tvec = index.embed([it["translation"] for it in batch])
        flat = [c for it in batch for c in it["choices"]]
        cvec = index.embed(flat)
        at = 0
        for j, it in enumerate(batch):
            m = len(it["choices"])
            model[s + j, :m] = cvec[at:at + m] @ tvec[j]
            base[s + j, :m] = bm25.score_docs(norm.text(it["translation"]), [norm.text(c) for c in it["choices"]])
            at += m
        bar.update(len(batch))
    bar.close()
    answers = [it["answer"] for it in items]
    details = {"model_scores": model.tolist(), "baseline_scores": base.tolist(), "answers": answers}
    return TaskResult("ccpm", len(items), len(every),
                      {"accuracy": choice_accuracy(model, answers)}, {"accuracy": choice_accuracy(base, answers)},
                      f"{width} choices: chance is {1 / width:.2f}" if width else "", round(time.perf_counter() - t0, 2),
                      details)


def ann_task(index, sample: int, seed: int, progress: bool = False) -> TaskResult:
    """recall@10 of the index's search against exact search, on sampled corpus lines (each its own
    query, as at build time), with the project's one tie rule (``store.recall``): lines that tie
    with the exact 10th best are all right answers."""
    t0 = time.perf_counter()
    n = len(index)
    k = min(ANN_K, n)
    ids = _sample(_rng(seed, "ann"), n, sample)
    bar = _bar(progress, 2 * len(ids), "ann")
    qvecs = index.vectors.get(ids)
    truth_s, _ = exact_top(index.vectors, qvecs, k)
    bar.update(len(ids))
    got_s, got = index.vectors.search(qvecs, k)
    bar.update(len(ids))
    bar.close()
    per_query = np.nan_to_num(recall_rows(got_s, truth_s, k)).tolist()
    note = "exact index: 1.0 by construction" if index.vectors.exact_type else f"at {index.vectors.depth()}"
    return TaskResult("ann", len(ids), n, {f"recall@{ANN_K}": float(np.mean(per_query)) if per_query else 0.0}, None,
                      note, round(time.perf_counter() - t0, 2),
                      {"query_ids": ids.tolist(), "got": got.tolist(), "per_query": per_query})


ATTRIBUTION_MISSES = 20  # misses named in the note (all of them are in the details)
POEMS_DEPTH = 10  # poems=True: the first poem outside the curated editions among this many


def attribution_task(index, progress: bool = False) -> TaskResult:
    """The curated editions as the test set of attribution (see the module's docstring).

    A line is looked up as ``find`` goes: the lines that hold it (exact first), else the
    paragraphs that hold it across their punctuation, else the lines one character off. Its
    first hit is the first such line with an occurrence outside the curated editions, named by
    the most citable of those occurrences (least ``lines.cite_rank``: what a hit under a filter
    shows); ``poems=True`` takes the first poem outside them among the first ``POEMS_DEPTH`` that
    ``Index.find`` lists (its real path, so a line that only the curated editions hold exactly
    counts as wrong there). Where the curated editions give a line two poets, either is right."""
    from ..build.attribution import attribute
    from ..build.fame import CURATED_BOOKS
    from ..build.lexicon import ANONYMOUS
    from ..corpus.authors import canonical_author
    from ..search.filters import Filters

    t0 = time.perf_counter()
    store = index.store
    owners = store.poem_owners()
    size = (max(r[0] for r in owners) + 1) if owners else 1
    curated = np.zeros(size, bool)
    canon = [""] * size
    for rowid, book, author_canon, author in owners:
        curated[rowid] = book in CURATED_BOOKS
        canon[rowid] = author_canon if author_canon is not None else canonical_author(author)
    _lines, text_ids, rowids, _pos, paragraphs = store.line_table()
    ranks = store.line_ranks()
    texts = index_texts(index).to_pylist()
    n_texts = len(texts)
    cur_occ = curated[rowids]
    best = attribute(text_ids, ranks, n_texts, allowed=~cur_occ)  # each line's most citable non-curated poem
    lex, none = index.lexical, Filters()

    def lookup(text: str) -> tuple[str | None, int | None]:
        """(how it was found, the rowid of the poem its first hit names), or (None, None)."""
        ids, exact = lex.containing(text, none)
        for i, e in zip(ids.tolist(), exact.tolist()):
            if best[i] >= 0:
                return ("exact" if e else "contains"), int(rowids[best[i]])
        # as ``LexicalSearch.fallback`` goes, each step with the curated editions left out
        ids, scopes = lex.across(text, none)
        for i in ids:
            own = [r for r in scopes[i] if not curated[r]]
            if own:
                return "paragraph", own[0]
        for i in lex.near(text, none).tolist():
            if best[i] >= 0:
                return "near", int(rowids[best[i]])
        return None, None

    def queries(groups: dict[str, set[str]], what: str, with_poems: bool) -> dict:
        found = right = poems_right = 0
        kinds: dict[str, int] = {}
        poems_kinds: dict[str, int] = {}  # poems_right by how the line was found
        misses, wrong = [], []
        exact.clear()
        bar = _bar(progress, len(groups), what)
        for text, poets in groups.items():
            kind, rowid = lookup(text)
            bar.update(1)
            if kind == "exact":
                exact.add(text)
            if kind is None:
                misses.append(text)
                continue
            found += 1
            kinds[kind] = kinds.get(kind, 0) + 1
            ok = canon[rowid] in poets
            right += ok
            if not ok:
                wrong.append({"text": text, "poets": sorted(poets), "named": canon[rowid]})
            if with_poems:
                listed = index.find(text, poems=True, k=POEMS_DEPTH).hits
                first = next((p for p in listed if p.book not in CURATED_BOOKS), None)
                p_ok = first is not None and canonical_author(first.author) in poets
                poems_right += p_ok
                poems_kinds[kind] = poems_kinds.get(kind, 0) + p_ok
        bar.close()
        return {"n": len(groups), "found": found, "right": right, "poems_right": poems_right, "kinds": kinds,
                "poems_right_by_kind": poems_kinds,
                "misses": misses, "wrong": wrong}

    # the test set: each distinct curated line with a known poet, and the poets the editions give it
    lines: dict[str, set[str]] = {}
    books_of: dict[str, set[str]] = {}  # the curated editions a test line comes from
    poems_of: dict[str, set[int]] = {}  # the curated poems a test line comes from
    book_of = dict((rowid, book) for rowid, book, _c, _a in owners)
    for t, r in zip(text_ids[cur_occ].tolist(), rowids[cur_occ].tolist()):
        if canon[r] not in ANONYMOUS:
            lines.setdefault(texts[t], set()).add(canon[r])
            books_of.setdefault(texts[t], set()).add(book_of[r])
            poems_of.setdefault(texts[t], set()).add(r)
    exact: set[str] = set()  # the test lines found exactly, of the last ``queries``
    # couplets: paragraphs of two lines of the curated editions, typed without the comma
    by_paragraph: dict[tuple[int, int], list[int]] = {}
    for j in np.flatnonzero(cur_occ).tolist():
        by_paragraph.setdefault((int(rowids[j]), int(paragraphs[j])), []).append(int(text_ids[j]))
    couplets: dict[str, set[str]] = {}
    for (r, _), tids in by_paragraph.items():
        if len(tids) == 2 and canon[r] not in ANONYMOUS:
            couplets.setdefault(texts[tids[0]] + texts[tids[1]], set()).add(canon[r])
    got = queries(lines, "attribution", True)
    # a curated poem no line of which is found exactly elsewhere is a poem the complete
    # collections do not hold (千家诗's Ming poems, 蒙学's 琵琶行): its lines cannot be found
    held = {r for text in exact for r in poems_of[text]}
    absent = [t for t in got["misses"] if not (poems_of[t] & held)]
    got["misses_poem_absent"] = absent
    pairs = queries(couplets, "attribution couplets", False)

    def share(x: int, n: int) -> float:
        return x / n if n else 0.0

    metrics = {"found": share(got["found"], got["n"]),
               "found_where_held": share(got["found"], got["n"] - len(got["misses_poem_absent"])),
               "poet_right": share(got["right"], got["found"]),
               "poems_poet_right": share(got["poems_right"], got["found"]),
               "couplets_found": share(pairs["found"], pairs["n"]), "couplets_poet_right": share(pairs["right"], pairs["found"])}
    # poet right by edition: a line of several editions counts in each
    wrong_texts = {w["text"] for w in got["wrong"]}
    missed = set(got["misses"])
    by_book = {}
    for book in CURATED_BOOKS:
        found_here = [t for t, bs in books_of.items() if book in bs and t not in missed]
        if found_here:
            by_book[book] = (sum(t not in wrong_texts for t in found_here), len(found_here))
    got["by_book"] = {b: {"right": r, "found": n} for b, (r, n) in by_book.items()}
    shown = "、".join(got["misses"][:ATTRIBUTION_MISSES])
    note = (f"{got['n']:,} curated lines, {pairs['n']:,} couplets; found by {got['kinds']}; "
            f"{len(got['misses'])} missed ({len(got['misses_poem_absent'])} of poems that no other edition holds)"
            + (f": {shown}" if shown else "") +
            (" …" if len(got["misses"]) > ATTRIBUTION_MISSES else "") + f"; {len(got['wrong'])} name another poet"
            + "; poet right by edition: " + ", ".join(f"{b} {r / n:.2%} of {n:,}" for b, (r, n) in by_book.items()))
    return TaskResult("attribution", got["n"], n_texts, metrics, None, note, round(time.perf_counter() - t0, 2),
                      {"lines": got, "couplets": pairs})


def evaluate(index, tasks: Sequence[str] = DEFAULT_TASKS, sample: int = DEFAULT_SAMPLE, seed: int = 0,
             ccpm: str | Path | None = None, progress: bool = False,
             echo: Callable[[str], None] | None = None) -> EvalReport:
    """Run ``tasks`` on an open ``Index``: the model and the lexical baseline on the same queries."""
    tasks = list(dict.fromkeys(tasks))
    unknown = [t for t in tasks if t not in TASKS]
    if unknown:
        raise UsageProblem(f"unknown task {unknown[0]!r}: use one of {', '.join(TASKS)}")
    if not tasks:
        raise UsageProblem(f"no task given: use one or more of {', '.join(TASKS)}")
    if sample < 1:
        raise UsageProblem("--sample must be at least 1")
    if "ccpm" in tasks and ccpm is None:
        raise UsageProblem("the ccpm task needs a file: pass --ccpm FILE (CCPM's valid.jsonl, see the README)")
    if ccpm is not None:
        read_ccpm(ccpm)  # a bad file fails before minutes of work
    if not getattr(index, "has_vectors", True) and set(tasks) - {"attribution"}:
        raise PoetrySearchError(f"the index at {index.path} has no vectors (built lexical-only): eval compares the "
                                "model with the lexical baseline, so rebuild it with vectors (without --lexical-only)")
    say = echo or log.info
    bm25 = None
    if any(t in tasks for t in ("couplets", "variants", "ccpm")):
        t0 = time.perf_counter()
        bm25 = CharBM25.from_index(index)
        say(f"lexical baseline: BM25 over the characters of {bm25.n:,} lines, built in {time.perf_counter() - t0:.1f}s")
    results = []
    for task in tasks:
        if task == "couplets":
            results.append(couplet_task(index, bm25, sample, seed, progress))
        elif task == "variants":
            results.append(variant_task(index, bm25, sample, seed, progress))
        elif task == "ccpm":
            results.append(ccpm_task(index, bm25, ccpm, sample, seed, progress))
        elif task == "attribution":
            results.append(attribution_task(index, progress))
        else:
            results.append(ann_task(index, sample, seed, progress))
    m = index.manifest
    return EvalReport(str(index.path), m.get("model") or "", m.get("index_type") or "", len(index), seed, sample, results)
