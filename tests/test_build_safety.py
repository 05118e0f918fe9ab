"""Resumable, crash-safe builds: the old index survives failures and kill -9, reruns resume."""

import errno
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT, SAMPLE

from poetry_search import Index, build_index
from poetry_search.build import indexer
from poetry_search.encode.encoder import Encoder
from poetry_search.errors import BuildError, UsageProblem


def all_vectors(path):
    idx = Index.open(path)
    return idx.vectors.rows(0, len(idx)), [r[0] for r in idx.store.conn.execute("SELECT text FROM texts ORDER BY id")]


def snapshot(path):
    return {p.name: p.read_bytes() for p in Path(path).iterdir()}


@pytest.fixture
def fresh_cache(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv("POETRY_SEARCH_CACHE", str(cache))
    return cache


def test_failed_build_keeps_old_index_and_resumes(tiny_model, tmp_path, fresh_cache, monkeypatch):
    monkeypatch.setattr(indexer, "COMMIT_EVERY", indexer.CHUNK)  # commit after every chunk: a small corpus
    target = tmp_path / "index"
    # the "old" index: a build of one collection
    small = tmp_path / "small"
    (small / "caocaoshiji").mkdir(parents=True)
    (small / "caocaoshiji" / "caocao.json").write_bytes((SAMPLE / "caocaoshiji" / "caocao.json").read_bytes())
    build_index(small, target, model=tiny_model, precision="fp32")
    before = snapshot(target)
    old_hits = [h.id for h in Index.open(target).search("东临碣石", k=3)]

    calls = {"n": 0}
    real = Encoder.encode

    def failing(self, texts, progress=None):
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(self, texts, progress)

    monkeypatch.setattr(Encoder, "encode", failing)
    with pytest.raises(BuildError, match="left as it was"):
        build_index(SAMPLE, target, model=tiny_model, precision="fp32")
    assert snapshot(target) == before
    assert [h.id for h in Index.open(target).search("东临碣石", k=3)] == old_hits
    assert not list(tmp_path.glob(".index.*"))  # no temporary folder left behind

    committed = cached_rows(fresh_cache)
    assert committed >= 561 + indexer.CHUNK  # the old build's lines, and what was committed before the failure
    monkeypatch.setattr(Encoder, "encode", real)
    report = build_index(SAMPLE, target, model=tiny_model, precision="fp32")
    assert report.from_cache == committed  # every committed vector is reused...
    assert report.encoded == report.texts - committed  # ...and only the rest is encoded
    resumed = all_vectors(target)

    monkeypatch.setenv("POETRY_SEARCH_CACHE", str(tmp_path / "other-cache"))
    clean = build_index(SAMPLE, tmp_path / "clean", model=tiny_model, precision="fp32")
    assert clean.from_cache == 0
    fresh = all_vectors(tmp_path / "clean")
    assert resumed[1] == fresh[1]
    np.testing.assert_allclose(resumed[0], fresh[0], atol=1e-6)


def test_rebuild_elsewhere_encodes_nothing(tiny_model, tmp_path, fresh_cache):
    first = build_index(SAMPLE, tmp_path / "a", model=tiny_model, precision="fp32")
    second = build_index(SAMPLE, tmp_path / "b", model=tiny_model, precision="fp32", index_type="hnsw")
    assert first.encoded == first.texts and first.from_cache == 0
    assert second.encoded == 0 and second.from_cache == second.texts


def test_failure_while_saving_keeps_old_index(tiny_model, tmp_path, sample_index, monkeypatch):
    import shutil

    target = tmp_path / "index"
    shutil.copytree(sample_index, target)
    before = snapshot(target)

    def no_space(*a, **kw):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(indexer.vectors.Vectors, "save", no_space)
    with pytest.raises(BuildError, match="No space left on device"):
        build_index(SAMPLE, target, model=tiny_model, precision="fp32")
    assert snapshot(target) == before
    assert not list(tmp_path.glob(".index.*"))


def test_target_that_is_not_an_index_is_refused(tiny_model, tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "notes.txt").write_text("mine")
    with pytest.raises(UsageProblem, match="not a poetry-search index"):
        build_index(SAMPLE, tmp_path / "docs", model=tiny_model)
    assert (tmp_path / "docs" / "notes.txt").read_text() == "mine"


KILLABLE = r"""
import sys, time
from poetry_search.build import indexer
from poetry_search.encode.encoder import Encoder
indexer.COMMIT_EVERY = indexer.CHUNK  # commit after every chunk: a small corpus
real = Encoder.encode
def slow(self, texts, progress=None):
    out = real(self, texts, progress)
    time.sleep(0.7)
    return out
Encoder.encode = slow
from poetry_search import build_index
build_index(sys.argv[1], sys.argv[2], model=sys.argv[3], precision="fp32")
"""


def cached_rows(cache: Path) -> int:
    from poetry_search.encode.cache import cached_vector_count

    return cached_vector_count(cache)


def test_kill_9_mid_build(tiny_model, tmp_path, sample_index, fresh_cache):
    import shutil

    target = tmp_path / "index"
    shutil.copytree(sample_index, target)
    before = snapshot(target)
    proc = subprocess.Popen([sys.executable, "-c", KILLABLE, str(SAMPLE), str(target), tiny_model],
                            cwd=ROOT, env={**os.environ}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 600  # a loaded machine can take minutes to start a build; the loop ends at 2 chunks
    while cached_rows(fresh_cache) < 2 * indexer.CHUNK and time.time() < deadline and proc.poll() is None:
        # while the build runs, the old index is whole and answers queries
        assert Index.open(target).search("春眠不觉晓", k=1)[0].score > 0.9999
        time.sleep(0.2)
    assert proc.poll() is None, proc.stderr.read().decode()
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert snapshot(target) == before
    assert list(tmp_path.glob(".index.building-*"))  # what the killed build left
    done_before = cached_rows(fresh_cache)
    assert 0 < done_before < Index.open(target).manifest["counts"]["texts"]

    t = time.perf_counter()
    report = build_index(SAMPLE, target, model=tiny_model, precision="fp32")
    assert time.perf_counter() - t < 120
    assert report.from_cache == done_before and report.encoded == report.texts - done_before
    assert not list(tmp_path.glob(".index.building-*"))  # cleaned by the next build
    resumed, texts = all_vectors(target)
    ref, ref_texts = all_vectors(sample_index)
    assert texts == ref_texts
    np.testing.assert_allclose(resumed, ref, atol=1e-6)


def test_commit_window_from_the_environment(monkeypatch):
    from poetry_search.options import COMMIT_EVERY, COMMIT_EVERY_ENV

    monkeypatch.delenv(COMMIT_EVERY_ENV, raising=False)
    assert indexer.commit_every() == COMMIT_EVERY
    monkeypatch.setenv(COMMIT_EVERY_ENV, "256")
    assert indexer.commit_every() == 256
    for bad in ("0", "-5", "many", "1.5"):
        monkeypatch.setenv(COMMIT_EVERY_ENV, bad)
        with pytest.raises(UsageProblem, match=f"^{COMMIT_EVERY_ENV}=") as e:
            indexer.commit_every()
        assert "\n" not in str(e.value) and e.value.code == "bad_commit_every"
