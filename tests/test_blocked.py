"""The whole-corpus export by blocks of matrix products (blocked.py), against brute force."""

import re

import numpy as np
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from poetry_search import Index
from poetry_search.cli import cli
from poetry_search.search import blocked, neighbours
from poetry_search.search.export import export_neighbours
from poetry_search.store import recall


@pytest.fixture(scope="module")
def exact_all(hnsw_index):
    """Brute force over every pair, float64: the 10 best scores of each line, best first, self
    excluded (the tests compare scores only, so ties need no order)."""
    v = Index.open(hnsw_index).vectors
    x = v.rows(0, v.ntotal).astype(np.float64)
    sims = x @ x.T
    np.fill_diagonal(sims, -np.inf)
    return _top_scores(sims, 10)


def _top_scores(sims, k, block=1024):
    """The k best of each row, best first, by a partition a block of rows at a time (a full sort
    of the sample's similarity matrix was most of this module's time)."""
    n = sims.shape[1]
    return np.concatenate([np.sort(np.partition(sims[s : s + block], n - k, axis=1)[:, n - k :], axis=1)[:, ::-1]
                           for s in range(0, len(sims), block)])


def test_the_partitioned_truth_equals_a_full_sort():
    rng = np.random.default_rng(3)
    sims = rng.integers(0, 6, size=(300, 200)).astype(np.float64)  # many ties at every rank
    got = _top_scores(sims, 10, block=64)
    assert got.shape == (300, 10)
    np.testing.assert_array_equal(got, -np.sort(-sims, axis=1)[:, :10])


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
    truth_s = exact_all
    np.testing.assert_allclose(got_s[:, 0], truth_s[:, 0], atol=1e-5)  # the nearest is always found
    assert _tied_recall(got_s, truth_s) >= (0.999 if dtype == "fp32" else 0.99)


def test_clustered_candidates_match_brute_force(hnsw_index, exact_all):
    v = Index.open(hnsw_index).vectors
    n = v.ntotal
    plan = blocked.clustered_candidates(v, 30, 11, report_sample=300)
    assert plan.candidates.shape == (n, 30) and plan.probe >= 1 and plan.clusters >= 1
    q = v.rows(0, n)
    s, i = v._rerank(q, plan.candidates.astype(np.int64), 30)
    not_self = i != np.arange(n)[:, None]
    got_s = np.stack([row[keep][:10] for row, keep in zip(s, not_self)])
    assert got_s.shape == (n, 10)
    # re-scored: every score is the exact cosine of its pair
    got_i = np.stack([row[keep][:10] for row, keep in zip(i, not_self)])
    np.testing.assert_allclose(got_s, np.einsum("qd,qkd->qk", q, q[got_i]), atol=1e-5)
    recall = _tied_recall(got_s, exact_all)
    assert recall >= 0.95
    # the exact neighbours found for the report sample while reading are the brute-force ones
    assert len(plan.report_ids) == 300
    np.testing.assert_allclose(plan.report_truth_s[:, 1:11], exact_all[plan.report_ids], atol=1e-5)


def test_recall_counts_ties_and_misses():
    truth = np.array([[0.9, 0.8, 0.7], [0.9, 0.8, 0.7]], np.float32)
    got = np.array([[0.9, 0.8, 0.7], [0.9, 0.7, 0.6]], np.float32)  # second row misses 0.8
    assert recall.recall_at(got, truth, 3) == pytest.approx((1 + 2 / 3) / 2)
    assert recall.recall_at(np.array([[0.9, 0.9, 0.9]], np.float32), truth[:1], 3) == 1.0  # ties count
    rows = recall.recall_rows(got, truth, 3)
    assert len(rows) == 2 and rows.tolist() == pytest.approx([1.0, 2 / 3])
    # within the tolerance counts, beyond it does not
    assert recall.recall_at(np.array([[0.9, 0.8, 0.7 - 0.5 * recall.TIE_TOLERANCE]]), truth[:1], 3) == 1.0
    assert recall.recall_at(np.array([[0.9, 0.8, 0.7 - 2 * recall.TIE_TOLERANCE]]), truth[:1], 3) == pytest.approx(2 / 3)


# -- the export, wired ---------------------------------------------------------------------------


def _export(index, tmp_path, *args):
    out = tmp_path / "nn.parquet"
    r = CliRunner().invoke(cli, ["export", "--index", str(index), "-k", "10", "--out", str(out), "--quiet", *args])
    assert r.exit_code == 0, r.output
    t = pq.read_table(out)
    return {c: t.column(c).to_numpy(zero_copy_only=False) for c in t.column_names}, r.output


def _printed_recall(output):
    m = re.search(r"recall@10 against exact search on (\d+) of these queries: ([0-9.]+) \((.*)\)", output)
    assert m, output
    return int(m.group(1)), float(m.group(2)), m.group(3)


def test_export_blocked_gives_exact_scores_and_the_brute_force_neighbours(hnsw_index, exact_all, tmp_path):
    n = Index.open(hnsw_index).vectors.ntotal
    cols, output = _export(hnsw_index, tmp_path, "--method", "blocked")
    assert len(cols["query_id"]) == 10 * n
    assert np.array_equal(cols["query_id"], np.repeat(np.arange(n), 10))
    assert not (cols["query_id"] == cols["neighbor_id"]).any()
    q = Index.open(hnsw_index).vectors.rows(0, n)
    got_s = cols["score"].reshape(n, 10)
    nb = cols["neighbor_id"].reshape(n, 10)
    np.testing.assert_allclose(got_s, np.clip(np.einsum("qd,qkd->qk", q, q[nb]), -1, 1), atol=1e-5)
    assert (np.diff(got_s, axis=1) <= 1e-6).all()  # best first
    recall = _tied_recall(got_s, exact_all)
    assert recall >= 0.95
    sample, printed, how = _printed_recall(output)
    assert sample == 300 and how.startswith("clustered blocks") and "probe" in how
    assert abs(printed - recall) <= 0.03  # the printed sample agrees with the whole population


@pytest.mark.parametrize("method", ["index", "blocked"])
def test_reported_recall_is_that_of_the_sample_against_brute_force(hnsw_index, exact_all, tmp_path, method):
    idx = Index.open(hnsw_index)
    n = idx.vectors.ntotal
    r = export_neighbours(idx, tmp_path / "nn.parquet", k=10, method=method)
    q = r["quality"]
    sample = np.array(q["sample_positions"])
    assert q["recall_sample"] == len(sample) == 300 and len(np.unique(sample)) == 300
    got_s = pq.read_table(tmp_path / "nn.parquet").column("score").to_numpy().reshape(n, 10)
    assert q["recall_at_k"] == pytest.approx(_tied_recall(got_s[sample], exact_all[sample]), abs=1e-9)
    if method == "index":  # the walk goes at least as deep as the 50 candidates the search re-ranks
        ef = idx.vectors.depth()["ef"]
        assert q["method"] == ("index search (ef %d)" % ef if ef >= 50 else
                               "index search (ef %d; walked 50 deep for the 50 candidates re-ranked)" % ef)
    else:
        assert q["method"] == "clustered blocks (bf16 on cpu)"


def test_auto_uses_blocks_for_big_approximate_indexes_only(hnsw_index, sample_index, tmp_path, monkeypatch):
    big, flat = Index.open(hnsw_index), Index.open(sample_index)
    assert big.bulk.choose_method("auto") == "index"  # the sample is below BLOCKED_MIN
    monkeypatch.setattr(neighbours, "BLOCKED_MIN", 1000)
    assert big.bulk.choose_method("auto") == "blocked"
    assert big.bulk.choose_method("auto", every_line=False) == "index"  # --queries
    assert flat.bulk.choose_method("auto") == "index"  # exact already
    r = export_neighbours(flat, tmp_path / "flat.jsonl", k=3)
    assert r["quality"] == {"method": "exact search", "recall_at_k": 1.0, "k": 3, "recall_sample": 0}


def test_blocked_export_keeps_k_under_author_exclusion(hnsw_index, tmp_path):
    idx = Index.open(hnsw_index)
    n = idx.vectors.ntotal
    ptr, _, auth = idx.bulk._line_owners()
    cols, output = _export(hnsw_index, tmp_path, "--method", "blocked", "--exclude", "author")
    assert len(cols["query_id"]) == 10 * n  # rows the exclusion left short were searched deeper
    q, nb = cols["query_id"], cols["neighbor_id"]
    owners = lambda i: set(auth[ptr[i]:ptr[i + 1]].tolist())  # noqa: E731 - anonymous codes are unique
    clash = sum(bool(owners(a) & owners(b)) for a, b in zip(q[::7], nb[::7]))
    assert clash == 0
    sample, printed, _ = _printed_recall(output)
    assert sample == 300 and printed >= 0.95


def test_blocked_with_queries_is_refused(hnsw_index, tmp_path):
    qf = tmp_path / "q.txt"
    qf.write_text("大梦谁先觉\n", "utf-8")
    r = CliRunner().invoke(cli, ["export", "--index", str(hnsw_index), "--out", str(tmp_path / "x.csv"),
                                 "--queries", str(qf), "--method", "blocked"])
    assert r.exit_code == 2 and "leave out --queries" in r.output
    assert not (tmp_path / "x.csv").exists()


def test_auto_falls_back_to_the_index_when_blocks_cannot_reach_the_promised_recall(hnsw_index, tmp_path, monkeypatch):
    # one probe of ~15 clusters finds well under 0.95 of the true neighbours: auto must notice on
    # its sample, before the blocks, and search the index instead; an explicit --method blocked
    # is the user's choice and goes ahead (its recall printed at the end)
    monkeypatch.setattr(neighbours, "BLOCKED_MIN", 1000)
    monkeypatch.setattr(blocked, "PROBES", (1,))
    idx = Index.open(hnsw_index)
    n = idx.vectors.ntotal
    said = []
    r = export_neighbours(idx, tmp_path / "auto.parquet", k=10, say=said.append)
    q = r["quality"]
    assert "blocked_rejected" in q and q["blocked_tuning"]["1"] < 0.95
    assert q["method"].startswith("index search") and q["recall_at_k"] >= 0.95
    assert r["rows"] == 10 * n
    assert len(said) == 2 and "searching the index instead" in said[1]
    r = export_neighbours(idx, tmp_path / "blocked.parquet", k=10, method="blocked")
    q = r["quality"]
    assert "blocked_rejected" not in q and q["probe"] == 1 and q["method"].startswith("clustered")
    assert q["recall_at_k"] < 0.95 and r["rows"] == 10 * n
