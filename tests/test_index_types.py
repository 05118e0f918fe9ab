"""Approximate index types: measured recall in the manifest, search depth, filters still exact-k."""

import json

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import SAMPLE

from poetry_search import Index, build_index
from poetry_search.cli import cli
from poetry_search.errors import UsageProblem
from poetry_search.options import FLAT_LIMIT
from poetry_search.store.vectors import resolve_index_type


def test_auto_is_flat_up_to_the_limit_then_hnsw():
    assert resolve_index_type("auto", FLAT_LIMIT) == "flat"
    assert resolve_index_type("auto", FLAT_LIMIT + 1) == "hnsw"
    assert resolve_index_type("IVF64,Flat", 10) == "IVF64,Flat"


def recall_at(got, truth) -> float:
    k = truth.shape[1]
    return float(np.mean([len(set(a) & set(b)) / k for a, b in zip(got, truth)]))


def test_hnsw_recall_is_measured_and_reaches_the_target(hnsw_index, sample_index):
    m = Index.open(hnsw_index).manifest
    assert m["index_type"] == "hnsw" and m["faiss_factory"] == "HNSW32,SQ8"
    assert m["recall_sample"] == 1000
    assert m["recall_at_10"] >= 0.95
    # independent check: recall@10 at the depth chosen at build time, on other corpus lines than the
    # build's sample, against exact search over the same vectors
    flat, approx = Index.open(sample_index), Index.open(hnsw_index)
    assert approx.vectors.depth() == m["search_depth"] and m["search_depth"]["ef"] >= 1
    ids = np.arange(0, len(flat), 50)
    assert len(ids) >= 250
    q = flat.vectors.get(ids)
    truth = np.argsort(-(q @ flat.vectors.rows(0, len(flat)).T), axis=1, kind="stable")[:, :10]
    _, got = approx.vectors.search(q, 10)
    assert recall_at(got, truth) >= 0.93  # a different sample than the build's: allow a little noise


def test_tuning_picks_the_smallest_depth_that_reaches_the_target(tmp_path):
    """Vectors.tune on an IVF index of clustered random vectors, checked against recall measured
    here, depth by depth, from brute-force truth."""
    from poetry_search.store.vectors import NPROBE_STEPS, Vectors

    rng = np.random.default_rng(0)
    centres = rng.standard_normal((40, 16))
    x = centres[rng.integers(0, 40, 4000)] + 0.6 * rng.standard_normal((4000, 16))
    x = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
    vec = Vectors.create("ivf", 16, len(x), tmp_path)
    vec.train(x)
    vec.add(0, x)
    vec.finish(tmp_path)
    queries = x[::20]
    nlist = vec.inner.nlist
    steps = sorted({v for v in NPROBE_STEPS if v <= nlist} | {nlist})
    truth_s = -np.sort(-(queries @ x.T), axis=1)[:, :10]
    measured = {}
    for nprobe in steps:
        vec.set_depth(nprobe=nprobe)
        # the tie rule written out here: a hit counts when it reaches the exact 10th score
        got_s = vec.search(queries, 10)[0]
        measured[nprobe] = float(np.mean(np.minimum(10, (got_s >= truth_s[:, -1:] - 1e-5).sum(axis=1)) / 10))
    assert measured[steps[0]] < 0.9 < measured[steps[-1]]  # the target below is neither trivial nor out of reach
    want = min(v for v in steps if measured[v] >= 0.9)
    got = vec.tune(queries, truth_s, 10, target=0.9)
    assert got["nprobe"] == want and vec.depth() == {"nprobe": want}
    assert got["recall_at_10"] == pytest.approx(measured[want], abs=1e-9)
    assert got["recall_sample"] == len(queries) == 200
    # the depths tried are exactly those up to the chosen one, with the recall measured here
    assert {int(v): r for v, r in got["recall_by_nprobe"].items()} == pytest.approx(
        {v: round(measured[v], 4) for v in steps if v <= want})
    # a target no depth reaches: the best depth tried, not silently the last
    best = max(measured, key=measured.get)
    assert vec.tune(queries, truth_s, 10, target=1.01)["nprobe"] == best


def test_ef_trades_recall(hnsw_index, sample_index):
    # The graph is always walked at least RERANK_MIN deep (the candidates re-ranked exactly), so
    # an ef below that is that depth: the trade shows above it, searched without the re-ranking.
    from poetry_search.store.vectors import RERANK_MIN

    flat = Index.open(sample_index)
    q = flat.vectors.rows(0, 300)
    _, truth = flat.vectors.search(q, 10)

    def recall(ef, raw):
        vec = Index.open(hnsw_index, ef=ef).vectors
        got = vec.index.search(q, 10, params=vec._params(None, 10))[1] if raw else vec.search(q, 10)[1]
        return np.mean([len(set(a) & set(b)) / 10 for a, b in zip(got, truth)])

    assert recall(4, raw=False) == recall(RERANK_MIN, raw=False)
    assert recall(10, raw=True) < recall(400, raw=True)


def test_filtered_walk_on_the_graph_and_its_fallback(hnsw_index, reference_matrix, sample_lines, texts_table, monkeypatch):
    """A filter too large for the exact subset scan walks the graph with FAISS's id selector; a
    walk that comes up short of k is answered by an exact scan of the allowed lines. Both are
    checked against brute force over the allowed lines."""
    from poetry_search.search import semantic

    monkeypatch.setattr(semantic, "EXACT_SUBSET_LIMIT", 0)  # the sample is far below the real limit
    idx = Index.open(hnsw_index)
    id_of = {text: i for i, text in enumerate(texts_table)}
    allowed = sorted({id_of[t] for t, p in sample_lines if p.dynasty == "宋"})
    q = "大梦谁先觉"
    qv = idx.embed([q])[0]
    sims = reference_matrix[allowed] @ qv
    want = [allowed[i] for i in np.argsort(-sims, kind="stable")[:10]]
    scans = []
    subset = idx.vectors.search_subset
    monkeypatch.setattr(idx.vectors, "search_subset", lambda *a: scans.append(1) or subset(*a))
    hits = idx.search(q, k=10, dynasty="宋", mode="semantic")
    assert len(hits) == 10 and all(h.dynasty == "宋" for h in hits)
    assert scans == []  # the graph answered, with its id selector
    assert len(set(h.id for h in hits) & set(want)) >= 8  # an approximate walk: most of the true 10
    # a walk that comes up short (FAISS's filtered walk can, on a sparse filter) is answered again
    # by an exact scan of the allowed lines: a walk cut short by hand stands in for one here
    few = sorted({id_of[t] for t, p in sample_lines if p.author == "孟浩然"})
    assert 10 < len(few) < 200
    vec = idx.vectors
    walked = vec.search

    def short_walk(q, k, allowed=None):
        s, i = walked(q, k, allowed)
        i[:, k // 2:], s[:, k // 2:] = -1, -np.inf
        return s, i

    monkeypatch.setattr(vec, "search", short_walk)
    hits = idx.search(q, k=10, author="孟浩然", mode="semantic")
    sims = reference_matrix[few] @ qv
    assert len(hits) == 10 and all(h.author == "孟浩然" for h in hits)
    np.testing.assert_allclose([h.score for h in hits], np.sort(sims)[::-1][:10], atol=1e-4)


def test_filters_still_return_k_hits_on_hnsw(hnsw_index):
    idx = Index.open(hnsw_index)
    hits = idx.search("大梦谁先觉", k=10, author="李白")
    assert len(hits) == 10 and all(h.author == "李白" for h in hits)
    hits = idx.search("明月", k=10, dynasty="宋")
    assert len(hits) == 10 and all(h.dynasty == "宋" for h in hits)


def test_hnsw_scores_are_exact_cosines(hnsw_index, reference, reference_matrix):
    hits = Index.open(hnsw_index).search("大梦谁先觉", k=5)
    want = reference_matrix[[h.id for h in hits]] @ reference.one("大梦谁先觉")
    np.testing.assert_allclose([h.score for h in hits], want, atol=1e-4)


def test_damaged_exact_vectors(hnsw_index, tmp_path):
    import shutil

    from poetry_search.errors import IndexDamagedError

    shutil.copytree(hnsw_index, tmp_path / "i")
    (tmp_path / "i" / "vectors.f32").write_bytes(b"junk")
    with pytest.raises(IndexDamagedError, match="vectors.f32"):
        Index.open(tmp_path / "i")


def test_exclude_poem_on_hnsw_matches_brute_force(hnsw_index, reference_matrix, poem_membership):
    """On an approximate index, --exclude poem still gives k neighbours a query, none from its own
    poems, and (the HNSW walk aside) the same ones as brute force outside those poems."""
    poems_of, texts_of = poem_membership
    idx = Index.open(hnsw_index)
    batch = next(idx.neighbours(k=5, exclude="poem", batch_size=500))
    assert batch.queries == 500 and len(batch) == 5 * 500
    q_ids, n_ids, scores = batch.column("query_id"), batch.column("neighbor_id"), batch.column("score")
    assert list(np.unique(q_ids)) == list(range(500))
    assert not any(poems_of[int(q)] & poems_of[int(n)] for q, n in zip(q_ids, n_ids))
    found = 0
    for q in range(500):
        sims = reference_matrix @ reference_matrix[q]
        sims[sorted(set().union(*(texts_of[p] for p in poems_of[q])))] = -np.inf
        want = np.sort(sims)[::-1][:5]
        got = scores[q_ids == q]
        assert len(got) == 5
        found += int(np.sum(np.abs(got - want) < 1e-4))
    assert found >= 0.95 * 5 * 500  # recall of an approximate index, measured on the scores


def test_ivf_and_factory_strings(tiny_model, tmp_path, ivf_index):
    m = Index.open(ivf_index).manifest
    assert m["faiss_factory"].startswith("IVF") and m["recall_at_10"] >= 0.95 and "nprobe" in m["search_depth"]
    build_index(SAMPLE, tmp_path / "fac", model=tiny_model, precision="fp32", index_type="HNSW16,Flat")
    idx = Index.open(tmp_path / "fac", ef=64)
    assert idx.manifest["faiss_factory"] == "HNSW16,Flat"
    assert idx.search("春眠不觉晓", k=1)[0].score > 0.999
    with pytest.raises(UsageProblem, match="--nprobe applies to IVF"):
        Index.open(tmp_path / "fac", nprobe=4)
    with pytest.raises(UsageProblem, match="cannot build index type"):
        build_index(SAMPLE, tmp_path / "bad", model=tiny_model, index_type="NoSuchIndex")
    assert not (tmp_path / "bad").exists()


def test_info_and_query_options(hnsw_index):
    r = CliRunner().invoke(cli, ["info", "--index", str(hnsw_index)])
    assert "recall@10" in r.output and "measured on 1000 corpus lines" in r.output
    r = CliRunner().invoke(cli, ["query", "春眠不觉晓", "--index", str(hnsw_index), "--ef", "128", "--json", "-k", "3"])
    assert r.exit_code == 0 and len(json.loads(r.output)["hits"]) == 3
    r = CliRunner().invoke(cli, ["query", "春眠不觉晓", "--index", str(hnsw_index), "--nprobe", "3"])
    assert r.exit_code == 2 and "--nprobe applies to IVF" in r.output


def test_ef_construction_builds_a_graph_at_least_as_good(hnsw_index, tiny_model, tmp_path):
    """--ef-construction reaches FAISS and the manifest; the default, deeper build finds at least the
    recall of a shallow one at a small search depth (measured here against brute force)."""
    from poetry_search.options import HNSW_EF_CONSTRUCTION

    shallow = tmp_path / "shallow"
    r = CliRunner().invoke(cli, ["index", "--corpus", str(SAMPLE), "--index", str(shallow), "--model", tiny_model,
                                 "--precision", "fp32", "--index-type", "hnsw", "--ef-construction", "16", "--quiet"])
    assert r.exit_code == 0, r.output
    m_default, m_shallow = Index.open(hnsw_index).manifest, Index.open(shallow).manifest
    assert m_default["ef_construction"] == HNSW_EF_CONSTRUCTION == 256 and m_shallow["ef_construction"] == 16
    a, b = Index.open(shallow).vectors, Index.open(hnsw_index).vectors  # b: the deeper build
    ids = np.arange(0, a.ntotal, 37)
    q = a.get(ids)
    truth = np.argsort(-(q @ a.rows(0, a.ntotal).T), axis=1, kind="stable")[:, :10]
    assert len(ids) >= 300
    a.set_depth(ef=16), b.set_depth(ef=16)
    # searched without the exact re-ranking's 50 candidates, so the graph alone is compared
    got_a = a.index.search(q, 10, params=a._params(None, 10))[1]
    got_b = b.index.search(q, 10, params=b._params(None, 10))[1]
    assert recall_at(got_b, truth) >= recall_at(got_a, truth) - 0.01


def test_ef_construction_below_one_is_refused(tmp_path):
    from poetry_search.store.vectors import Vectors

    for bad in (0, -3):
        with pytest.raises(UsageProblem, match="--ef-construction must be at least 1"):
            Vectors.create("hnsw", 8, 100, tmp_path, ef_construction=bad)


def test_ef_construction_is_refused_for_other_types(tiny_model, tmp_path):
    r = CliRunner().invoke(cli, ["index", "--corpus", str(SAMPLE), "--index", str(tmp_path / "x"), "--model", tiny_model,
                                 "--index-type", "flat", "--ef-construction", "80", "--quiet"])
    assert r.exit_code == 2 and "--ef-construction applies to HNSW indexes only" in r.output
    assert not (tmp_path / "x").exists()
