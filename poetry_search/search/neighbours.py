"""Bulk nearest neighbours: every line's (or every query's) k nearest lines, with ``--exclude``.

    for batch in Index.open("index").neighbours(k=10, exclude="poem"):
        batch.rows        # a pyarrow RecordBatch with COLUMNS (+ META_COLUMNS)
        batch.queries     # how many queries it answers

Exclusion never shrinks a result: rows that lose neighbours to it are searched again deeper.
numpy and pyarrow are imported inside the functions that use them, so that the CLI can read
EXCLUDES without loading them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import UsageProblem
from ..options import BLOCKED_MIN, EXCLUDES, METHODS, NEIGHBOURS_BATCH_SIZE
from ..store.db import FIRST_OCCURRENCE_COLUMNS

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa

    from .query import QueryEncoder

log = logging.getLogger("poetry_search")
# How a whole-corpus export finds neighbours: 'index' searches the index a batch at a time;
# 'blocked' compares lines by blocks of matrix products (blocked.py); auto: blocked for approximate
# indexes of BLOCKED_MIN lines or more, where a graph walk deep enough for the recall is slow.
REPORT_SAMPLE = 300  # exported queries whose neighbours are checked against exact search at the end
PROMISED_RECALL = 0.95  # auto takes the blocked method only when its tuning sample reaches this
# Authors that are nobody in particular: lines without one (诗经, 论语) or with one of these never
# count as "the same author" under --exclude author.
ANONYMOUS = frozenset({"", "佚名", "无名氏", "阙名", "不详"})
COLUMNS = ("query_id", "query_text", "rank", "neighbor_id", "neighbor_text", "score")
META_COLUMNS = tuple(f"{side}_{m}" for side in ("query", "neighbor") for m in FIRST_OCCURRENCE_COLUMNS)
# How many neighbours beyond k the first search asks for, by exclusion: a guess at how many it drops
# (a line's own poem, an author's other lines); rows that lose more are searched again deeper.
_MARGIN = {"none": 0, "self": 1, "poem": 16, "author": 32}


def check_options(k: int, exclude: str = "self", min_score: float | None = None,
                  batch_size: int = NEIGHBOURS_BATCH_SIZE, method: str = "auto", queries: bool = False) -> None:
    """Refuse options bulk neighbours cannot honour (UsageProblem, naming the fix)."""
    if method not in METHODS:
        raise UsageProblem(f"unknown --method {method!r}: use one of {', '.join(METHODS)}")
    if method == "blocked" and queries:
        raise UsageProblem("--method blocked finds the neighbours of every line of the index: leave out --queries "
                           "(or use --method index)")
    if k < 1:
        raise UsageProblem("-k must be at least 1")
    if exclude not in EXCLUDES:
        raise UsageProblem(f"unknown --exclude {exclude!r}: use one of {', '.join(EXCLUDES)}")
    if min_score is not None and not -1.0 <= min_score <= 1.0:
        raise UsageProblem("--min-score must be a cosine between -1 and 1")
    if batch_size < 1:
        raise UsageProblem("--batch-size must be at least 1")


def schema(with_meta: bool = False) -> "pa.Schema":
    """The columns of every batch (and of an export file)."""
    import pyarrow as pa

    types = {"query_id": pa.int64(), "rank": pa.int32(), "neighbor_id": pa.int64(), "score": pa.float32()}
    names = COLUMNS + (META_COLUMNS if with_meta else ())
    return pa.schema([(c, types.get(c, pa.string())) for c in names])


@dataclass
class NeighbourBatch:
    """One batch of bulk neighbours in long format (one row per query and neighbour).

    ``queries`` is how many queries the batch answers: with ``min_score`` some may have no rows.
    ``query_id`` is the query's ``texts.id`` (corpus lines) or its 1-based number (external
    queries); ``neighbor_id`` is the neighbour's ``texts.id``.
    """

    queries: int
    rows: "pa.RecordBatch"
    quality: dict | None = None  # on the last batch: how the neighbours were found, their measured recall

    def __len__(self) -> int:
        return self.rows.num_rows

    def column(self, name: str) -> "np.ndarray":
        """A column as numpy (strings as an object array)."""
        return self.rows.column(name).to_numpy(zero_copy_only=False)


class Neighbours:
    """The bulk k-NN and exclusion engine over one index's store and vectors. It keeps what it reads from the
    store (texts, metadata columns, who owns each line), so reuse one instance for many calls."""

    def __init__(self, store, vectors, queries: "QueryEncoder"):
        self.store = store
        self.vectors = vectors
        self.queries = queries
        self._owners = None
        self.quality: dict | None = None  # how the last complete batches() run found its neighbours
        self._columns: dict = {}

    # -- the public calls ----------------------------------------------------------------------

    def batches(self, k: int = 10, exclude: str = "self", min_score: float | None = None,
                queries: Sequence[str] | None = None, batch_size: int = NEIGHBOURS_BATCH_SIZE,
                with_meta: bool = False, method: str = "auto", say: Callable[[str], None] | None = None,
                stage_progress: Callable[[str, int, int], None] | None = None) -> Iterator[NeighbourBatch]:
        """Every corpus line's (or every one of ``queries``') k nearest lines, batch by batch, in
        id (or query) order. Options are checked before the first batch is computed.

        The last batch's ``quality`` (also kept in ``self.quality``) says how the neighbours were
        found and their recall@k against exact search on up to REPORT_SAMPLE of the queries (ties
        count; ``sample_positions``: which, by 0-based position in the export). ``say`` and
        ``stage_progress(stage, done, total)`` report the blocked method's plan, which comes before
        the first batch."""
        import numpy as np

        check_options(k, exclude, min_score, batch_size, method, queries is not None)
        self.quality = None
        n = self.vectors.ntotal
        if queries is None:
            total = n
        else:
            queries = list(queries)
            total = len(queries)
            if not total:
                raise UsageProblem("the queries file holds no queries")
            normed = [self.queries.normalize(t) for t in queries]
        auto = method == "auto"
        method = self.choose_method(method, queries is None)
        margin = _MARGIN[exclude]
        truth_k = min(n, k + 4 * margin + 1)  # exact neighbours kept for the check: enough to survive exclusion
        plan = rejected = None
        if method == "blocked":
            from . import blocked

            try:
                plan = blocked.candidates_for_export(self.vectors, kc=min(n, 2 * (k + margin) + 8), truth_k=truth_k,
                                                     report_sample=REPORT_SAMPLE, say=say, progress=stage_progress,
                                                     min_recall=PROMISED_RECALL if auto else None)
            except blocked.PlanRejected as e:  # only under auto: the index's own search reaches it
                rejected = {"blocked_rejected": str(e), "blocked_tuning": e.tuning,
                            "blocked_seconds": {a: round(b, 1) for a, b in e.seconds.items()}}
                (say or log.warning)(f"{e}: searching the index instead ({_depth_words(self.vectors.depth())})")
                method = "index"
        if plan is not None:
            report = plan.report_ids
        else:
            rng = np.random.default_rng(1)
            report = np.sort(rng.choice(total, size=min(total, REPORT_SAMPLE), replace=False))
        got_s, got_q, got_v = [], [], []  # the report sample's exported scores, query ids, vectors
        for s in range(0, total, batch_size):
            if queries is None:
                qids = np.arange(s, min(total, s + batch_size), dtype=np.int64)
                qvec = self.vectors.rows(int(s), len(qids))
                qtext = None  # corpus lines: their text comes from the text column
                out_qid = qids
            else:
                qtext = normed[s:s + batch_size]
                qvec = self.queries.encode(qtext)
                known = self.store.ids_of_texts(qtext)
                qids = np.array([known.get(t, -1) for t in qtext], dtype=np.int64)
                out_qid = np.arange(s + 1, s + 1 + len(qtext), dtype=np.int64)
            if plan is None:
                scores, nbrs = self.nearest(qvec, qids, k, exclude)
            else:
                scores, nbrs = self._from_candidates(plan.candidates[qids].astype(np.int64), qvec, qids, k, exclude)
            lo, hi = np.searchsorted(report, [s, s + len(qids)])
            if hi > lo:
                rows = report[lo:hi] - s
                got_s.append(scores[rows]), got_q.append(qids[rows]), got_v.append(qvec[rows])
            batch = self._batch(out_qid, qids, qtext, scores, nbrs, min_score, with_meta)
            if s + batch_size >= total:  # the last batch carries the check of them all
                batch.quality = self.quality = {**self._check(plan, method, k, exclude, truth_k, got_s, got_q, got_v),
                                                **(rejected or {})}
                if self.quality["recall_sample"]:
                    self.quality["sample_positions"] = report.tolist()
            yield batch

    def choose_method(self, method: str = "auto", every_line: bool = True) -> str:
        """'index' or 'blocked' (see METHODS)."""
        if method == "auto":
            big = not self.vectors.exact_type and self.vectors.ntotal >= BLOCKED_MIN
            return "blocked" if every_line and big else "index"
        return method

    def _from_candidates(self, cand, qvec, qids, k, exclude):
        """The k best of each row's candidates by exact cosine that ``exclude`` keeps; rows left
        short by the exclusion are searched again through the index (``nearest``)."""
        import numpy as np

        c_s, c_i = self.vectors.rescore(qvec, cand, cand.shape[1])
        scores, nbrs, keep_n = _keep_first(c_s, c_i, self.conflicts(qids, c_i, exclude), k)
        want = min(k, self.vectors.ntotal - (exclude != "none"))
        short = np.nonzero(keep_n < want)[0]
        if short.size:
            scores[short], nbrs[short] = self.nearest(qvec[short], qids[short], k, exclude)
        return scores, nbrs

    def _check(self, plan, method, k, exclude, truth_k, got_s, got_q, got_v) -> dict:
        """recall@k of the exported neighbours of the report sample against exact search."""
        import time

        import numpy as np

        from ..store.recall import exact_top, recall_at

        if self.vectors.exact_type and method == "index":
            return {"method": "exact search", "recall_at_k": 1.0, "k": k, "recall_sample": 0}
        t = time.perf_counter()
        got_s = np.concatenate(got_s) if got_s else np.empty((0, k), np.float32)
        qids = np.concatenate(got_q) if got_q else np.empty(0, np.int64)
        if plan is not None:  # found in the same pass that read the vectors for the plan
            truth_s, truth_i = plan.report_truth_s, plan.report_truth
        else:
            truth_s, truth_i = exact_top(self.vectors, np.concatenate(got_v) if got_v else
                                         np.empty((0, self.vectors.d), np.float32), truth_k)
        truth_s, _, _ = _keep_first(np.minimum(truth_s, 1.0), truth_i, self.conflicts(qids, truth_i, exclude), k)
        out = {"method": plan.method if plan else self._index_words(k, exclude),
               "recall_at_k": recall_at(got_s, truth_s, k), "k": k, "recall_sample": len(qids),
               "check_seconds": round(time.perf_counter() - t, 1)}
        if plan is not None:
            out.update(probe=plan.probe, clusters=plan.clusters, probe_tuning=plan.tuning,
                       plan_seconds={a: round(b, 1) for a, b in plan.seconds.items()})
        return out

    def _index_words(self, k: int, exclude: str) -> str:
        """How ``nearest`` searched: the index's depth, and how deep the walk really went when the
        candidates it re-ranks ask for more than that depth."""
        depth = self.vectors.depth()
        words = _depth_words(depth)
        walked = self.vectors.candidates(min(self.vectors.ntotal, k + _MARGIN[exclude]))
        if "ef" in depth and depth["ef"] < walked:
            words += f"; walked {walked} deep for the {walked} candidates re-ranked"
        return f"index search ({words})"

    def nearest(self, qvec: "np.ndarray", qids: "np.ndarray", k: int, exclude: str = "self"):
        """(scores, ids), each (len(qvec), k): the k nearest lines to each query vector that
        ``exclude`` keeps, ``qids`` being each query's own ``texts.id`` (-1 for a line not in the
        corpus). Rows with fewer than k lines to give are padded with id -1, score -inf."""
        import numpy as np

        n = self.vectors.ntotal
        depth = min(n, k + _MARGIN[exclude])
        out_s = np.full((len(qids), k), -np.inf, np.float32)
        out_i = np.full((len(qids), k), -1, np.int64)
        todo = np.arange(len(qids))
        while todo.size:
            scores, nbrs = self.vectors.search(qvec[todo], depth)
            out_s[todo], out_i[todo], keep_n = _keep_first(scores, nbrs, self.conflicts(qids[todo], nbrs, exclude), k)
            short = (keep_n < k) & (depth < n)
            todo = todo[short]
            depth = min(n, depth * 4)
        return out_s, out_i

    def conflicts(self, qids: "np.ndarray", nbrs: "np.ndarray", exclude: str) -> "np.ndarray":
        """Boolean mask of neighbours to drop for each query (rows) under ``exclude``."""
        import numpy as np

        mask = nbrs < 0
        if exclude == "none":
            return mask
        mask |= nbrs == qids[:, None]
        if exclude == "self":
            return mask
        ptr, poems, auth = self._line_owners()
        codes = poems if exclude == "poem" else auth
        pr, pc = np.nonzero(~mask & (qids >= 0)[:, None])  # the pairs still to check
        if pr.size:
            a, b = qids[pr], nbrs[pr, pc]
            base = int(codes.min())
            span = int(codes.max()) - base + 1
            # every (pair, code) of each side, as one int64 key; a pair conflicts if a key is shared
            keys_a = _pair_codes(a, ptr, codes, base, span)
            keys_b = _pair_codes(b, ptr, codes, base, span)
            shared = np.unique(np.intersect1d(keys_a, keys_b) // span)
            mask[pr[shared], pc[shared]] = True
        return mask

    def column(self, name: str) -> "pa.Array":
        """``text`` or a first-occurrence column, indexed by ``texts.id`` (read once, then cached)."""
        if name not in self._columns:
            self._columns[name] = self.store.text_column(name)
        return self._columns[name]

    # -- inside ----------------------------------------------------------------------------------

    def _line_owners(self):
        """Per text: its poems and authors (as integer codes), in CSR form (ptr, poems, authors)."""
        import numpy as np

        if self._owners is None:
            text_ids, poems, auth = [], [], []
            authors: dict[str, int] = {}
            i = 0
            for rows in self.store.line_owners():
                text_ids.append(np.fromiter((r[0] for r in rows), np.int64, len(rows)))
                poems.append(np.fromiter((r[1] for r in rows), np.int64, len(rows)))
                # an anonymous line gets a code of its own (negative): it matches no other line
                auth.append(np.fromiter(((authors.setdefault(r[2], len(authors)) if r[2] and r[2] not in ANONYMOUS
                                          else -1 - (i + j)) for j, r in enumerate(rows)), np.int64, len(rows)))
                i += len(rows)
            text_ids = np.concatenate(text_ids) if text_ids else np.empty(0, np.int64)
            ptr = np.zeros(self.vectors.ntotal + 1, np.int64)
            np.add.at(ptr, text_ids + 1, 1)
            self._owners = (np.cumsum(ptr), np.concatenate(poems) if poems else np.empty(0, np.int64),
                            np.concatenate(auth) if auth else np.empty(0, np.int64))
        return self._owners

    def _batch(self, out_qids, qids, qtext, scores, nbrs, min_score, with_meta) -> NeighbourBatch:
        import numpy as np
        import pyarrow as pa
        import pyarrow.compute as pc

        keep = nbrs >= 0
        if min_score is not None:
            keep &= scores >= np.float32(min_score)
        r, c = np.nonzero(keep)
        nb = nbrs[r, c]
        texts = self.column("text")
        cols = {
            "query_id": pa.array(out_qids[r].astype(np.int64)),
            "query_text": texts.take(qids[r]) if qtext is None else pa.array([qtext[i] for i in r], pa.string()),
            "rank": pa.array((c + 1).astype(np.int32)),
            "neighbor_id": pa.array(nb.astype(np.int64)),
            "neighbor_text": texts.take(nb),
            "score": pa.array(scores[r, c].astype(np.float32)),
        }
        if with_meta:
            for side, ids in (("query", qids[r]), ("neighbor", nb)):
                valid = ids >= 0  # an external query that is not a corpus line has no metadata
                for m in FIRST_OCCURRENCE_COLUMNS:
                    values = self.column(m).take(np.where(valid, ids, 0))
                    if not valid.all():
                        values = pc.if_else(pa.array(valid), values, pa.nulls(len(ids), pa.string()))
                    cols[f"{side}_{m}"] = values
        return NeighbourBatch(queries=len(qids), rows=pa.RecordBatch.from_arrays(list(cols.values()),
                                                                                  schema=schema(with_meta)))


def _depth_words(depth: dict) -> str:
    return ", ".join(f"{a} {b}" for a, b in depth.items()) or "exact"


def _keep_first(scores, nbrs, drop, k):
    """Per row, the first k neighbours not dropped, in rank order, padded with (-inf, -1):
    (scores, ids, how many each row kept)."""
    import numpy as np

    keep_n = (~drop).sum(axis=1)
    order = np.argsort(drop, axis=1, kind="stable")  # kept neighbours first, rank order kept
    s_sorted = np.take_along_axis(scores, order, 1)[:, :k]
    i_sorted = np.take_along_axis(nbrs, order, 1)[:, :k]
    w = s_sorted.shape[1]
    out_s = np.full((len(scores), k), -np.inf, np.float32)
    out_i = np.full((len(scores), k), -1, np.int64)
    valid = np.arange(w)[None, :] < keep_n[:, None]
    out_s[:, :w] = np.where(valid, s_sorted, -np.inf)
    out_i[:, :w] = np.where(valid, i_sorted, -1)
    return out_s, out_i, keep_n


def _pair_codes(ids, ptr, codes, base, span):
    import numpy as np

    count = ptr[ids + 1] - ptr[ids]
    pair = np.repeat(np.arange(len(ids), dtype=np.int64), count)
    start = np.repeat(ptr[ids], count)
    offset = np.arange(int(count.sum()), dtype=np.int64) - np.repeat(np.cumsum(count) - count, count)
    return pair * span + (codes[start + offset] - base)
