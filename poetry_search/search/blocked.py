"""Every line's nearest lines by blocks of matrix products (for the whole-corpus export).

``poetry-search export`` uses it for every line of an approximate index of 100,000 lines or more
(``neighbours.py``, ``--method``); ``bench/scale.py`` measures it side by side with the index's own
batched search.

Every line is a query here, so the work is a matrix product, which a CPU does an order of
magnitude faster per pair than scanning codes one query at a time:

* **clustered** (CPU): the vectors are quantised to 8 bits a dimension (``Codes``) and clustered
  with k-means. Each line is compared, by bf16 matrix products, with the lines of the ``probe``
  clusters nearest to it, a cluster at a time (all the queries that probe a cluster against its
  lines in one product). ``probe`` is the smallest that reaches the recall target on a sample of
  lines whose exact neighbours are computed in the same pass that reads the vectors. The
  candidates' float32 vectors then re-score them, so every exported score is an exact cosine.
* **exact** (a CUDA GPU, or tests on CPU with the same blocks): all pairs, query blocks against
  database blocks in fp16/bf16 with ``topk``, candidates re-scored in float32.

Memory: the codes (d bytes a line: 2.4 GB for 3.1M lines at 768-d), each line's probes, and the
candidates (``kc`` ids and scores a line).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ..store.recall import READ_ROWS, exact_top, merge_top

log = logging.getLogger("poetry_search")
PROBES = (2, 4, 8, 12, 16, 24, 32, 48, 64)
RECALL_TARGET = 0.97  # what the probe is tuned to on the tuning sample; 0.95 is promised
MAX_PAIRS = 1 << 26  # query × line scores per matrix product (256 MB of float32)
# progress(stage, done now, that stage's total): how the long stages report (a bar per stage)
Progress = Callable[[str, int, int], None]


class Codes:
    """8-bit scalar quantisation, per dimension, of unit vectors (for candidate scores only)."""

    def __init__(self, sample: np.ndarray):
        lo, hi = sample.min(axis=0), sample.max(axis=0)
        pad = (hi - lo) * 0.05 + 1e-6  # lines outside the sample's range are clipped, a little
        self.lo = (lo - pad).astype(np.float32)
        self.scale = ((hi - lo + 2 * pad) / 255.0).astype(np.float32)
        # q·x and q·(x - mean) rank the lines x of one query alike; the centred products are
        # smaller, so their bf16 rounding (8 significant bits) separates close neighbours better
        self.mean = sample.mean(axis=0).astype(np.float32)

    def encode(self, x: np.ndarray) -> np.ndarray:
        return np.clip(np.rint((x - self.lo) / self.scale), 0, 255).astype(np.uint8)

    def decode(self, codes: np.ndarray, torch, dtype, centred: bool = False):
        t = torch.from_numpy(codes).to(torch.float32)
        lo = self.lo - self.mean if centred else self.lo
        return (t * torch.from_numpy(self.scale) + torch.from_numpy(lo)).to(dtype)


@dataclass
class Plan:
    """Candidates for every line, and what was measured on the way."""

    candidates: np.ndarray  # (n, kc) int64, approximate order
    method: str
    probe: int | None = None
    clusters: int | None = None  # k-means clusters of the clustered method
    tuning: dict = field(default_factory=dict)
    report_ids: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    report_truth: np.ndarray = field(default_factory=lambda: np.empty((0, 0), np.int64))
    report_truth_s: np.ndarray = field(default_factory=lambda: np.empty((0, 0), np.float32))
    seconds: dict = field(default_factory=dict)


def _torch():
    from ..errors import require

    return require("torch")


def block_topk(q, d, d_ids: np.ndarray, kc: int, torch):
    """Top-``kc`` of the inner products of query rows ``q`` with database rows ``d`` (tensors of
    one dtype), as numpy (scores float32, ids int64). Row blocks keep the score matrix bounded."""
    kk = min(kc, d.shape[0])
    out_s = np.empty((q.shape[0], kk), np.float32)
    out_i = np.empty((q.shape[0], kk), np.int64)
    rows = max(1, MAX_PAIRS // max(1, d.shape[0]))
    for s in range(0, q.shape[0], rows):
        scores = (q[s:s + rows] @ d.T).float()
        val, idx = torch.topk(scores, kk, dim=1)
        out_s[s:s + rows] = val.cpu().numpy()
        out_i[s:s + rows] = d_ids[idx.cpu().numpy()]
    return out_s, out_i


def exact_candidates(vec, kc: int, device: str = "cpu", dtype: str = "bf16", query_block: int = 8192,
                     db_block: int = 262_144, progress: Progress | None = None) -> Plan:
    """All pairs in half precision, query blocks × database blocks: every line's ``kc`` best
    candidates (to be re-scored in float32). Meant for a CUDA GPU; runs anywhere."""
    torch = _torch()
    t0 = time.perf_counter()
    tdtype = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}[dtype]
    n = vec.ntotal
    # centred database rows: same ranking per query, finer half-precision rounding (see Codes)
    sample = vec.get(np.sort(np.random.default_rng(0).choice(n, size=min(n, 100_000), replace=False)))
    mean = sample.mean(axis=0).astype(np.float32)
    del sample
    db = [(s, torch.from_numpy(vec.rows(s, min(db_block, n - s)) - mean).to(device=device, dtype=tdtype))
          for s in range(0, n, db_block)]
    cand = np.empty((n, min(kc, n)), np.int64)
    for qs in range(0, n, query_block):
        q = torch.from_numpy(np.array(vec.rows(qs, min(query_block, n - qs)))).to(device=device, dtype=tdtype)
        best_s = np.full((q.shape[0], 0), -np.inf, np.float32)
        best_i = np.full((q.shape[0], 0), -1, np.int64)
        for ds, d in db:
            s, i = block_topk(q, d, np.arange(ds, ds + d.shape[0], dtype=np.int64), kc, torch)
            best_s, best_i = merge_top(best_s, best_i, s, i, kc)
        cand[qs:qs + q.shape[0]] = best_i
        if progress:
            progress("comparing all pairs", q.shape[0], n)
    return Plan(cand, f"exact blocks ({dtype} on {device})", seconds={"candidates": time.perf_counter() - t0})


class PlanRejected(Exception):
    """The clustered method cannot reach the recall asked of it on these vectors (found out from a
    sample, before the expensive pass): what it measured, for the caller to fall back on."""

    def __init__(self, message: str, tuning: dict, seconds: dict):
        super().__init__(message)
        self.tuning, self.seconds = tuning, seconds


def clustered_candidates(vec, kc: int, truth_k: int, *, nlist: int | None = None, probe: int | None = None,
                         target: float = RECALL_TARGET, min_recall: float | None = None, tune_sample: int = 500,
                         report_sample: int = 300, seed: int = 0, say: Callable[[str], None] | None = None,
                         progress: Progress | None = None) -> Plan:
    """Every line's ``kc`` best candidates among the lines of its ``probe`` nearest clusters.

    ``truth_k``: how many exact neighbours to keep for the tuning and report samples (enough to
    survive an --exclude rule). ``probe`` None: tuned to ``target`` on the tuning sample; when even
    the deepest probe tried finds fewer than ``min_recall`` of the true neighbours, ``PlanRejected``
    is raised after the k-means and one pass over the vectors (minutes), not after the blocks (hours).
    """
    from ..store import vectors

    torch = _torch()
    say = say or log.info
    n, d = vec.ntotal, vec.d
    rng = np.random.default_rng(seed)
    timing = {}
    t = time.perf_counter()
    nlist = nlist or max(1, min(8192, int(round(n / 1000))))
    n_train = min(n, max(64 * nlist, 20_000))
    progress = progress or (lambda stage, done, total: None)
    progress(f"clustering ({nlist:,} clusters)", 0, 1)
    train_ids = np.sort(rng.choice(n, size=n_train, replace=False))
    train = vec.get(train_ids)
    codes_q = Codes(train)
    centroids = vectors.kmeans(train, nlist, seed=seed)
    del train
    timing["kmeans"] = time.perf_counter() - t
    progress(f"clustering ({nlist:,} clusters)", 1, 1)

    samples = np.sort(rng.choice(n, size=min(n, tune_sample + report_sample), replace=False))
    perm = rng.permutation(len(samples))
    tune_ids = np.sort(samples[perm[:min(tune_sample, len(samples))]])
    report_ids = np.sort(samples[perm[min(tune_sample, len(samples)):]])
    s_vecs = vec.get(samples)
    tk = min(truth_k, n)
    t = time.perf_counter()
    truth_s, truth_i = exact_top(vec, s_vecs, tk,
                                 progress=lambda done: progress("exact neighbours of the samples", done, n))
    timing["sample_truth"] = time.perf_counter() - t

    # Tuning, before the big pass: a true neighbour can be found iff its home cluster (the nearest
    # centroid) is among the query's probes; only the samples and their neighbours are assigned.
    cent_t = torch.from_numpy(centroids)
    max_probe = min(nlist, probe or max(PROBES))
    tune_truth = truth_i[np.searchsorted(samples, tune_ids)]
    kt = max(1, min(10, tk - 1))
    not_self = tune_truth != tune_ids[:, None]  # the line itself is found by construction: not counted
    tune_truth = np.stack([row[keep][:kt] for row, keep in zip(tune_truth, not_self)]) if len(tune_ids) else tune_truth
    tuning = {}
    if probe is None:
        home_t = (vec.get(tune_truth.ravel()) @ centroids.T).argmax(axis=1).reshape(tune_truth.shape)
        probes_t = torch.topk(torch.from_numpy(s_vecs[np.searchsorted(samples, tune_ids)]) @ cent_t.T, max_probe,
                              dim=1).indices.numpy()
        for p in [v for v in PROBES if v <= max_probe] or [max_probe]:
            tuning[p] = float((home_t[:, :, None] == probes_t[:, None, :p]).any(axis=2).mean())
            if tuning[p] >= target:
                break
        probe = next((p for p in tuning if tuning[p] >= target), max(tuning, key=tuning.get))
    tried = ", ".join(f"{p}: {r:.3f}" for p, r in tuning.items()) or "not tuned"
    say(f"export plan: {nlist:,} clusters, probe {probe} (recall of candidates on {len(tune_ids)} lines: {tried})")
    if min_recall is not None and tuning and tuning[probe] < min_recall:
        raise PlanRejected(f"comparing blocks of k-means clusters finds {tuning[probe]:.3f} of the true neighbours at "
                           f"most (probe {probe} of {nlist:,} clusters) on these vectors, under the {min_recall} promised",
                           tuning={str(p): round(r, 4) for p, r in tuning.items()}, seconds=timing)

    codes = np.empty((n, d), np.uint8)
    probes = np.empty((n, probe), np.int16 if nlist < 32_768 else np.int32)
    t = time.perf_counter()
    for s in range(0, n, READ_ROWS):  # one sequential pass over vectors.f32
        x = np.array(vec.rows(s, min(READ_ROWS, n - s)), dtype=np.float32)  # a writable copy, for torch
        codes[s:s + len(x)] = codes_q.encode(x)
        probes[s:s + len(x)] = torch.topk(torch.from_numpy(x) @ cent_t.T, probe, dim=1).indices.numpy()
        progress("reading and assigning", len(x), n)
    timing["read_and_assign"] = time.perf_counter() - t
    home = probes[:, 0]

    # queries grouped by the clusters they probe; lines grouped by their home cluster
    t = time.perf_counter()
    flat = probes[:, :probe].ravel()
    q_order = np.argsort(flat, kind="stable")
    q_of = (q_order // probe).astype(np.int32)
    q_ptr = np.searchsorted(flat[q_order], np.arange(nlist + 1))
    del flat, q_order
    d_order = np.argsort(home, kind="stable")
    d_ptr = np.searchsorted(home[d_order], np.arange(nlist + 1))
    del probes
    best_s = np.full((n, kc), -np.inf, np.float32)
    best_i = np.full((n, kc), -1, np.int32)
    for c in range(nlist):
        lines = d_order[d_ptr[c]:d_ptr[c + 1]]
        queries = q_of[q_ptr[c]:q_ptr[c + 1]]
        if not len(lines) or not len(queries):
            continue
        dm = codes_q.decode(codes[lines], torch, torch.bfloat16, centred=True)
        for qs in range(0, len(queries), 65_536):
            qq = queries[qs:qs + 65_536]
            s, i = block_topk(codes_q.decode(codes[qq], torch, torch.bfloat16), dm, lines, kc, torch)
            best_s[qq], best_i[qq] = merge_top(best_s[qq], best_i[qq], s, i.astype(np.int32), kc)
        if progress:
            progress("comparing blocks", len(lines), n)
    timing["blocks"] = time.perf_counter() - t
    return Plan(best_i, "clustered blocks (bf16 on cpu)", probe=probe, clusters=nlist,
                tuning={str(p): round(r, 4) for p, r in tuning.items()}, report_ids=report_ids,
                report_truth=truth_i[np.searchsorted(samples, report_ids)],
                report_truth_s=truth_s[np.searchsorted(samples, report_ids)], seconds=timing)


def candidates_for_export(vec, kc: int, truth_k: int, report_sample: int = 300, min_recall: float | None = None,
                          say: Callable[[str], None] | None = None, progress: Progress | None = None) -> Plan:
    """Every line's ``kc`` candidates for a whole-corpus export: all pairs on a CUDA GPU, k-means
    clusters on CPU (``PlanRejected`` below ``min_recall``, see ``clustered_candidates``). The plan
    carries ``report_sample`` lines with their exact ``truth_k`` best."""
    torch = _torch()
    if not torch.cuda.is_available():
        return clustered_candidates(vec, kc, truth_k, report_sample=report_sample, min_recall=min_recall, say=say,
                                    progress=progress)
    plan = exact_candidates(vec, kc, device="cuda", dtype="fp16", progress=progress)
    rng = np.random.default_rng(1)
    plan.report_ids = np.sort(rng.choice(vec.ntotal, size=min(vec.ntotal, report_sample), replace=False))
    plan.report_truth_s, plan.report_truth = exact_top(vec, vec.get(plan.report_ids), truth_k)
    return plan
