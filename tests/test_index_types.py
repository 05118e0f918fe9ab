"""Approximate index types: measured recall in the manifest, search depth, filters still exact-k."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from conftest import SAMPLE
from poetry_search import Index, build_index
from poetry_search.cli import cli
from poetry_search.errors import UsageProblem
from poetry_search.indexer import RECALL_TARGET
from poetry_search.vectors import FLAT_LIMIT, resolve_index_type


@pytest.fixture(scope="module")
def hnsw_index(tiny_model, tmp_path_factory):
    path = tmp_path_factory.mktemp("hnsw") / "index"
    build_index(SAMPLE, path, model=tiny_model, precision="fp32", index_type="hnsw")
    return path


def test_auto_is_flat_up_to_the_limit_then_hnsw():
    assert resolve_index_type("auto", FLAT_LIMIT) == "flat"
    assert resolve_index_type("auto", FLAT_LIMIT + 1) == "hnsw"
    assert resolve_index_type("IVF64,Flat", 10) == "IVF64,Flat"


def test_hnsw_recall_is_measured_and_reaches_the_target(hnsw_index, sample_index):
    m = Index.open(hnsw_index).manifest
    assert m["index_type"] == "hnsw" and m["faiss_factory"] == "HNSW32,SQ8"
    assert m["recall_sample"] == 1000
    assert m["recall_at_10"] >= 0.95
    # the depth chosen is the smallest tried that reaches the build-time target (0.95 plus a margin)
    assert RECALL_TARGET >= 0.95
    reached = [int(ef) for ef, r in m["recall_by_ef"].items() if r >= RECALL_TARGET]
    assert m["search_depth"]["ef"] == min(reached)
    assert m["recall_at_10"] == m["recall_by_ef"][str(min(reached))] or abs(m["recall_at_10"] - m["recall_by_ef"][str(min(reached))]) < 1e-4
    # independent check: recall@10 of the approximate index against the exact one on corpus lines
    flat, approx = Index.open(sample_index), Index.open(hnsw_index)
    ids = np.arange(0, len(flat), 50)
    q = flat.vectors.get(ids)
    _, truth = flat.vectors.search(q, 10)
    _, got = approx.vectors.search(q, 10)
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(got, truth)])
    assert recall >= 0.93  # a different sample than the build's: allow a little noise


def test_ef_trades_recall(hnsw_index, sample_index):
    flat = Index.open(sample_index)
    q = flat.vectors.rows(0, 300)
    _, truth = flat.vectors.search(q, 10)
    recalls = []
    for ef in (4, 200):
        approx = Index.open(hnsw_index, ef=ef)
        _, got = approx.vectors.search(q, 10)
        recalls.append(np.mean([len(set(a) & set(b)) / 10 for a, b in zip(got, truth)]))
    assert recalls[0] < recalls[1]


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


def test_exclude_on_hnsw_keeps_k(hnsw_index):
    idx = Index.open(hnsw_index)
    batch = next(idx.neighbours(k=5, exclude="poem", batch_size=500))
    assert len(batch["rank"]) == 5 * batch["_queries"]


def test_ivf_and_factory_strings(tiny_model, tmp_path):
    build_index(SAMPLE, tmp_path / "ivf", model=tiny_model, precision="fp32", index_type="ivf")
    m = Index.open(tmp_path / "ivf").manifest
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
