"""The torch-free query path: the ONNX export made at build time, its equality with the torch path
and with the independent reference, stored vectors for corpus lines, damage and fallback, adding
the export to an old index, and the cheap model check."""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from conftest import ROOT, SAMPLE, run_cli

from poetry_search import Index, build_index
from poetry_search.encode.encoder import Encoder
from poetry_search.encode.onnx_runtime import (
    DATA_NAME,
    ONNX_NAME,
    TOKENIZER_NAME,
    OnnxEncoder,
)

# none of these is a line of the sample (checked below): they need the model
QUERIES = ["大梦谁先觉", "明月几时有人", "东临碣石以观", "关关雎鸠在河之洲", "千里", "孤舟蓑笠翁独钓", "a", "明月" * 40]
HEAVY = ("torch", "transformers", "sentence_transformers")


def torch_index(path):
    """The same index, queried through the torch encoder (what an index without export does)."""
    idx = Index.open(path)
    idx.queries._encoder = idx._load_torch_encoder()
    return idx


@pytest.fixture(scope="module")
def onnx_opened(sample_index):
    idx = Index.open(sample_index)
    assert isinstance(idx.encoder, OnnxEncoder)
    return idx


def test_queries_are_not_corpus_lines(onnx_opened):
    normed = [onnx_opened.queries.normalize(q) for q in QUERIES]
    assert onnx_opened.store.ids_of_texts(normed) == {}


def test_build_records_the_export(sample_index):
    m = Index.open(sample_index).manifest["onnx"]
    assert m["file"] == ONNX_NAME and m["tokenizer"] == TOKENIZER_NAME
    assert (sample_index / ONNX_NAME).stat().st_size == m["onnx_file"]["size"]
    assert m["checked"]["min_cosine"] >= 0.99999 and m["checked"]["lines"] >= 48


def test_onnx_vectors_equal_torch_and_the_reference(onnx_opened, sample_index, reference):
    normed = [onnx_opened.queries.normalize(q) for q in QUERIES]
    got = onnx_opened.embed(QUERIES)
    want = torch_index(sample_index).embed(QUERIES)
    assert got.shape == want.shape == (len(QUERIES), onnx_opened.vectors.d)
    assert (got * want).sum(1).min() >= 0.99999
    # the seed's method test, against the independent reference in conftest
    np.testing.assert_allclose(got, np.stack([reference.one(t) for t in normed]), atol=1e-5)


def test_tokenizer_json_splits_like_the_model_tokenizer(onnx_opened, sample_index, texts_table):
    torch_enc = torch_index(sample_index).encoder
    lines = texts_table[::7] + ["a b", "ＡＢＣ", "😀", "明月" * 300]
    assert onnx_opened.encoder.token_ids(lines) == [list(x) for x in torch_enc.token_ids(lines)]
    assert onnx_opened.encoder.too_long(lines) == torch_enc.too_long(lines) == [len(lines) - 1]


def test_top10_ids_and_scores_equal_the_torch_path(onnx_opened, sample_index):
    fast = onnx_opened.search_batch(QUERIES, k=10)
    slow = torch_index(sample_index).search_batch(QUERIES, k=10)
    assert len(fast) == len(slow) == len(QUERIES)
    for a, b in zip(fast, slow):
        assert len(a) == len(b) == 10
        assert [h.id for h in a] == [h.id for h in b]
        np.testing.assert_allclose([h.score for h in a], [h.score for h in b], atol=1e-4)


def test_corpus_line_uses_its_stored_vector(onnx_opened, texts_table):
    i = 1234
    v = onnx_opened.embed([texts_table[i]])
    assert np.array_equal(v[0], onnx_opened.vectors.get(np.array([i]))[0])  # bit-identical


def _heavy_after(code_args, *, extra=""):
    code = ("import sys\nfrom poetry_search.cli import cli\n"
            f"try:\n    cli({code_args!r}, prog_name='poetry-search')\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
            f"{extra}"
            f"print('HEAVY', sorted(m for m in {HEAVY!r} if m in sys.modules), 'ORT', 'onnxruntime' in sys.modules)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    return r


def test_query_similarity_export_import_no_torch(sample_index, tmp_path):
    r = _heavy_after(["query", "大梦谁先觉", "--index", str(sample_index), "--json"])
    assert "HEAVY [] ORT True" in r.stdout
    assert len(json.loads(r.stdout.splitlines()[0])["hits"]) == 10
    r = _heavy_after(["similarity", "大梦谁先觉", "孤舟蓑笠翁独钓", "--index", str(sample_index)])
    assert "HEAVY [] ORT True" in r.stdout
    queries = tmp_path / "q.txt"
    queries.write_text("大梦谁先觉\n明月几时有人\n", "utf-8")
    r = _heavy_after(["export", "--index", str(sample_index), "--queries", str(queries), "--out", str(tmp_path / "o.jsonl"), "-q"])
    assert "HEAVY [] ORT True" in r.stdout
    assert len((tmp_path / "o.jsonl").read_text("utf-8").splitlines()) == 20


def test_corpus_line_query_loads_no_model_at_all(sample_index):
    r = _heavy_after(["query", "春眠不觉晓", "--index", str(sample_index), "-k", "1", "--json"])
    assert "HEAVY [] ORT False" in r.stdout
    hit = json.loads(r.stdout.splitlines()[0])["hits"][0]
    assert hit["original"] == "春眠不覺曉" and hit["score"] == pytest.approx(1.0, abs=1e-5)


@pytest.fixture(scope="module")
def intact_hits(sample_index) -> list[dict]:
    """The intact index's answer, asked once for every damaged copy below."""
    r = run_cli("query", "大梦谁先觉", "--index", str(sample_index), "--json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)["hits"]


@pytest.fixture
def copy_index(sample_index, tmp_path):
    dst = tmp_path / "copy"
    shutil.copytree(sample_index, dst)  # copy2: times kept, so the copy's files pass the cheap check
    return dst


def _damage(path):
    data = bytearray(path.read_bytes())
    mid = len(data) // 2
    data[mid:mid + 64] = bytes(64)  # same size: only the hash can tell
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("what", ["damaged graph", "deleted graph", "damaged weights", "deleted weights",
                                  "damaged tokenizer", "deleted tokenizer"])
def test_damaged_or_missing_export_falls_back_to_torch_with_one_warning(copy_index, intact_hits, what):
    name = {"graph": ONNX_NAME, "weights": DATA_NAME, "tokenizer": TOKENIZER_NAME}[what.split()[1]]
    if what.startswith("deleted"):
        (copy_index / name).unlink()
    else:
        _damage(copy_index / name)
    r = run_cli("query", "大梦谁先觉", "--index", str(copy_index), "--json")
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    warnings = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(warnings) == 1 and warnings[0].startswith("warning: ") and "--export-onnx" in warnings[0], r.stderr
    a, b = json.loads(r.stdout)["hits"], intact_hits
    assert len(a) == len(b) == 10
    assert [h["id"] for h in a] == [h["id"] for h in b]
    np.testing.assert_allclose([h["score"] for h in a], [h["score"] for h in b], atol=1e-4)
    idx = Index.open(copy_index)
    assert isinstance(idx.encoder, Encoder)


def test_export_onnx_adds_to_an_old_index_without_encoding(tiny_model, tmp_path, sample_index):
    old = tmp_path / "old"
    build_index(SAMPLE, old, model=tiny_model, precision="fp32", onnx=False)
    idx = Index.open(old)
    assert "onnx" not in idx.manifest and not (old / ONNX_NAME).exists()
    assert isinstance(idx.encoder, Encoder)  # an index without export: the torch path, silently
    before = {p.name: (p.stat().st_mtime_ns, p.stat().st_size) for p in old.iterdir()}
    r = run_cli("index", "--index", str(old), "--export-onnx")
    assert r.returncode == 0, r.stderr
    after = {p.name: (p.stat().st_mtime_ns, p.stat().st_size) for p in old.iterdir()}
    assert after["vectors.faiss"] == before["vectors.faiss"]  # nothing re-encoded or re-indexed
    assert set(after) - set(before) == {ONNX_NAME, DATA_NAME, TOKENIZER_NAME}
    # made once per model: the index's file is the cache's export, hard-linked
    assert os.path.samefile(old / DATA_NAME, sample_index / DATA_NAME) or \
        (old / DATA_NAME).read_bytes() == (sample_index / DATA_NAME).read_bytes()
    idx = Index.open(old)
    assert isinstance(idx.encoder, OnnxEncoder)
    np.testing.assert_allclose(idx.embed(QUERIES), torch_index(old).embed(QUERIES), atol=1e-5)


def test_export_onnx_needs_an_index(tmp_path):
    r = run_cli("index", "--index", str(tmp_path / "none"), "--export-onnx")
    assert r.returncode == 1 and "Traceback" not in r.stderr and "no index at" in r.stderr


def test_model_is_hashed_only_when_its_files_change(tiny_model, tmp_path, monkeypatch):
    from poetry_search.encode import encoder

    model = tmp_path / "model"
    shutil.copytree(tiny_model, model)
    build_index(SAMPLE, tmp_path / "idx", model=str(model), precision="fp32", onnx=False)
    calls = []
    real = encoder.fingerprint_folder
    monkeypatch.setattr(encoder, "fingerprint_folder", lambda p: calls.append(p) or real(p))
    Index.open(tmp_path / "idx").embed(["大梦谁先觉"])
    assert calls == []  # sizes and times as recorded: no hashing
    os.utime(model / "config.json")  # touched, same bytes: hashed once, accepted
    Index.open(tmp_path / "idx").embed(["大梦谁先觉"])
    assert len(calls) == 1


def test_onnx_threads_do_not_spin_after_a_query(onnx_opened):
    # ORT's threads spin-wait after a run by default and took the cores from FAISS's search right
    # after (a flat search of the sample: 16 ms instead of 3); the session must turn that off
    opts = onnx_opened.encoder._session.get_session_options()
    assert opts.get_session_config_entry("session.intra_op.allow_spinning") == "0"
