"""Encoding on a real Ray cluster (one head on 127.0.0.1 for the session): the same vectors as the
local Encoder, a worker killed mid-run, and a model that a worker cannot load."""

from __future__ import annotations

import json
import os
import signal

import numpy as np
import pytest


@pytest.fixture(scope="module")
def lines(sample_lines) -> list[str]:
    """300 distinct lines spread over the sample."""
    distinct = list(dict.fromkeys(text for text, _ in sample_lines))
    picked = distinct[::max(1, len(distinct) // 300)][:300]
    assert len(picked) == 300
    return picked


@pytest.fixture(scope="module")
def local_vectors(tiny_model, lines) -> np.ndarray:
    from poetry_search.encode.encoder import Encoder

    return Encoder(tiny_model, device="cpu", precision="fp32").encode(lines)


@pytest.fixture(scope="module")
def driver(ray_head):
    """This process, connected to the head (the package under test shipped to the workers)."""
    from poetry_search.build.ray_encode import connect

    connect(ray_head.address)
    return ray_head


def _ids(n: int) -> np.ndarray:
    # not positions: the ids must travel with their texts
    return 1000 + 7 * np.arange(n, dtype=np.int64)


def _encode_workers_alive() -> dict:
    """The encoding actors the GCS knows of: actor id -> its table row (pid, state, restarts).
    Ray's public state API (ray.util.state) needs the dashboard of ray[default]; the GCS table does not."""
    from ray._private import state

    return {aid: a for aid, a in state.actors().items() if "EncodeWorker" in a["ActorClassName"]}


def test_vectors_equal_local_encoder_and_reference(driver, tiny_model, lines, local_vectors, reference, tmp_path):
    """encode_missing_on_ray over a cache that holds a third of the lines: only the rest travel,
    and what comes back equals the local Encoder and plain transformers."""
    from poetry_search.build.ray_encode import encode_missing_on_ray, probe_cluster
    from poetry_search.encode.cache import EmbeddingCache, cache_key
    from poetry_search.encode.encoder import Encoder

    local = Encoder(tiny_model, device="cpu", precision="fp32")
    key = cache_key(local.describe())
    cache = EmbeddingCache(tmp_path / "cache", key)
    cache.store(lines[::3], local_vectors[::3])
    plan = probe_cluster(tiny_model, address=driver.address, device="cpu", precision="fp32", concurrency=2,
                         expect_fingerprint=local.resolved.fingerprint)
    assert (plan.device, plan.precision, plan.concurrency, plan.cpus_per_worker) == ("cpu", "fp32", 2, 1.0)
    assert len(plan.nodes) == 1 and plan.nodes[0].ip == "127.0.0.1"
    encoded, from_cache, report = encode_missing_on_ray(lines, cache, plan, commit_every=64, block_lines=16)
    assert (encoded, from_cache) == (200, 100)
    found, got = EmbeddingCache(tmp_path / "cache", key).lookup(lines)
    assert found.all() and len(found) == 300
    fresh = np.ones(300, dtype=bool)
    fresh[::3] = False
    cos_local = (got[fresh] * local_vectors[fresh]).sum(1)
    assert len(cos_local) == 200 and cos_local.min() >= 0.99999
    ref = reference.many([t for t, f in zip(lines, fresh) if f])  # plain transformers, apart from poetry_search
    cos_ref = (got[fresh] * ref).sum(1)
    assert len(cos_ref) == 200 and cos_ref.min() >= 0.99999
    assert report.lines == 200 and report.batches == 13 and report.precision == "fp32" and report.device == "cpu"
    assert sum(w.lines for w in report.workers) == 200
    assert 1 <= len(report.workers) <= 2
    assert all(w.ip == "127.0.0.1" and w.device == "cpu x1" for w in report.workers)
    manifest = report.manifest()["ray"]
    assert manifest["address"] == driver.address and len(manifest["workers"]) == len(report.workers)
    json.dumps(manifest)  # it goes into the manifest as it is


def test_a_worker_killed_mid_run_is_restarted_and_the_vectors_are_the_same(driver, tiny_model, lines, local_vectors):
    from poetry_search.build.ray_encode import encode_on_ray

    many = lines * 10  # 3,000 lines in 188 blocks: the pool is still busy when the first block is back
    ids = _ids(len(many))
    got: dict[int, np.ndarray] = {}
    killed: dict = {}
    before = set(_encode_workers_alive())

    def on_batch(batch_ids, vectors):
        if not killed:
            alive = {aid: a for aid, a in _encode_workers_alive().items() if aid not in before and a["State"] == "ALIVE"}
            assert alive, "no encoding actor is alive while vectors arrive"
            aid, actor = sorted(alive.items())[0]
            os.kill(actor["Pid"], signal.SIGKILL)
            killed.update(actor_id=aid, pid=actor["Pid"], at=len(got))
        assert len(batch_ids) == len(vectors)
        for i, v in zip(batch_ids.tolist(), vectors):
            assert i not in got, f"id {i} came back twice"
            got[i] = v.copy()

    report = encode_on_ray(ids, many, tiny_model, on_batch=on_batch, address=driver.address, precision="fp32",
                           device="cpu", concurrency=2, block_lines=16)
    assert killed and killed["at"] < len(many)
    assert sorted(got) == ids.tolist() and len(got) == 3000
    vecs = np.stack([got[i] for i in ids.tolist()])
    cos = (vecs * np.tile(local_vectors, (10, 1))).sum(1)
    assert len(cos) == 3000 and cos.min() >= 0.99999
    assert report.lines == 3000 and sum(w.lines for w in report.workers) == 3000
    restarted = _encode_workers_alive()[killed["actor_id"]]
    assert restarted["NumRestarts"] >= 1 and restarted["Pid"] != killed["pid"]


def test_a_model_no_worker_can_reach_stops_the_build_with_one_line(driver, tmp_path):
    from poetry_search.build.ray_encode import encode_on_ray
    from poetry_search.errors import BuildError

    missing = str(tmp_path / "no-such-model")
    with pytest.raises(BuildError) as e:
        encode_on_ray([0, 1], ["床前明月光", "疑是地上霜"], missing, on_batch=lambda i, v: None,
                      address=driver.address, precision="fp32", device="cpu")
    msg = str(e.value)
    assert "\n" not in msg
    assert "127.0.0.1" in msg and missing in msg and "every node" in msg


def test_a_model_that_fails_to_load_in_the_worker_stops_the_build_with_one_line(driver, tiny_model, tmp_path):
    """The folder resolves (so the probe passes) but its weights do not load: the actor's own error."""
    import shutil

    from poetry_search.build.ray_encode import encode_on_ray
    from poetry_search.errors import BuildError

    broken = tmp_path / "broken-model"
    shutil.copytree(tiny_model, broken)
    for weights in broken.glob("*.safetensors"):
        weights.write_bytes(b"not a tensor file")
    calls = []
    with pytest.raises(BuildError) as e:
        encode_on_ray([0, 1], ["床前明月光", "疑是地上霜"], str(broken), on_batch=lambda i, v: calls.append(i),
                      address=driver.address, precision="fp32", device="cpu", concurrency=1)
    msg = str(e.value)
    assert "\n" not in msg and not calls
    assert msg.startswith("Ray worker 127.0.0.1 (") and str(broken) in msg and "every node" in msg


def test_index_built_on_ray_equals_a_local_build(driver, tiny_model, sample_index, tmp_path):
    """build_index(ray=ADDRESS) on the sample, with an empty cache so every line is encoded on the
    cluster: the same texts and ids as the local fp32 build, every vector within cosine 1e-5, the
    same top 10 for queries, and a manifest that says Ray built it."""
    from conftest import SAMPLE

    from poetry_search import Index, build_index

    report = build_index(SAMPLE, tmp_path / "ray-index", model=tiny_model, precision="fp32", ray=driver.address,
                         ray_workers=1, cache_dir=tmp_path / "cache", onnx=False)
    local, remote = Index.open(sample_index), Index.open(tmp_path / "ray-index")
    assert report.encoded == len(remote) == len(local) and report.from_cache == 0
    texts = lambda idx: [r[0] for r in idx.store.conn.execute("SELECT text FROM texts ORDER BY id")]  # noqa: E731
    assert texts(local) == texts(remote)
    a, b = local.vectors.rows(0, len(local)), remote.vectors.rows(0, len(remote))
    assert np.einsum("nd,nd->n", a, b).min() >= 0.99999
    for q in ("大梦谁先觉", "明月几时有", "春风又绿江南岸"):
        assert [h.id for h in local.search(q, k=10, mode="semantic")] == [h.id for h in remote.search(q, k=10, mode="semantic")]
    ray_info = remote.manifest["ray"]
    assert ray_info["lines"] == len(remote) and len(ray_info["workers"]) == 1 and ray_info["workers"][0]["device"].startswith("cpu")
    assert "ray" not in local.manifest
