import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from poetry_search.encode import cache as cache_mod
from poetry_search.encode.cache import EmbeddingCache, cached_vector_count

ROOT = Path(__file__).resolve().parent.parent
KEY = {"model_fingerprint": "f", "precision": "fp32", "pooling": "mean", "normalize_version": 1,
       "max_seq_length": 512, "dimension": 4}


def vecs(n, seed=0):
    return np.random.default_rng(seed).standard_normal((n, 4)).astype(np.float32)


def test_roundtrip_and_reopen(tmp_path):
    c = EmbeddingCache(tmp_path, KEY)
    texts = [f"句{i}" for i in range(100)]
    v = vecs(100)
    c.store(texts[:60], v[:60])
    c.store(texts[60:], v[60:])
    again = EmbeddingCache(tmp_path, KEY)
    found, got = again.lookup(texts[::-1] + ["不在"])
    assert found[:100].all() and not found[100]
    np.testing.assert_array_equal(got[:100], v[::-1])
    assert len(again) == 100 == cached_vector_count(tmp_path)


def test_other_configuration_is_another_cache(tmp_path):
    EmbeddingCache(tmp_path, KEY).store(["a"], vecs(1))
    found, _ = EmbeddingCache(tmp_path, {**KEY, "precision": "bf16"}).lookup(["a"])
    assert not found.any()


def test_partial_and_damaged_segments_are_ignored(tmp_path):
    c = EmbeddingCache(tmp_path, KEY)
    c.store(["a", "b"], vecs(2))
    (c.path / "seg-99999999999999999999.partial-999999999").mkdir()  # a killed writer's leftovers
    bad = c.path / "seg-99999999999999999998"
    bad.mkdir()
    (bad / "keys.npy").write_bytes(b"junk")
    again = EmbeddingCache(tmp_path, KEY)
    assert again.lookup(["a", "b"])[0].all()
    assert not bad.exists() and not list(c.path.glob("*.partial-*"))


def test_many_segments_are_merged(tmp_path, monkeypatch):
    monkeypatch.setattr(cache_mod, "MERGE_ABOVE", 3)
    c = EmbeddingCache(tmp_path, KEY)
    v = vecs(10)
    for i in range(10):
        c.store([f"t{i}"], v[i:i + 1])
    assert len(list(c.path.glob("seg-*"))) <= 4
    found, got = EmbeddingCache(tmp_path, KEY).lookup([f"t{i}" for i in range(10)])
    assert found.all()
    np.testing.assert_array_equal(got, v)


def _in_child(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=600)


def test_many_commits_write_at_most_twice_and_memory_does_not_grow(tmp_path):
    # 190 commits of 4,096 vectors as the check, at 64 dimensions (the bounds are ratios;
    # bench/scale.py runs it at 768). A concatenating merge would hold whole merges in memory.
    r = _in_child(f"import json, sys; sys.path.insert(0, {str(ROOT / 'tests')!r}); from random_models import cache_churn; "
                  f"print(json.dumps(cache_churn({str(tmp_path)!r}, 190, 4096, 64)))")
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout)
    assert res["found"] == res["equal"] == 190 * 4096
    assert res["write_ratio"] <= 2.0, res
    assert res["memory_growth_bytes"] <= 0.25 * res["final_bytes"], res
    assert res["segments"] <= cache_mod.MERGE_ABOVE + 190 // cache_mod.MERGE_ABOVE, res


KILL_CHILD = r"""
import os, sys, time
import numpy as np
from poetry_search.encode import cache as c
c.MERGE_ABOVE = 4
where = sys.argv[1]
stage = sys.argv[2]
cache = c.EmbeddingCache(sys.argv[3], {"model_fingerprint": "f", "precision": "fp32", "pooling": "mean",
                                       "normalize_version": 1, "max_seq_length": 512, "dimension": 4})
if stage == "copy":  # stop in the middle of copying the sources
    real, real_merge = c._Segment.vectors_map, c.EmbeddingCache._merge
    calls = []
    def merge(self, fresh):
        calls.append("merge")
        return real_merge(self, fresh)
    def slow(self):
        if calls:
            calls.append(1)
            if len(calls) == 3:  # the second source is being copied
                open(where, "w").write("merging")
                time.sleep(60)
        return real(self)
    c._Segment.vectors_map = slow
    c.EmbeddingCache._merge = merge
else:  # stop after the merged segment is in place, before the sources are removed
    real_rmtree = c.shutil.rmtree
    def stop(*a, **k):
        open(where, "w").write("merging")
        time.sleep(60)
    c.shutil.rmtree = stop
for i in range(5):
    cache.store([f"t{i}-{j}" for j in range(10)], np.full((10, 4), i, np.float32))
"""


@pytest.mark.parametrize("stage", ["copy", "remove"])
def test_kill_during_a_merge_loses_nothing(tmp_path, stage):
    marker = tmp_path / "marker"
    p = subprocess.Popen([sys.executable, "-c", KILL_CHILD, str(marker), stage, str(tmp_path / "cache")], cwd=ROOT,
                         stderr=subprocess.PIPE)
    for _ in range(600):
        if marker.exists() or p.poll() is not None:
            break
        time.sleep(0.05)
    assert marker.exists(), p.stderr.read() if p.poll() is not None else "child never reached the merge"
    p.send_signal(signal.SIGKILL)
    p.wait()
    c = EmbeddingCache(tmp_path / "cache", {**KEY, "dimension": 4})
    texts = [f"t{i}-{j}" for i in range(5) for j in range(10)]
    found, got = c.lookup(texts)
    assert found.sum() == 50
    np.testing.assert_array_equal(got[:, 0], np.repeat(np.arange(5, dtype=np.float32), 10))
    assert len(c) == 50  # no segment counted twice: a finished merge's sources are gone
    assert not list(c.path.glob("*.partial-*"))
