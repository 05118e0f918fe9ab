import numpy as np

from poetry_search import cache as cache_mod
from poetry_search.cache import EmbeddingCache, cached_vector_count

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
