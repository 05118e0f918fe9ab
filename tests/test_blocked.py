"""The whole-corpus export by blocks of matrix products (blocked.py), against brute force."""

import numpy as np
import pytest

from conftest import SAMPLE
from poetry_search import Index, blocked, build_index


@pytest.fixture(scope="module")
def hnsw_index(tiny_model, tmp_path_factory):
    path = tmp_path_factory.mktemp("hnsw-blocked") / "index"
    build_index(SAMPLE, path, model=tiny_model, precision="fp32", index_type="hnsw")
    return path


@pytest.fixture(scope="module")
def exact_all(hnsw_index):
    """Brute force over every pair, float64: (scores, ids) best first, self excluded."""
    v = Index.open(hnsw_index).vectors
    x = v.rows(0, v.ntotal).astype(np.float64)
    sims = x @ x.T
    np.fill_diagonal(sims, -np.inf)
    order = np.argsort(-sims, axis=1, kind="stable")[:, :10]
    return np.take_along_axis(sims, order, 1), order


def _tied_recall(got_scores, truth_scores):
    kth = truth_scores[:, -1:]
    return float(np.mean(np.minimum(10, (got_scores >= kth - 1e-5).sum(axis=1)) / 10))


@pytest.mark.parametrize("dtype", ["bf16", "fp16", "fp32"])
def test_exact_blocks_on_cpu_equal_brute_force(hnsw_index, exact_all, dtype):
    # the GPU path, run on CPU with small blocks: every block boundary is crossed
    v = Index.open(hnsw_index).vectors
    n = v.ntotal
    plan = blocked.exact_candidates(v, 40, device="cpu", dtype=dtype, query_block=1000, db_block=4096)
    assert plan.candidates.shape == (n, 40)
    q = v.rows(0, n)
    s, i = v._rerank(q, plan.candidates, 40)
    not_self = i != np.arange(n)[:, None]
    got_s = np.stack([row[keep][:10] for row, keep in zip(s, not_self)])
    assert got_s.shape == (n, 10)
    truth_s = exact_all[0]
    np.testing.assert_allclose(got_s[:, 0], truth_s[:, 0], atol=1e-5)  # the nearest is always found
    assert _tied_recall(got_s, truth_s) >= (0.999 if dtype == "fp32" else 0.99)


def test_clustered_candidates_match_brute_force(hnsw_index, exact_all):
    v = Index.open(hnsw_index).vectors
    n = v.ntotal
    plan = blocked.clustered_candidates(v, 30, 11, report_sample=300)
    assert plan.candidates.shape == (n, 30) and plan.probe >= 1 and plan.nlist >= 1
    q = v.rows(0, n)
    s, i = v._rerank(q, plan.candidates.astype(np.int64), 30)
    not_self = i != np.arange(n)[:, None]
    got_s = np.stack([row[keep][:10] for row, keep in zip(s, not_self)])
    assert got_s.shape == (n, 10)
    # re-scored: every score is the exact cosine of its pair
    got_i = np.stack([row[keep][:10] for row, keep in zip(i, not_self)])
    np.testing.assert_allclose(got_s, np.einsum("qd,qkd->qk", q, q[got_i]), atol=1e-5)
    recall = _tied_recall(got_s, exact_all[0])
    assert recall >= 0.95
    # the exact neighbours found for the report sample while reading are the brute-force ones
    assert len(plan.report_ids) == 300
    np.testing.assert_allclose(plan.report_truth_s[:, 1:11], exact_all[0][plan.report_ids], atol=1e-5)


def test_recall_counts_ties_and_misses():
    truth = np.array([[0.9, 0.8, 0.7], [0.9, 0.8, 0.7]], np.float32)
    got = np.array([[0.9, 0.8, 0.7], [0.9, 0.7, 0.6]], np.float32)  # second row misses 0.8
    assert blocked.recall_at(got, truth, 3) == pytest.approx((1 + 2 / 3) / 2)
    assert blocked.recall_at(np.array([[0.9, 0.9, 0.9]], np.float32), truth[:1], 3) == 1.0  # ties count
