"""Index and query on the sample with a tiny random BERT, checked against brute force of the
reference method over texts.text."""

import json
import shutil
import sqlite3

import numpy as np
import pytest
from click.testing import CliRunner

from conftest import run_cli
from poetry_search import Index
from poetry_search.cli import cli
from poetry_search.errors import IndexDamagedError, IndexNotFoundError, ModelMismatchError, UsageProblem

QUERIES = ["大梦谁先觉", "春眠不觉晓", "床前明月光", "明月几时有", "东临碣石以观沧海", "关关雎鸠在河之洲", "千里", "孤舟蓑笠翁"]


def brute_force(qvec, matrix, k, allowed=None):
    sims = matrix @ qvec
    ids = np.arange(len(matrix)) if allowed is None else np.array(sorted(allowed))
    order = ids[np.argsort(-sims[ids], kind="stable")][:k]
    return order, sims[order], sims


def assert_same_hits(hits, ids, scores, sims):
    assert len(hits) == len(ids)
    np.testing.assert_allclose([h.score for h in hits], scores, atol=1e-4)
    for h, i, s in zip(hits, ids, scores):
        # a different line at this rank is only allowed if it truly ties with the expected one
        # (e.g. lines differing only in out-of-vocabulary characters): its own reference score must
        # equal the expected score here
        assert h.id == i or abs(float(sims[h.id]) - float(s)) < 1e-5, (h.id, i, sims[h.id], s)


def test_reference_matrix_is_the_reference(reference, reference_matrix, texts_table):
    for i in (0, 17, 500, len(texts_table) - 1):
        np.testing.assert_allclose(reference_matrix[i], reference.one(texts_table[i]), atol=1e-5)


def test_every_hit_equals_brute_force(opened, reference, reference_matrix, texts_table):
    corpus_queries = [texts_table[i] for i in range(0, len(texts_table), 997)]
    queries = QUERIES + corpus_queries
    results = opened.search_batch(queries, k=10)
    for q, hits in zip(queries, results):
        ids, scores, sims = brute_force(reference.one(q), reference_matrix, 10)
        assert_same_hits(hits, ids, scores, sims)
        for h in hits:
            assert h.text == texts_table[h.id]


def test_traditional_line_found_from_simplified_query(opened):
    hit = opened.search("春眠不觉晓", k=1)[0]
    assert hit.score >= 0.9999
    assert (hit.original, hit.author, hit.title, hit.dynasty) == ("春眠不覺曉", "孟浩然", "春曉", "唐")
    assert hit.context == "春眠不覺曉，處處聞啼鳥。"
    # and the traditional form of the query finds the same line
    assert opened.search("春眠不覺曉", k=1)[0].id == hit.id


def test_author_filter_returns_k_hits_by_that_author(opened, reference, reference_matrix):
    allowed = {r[0] for r in opened.store.conn.execute(
        "SELECT DISTINCT text_id FROM lines JOIN poems ON poems.id = lines.poem_id WHERE poems.author = '李白'")}
    assert len(allowed) > 10
    hits = opened.search("大梦谁先觉", k=10, author="李白")
    assert len(hits) == 10 and all(h.author == "李白" for h in hits)
    ids, scores, sims = brute_force(reference.one("大梦谁先觉"), reference_matrix, 10, allowed)
    assert_same_hits(hits, ids, scores, sims)
    # filters fold scripts: 王之涣 finds 王之渙
    assert {h.author for h in opened.search("白日", k=3, author="王之涣")} == {"王之渙"}
    assert all(h.dynasty == "先秦" for h in opened.search("明月", k=5, dynasty="xianqin"))
    assert all(h.collection == "songci" for h in opened.search("明月", k=5, collection="宋词三百首"))


def test_author_with_no_lines_is_empty_with_a_warning(opened, caplog):
    assert opened.search("明月", author="无此人") == []
    assert "no lines match author 无此人" in caplog.text


def test_k_above_the_number_of_lines_returns_all(opened):
    hits = opened.search("明月", k=5, author="曹操")
    n = opened.store.conn.execute(
        "SELECT count(DISTINCT text_id) FROM lines JOIN poems ON poems.id = lines.poem_id WHERE author = '曹操'").fetchone()[0]
    assert len(opened.search("明月", k=10_000, author="曹操")) == n
    assert len(hits) == 5


def test_occurrences_count_poems(opened):
    row = opened.store.conn.execute(
        "SELECT text_id, count(DISTINCT poem_id) AS n FROM lines GROUP BY text_id ORDER BY n DESC LIMIT 1").fetchone()
    text = opened.store.conn.execute("SELECT text FROM texts WHERE id = ?", (row[0],)).fetchone()[0]
    hit = opened.search(text, k=1)[0]
    assert hit.id == row[0] and hit.occurrences == row[1] > 1


def test_similarity_matrix_is_the_reference(opened, reference):
    texts = ["春眠不觉晓", "大梦谁先觉", "浓睡不消残酒", "东临碣石以观沧海"]
    ref = np.stack([reference.one(t) for t in texts])
    np.testing.assert_allclose(opened.similarity(texts), ref @ ref.T, atol=1e-5)


def test_similarity_cli(tiny_model, reference):
    texts = ["春眠不觉晓", "大梦谁先觉", "浓睡不消残酒", "东临碣石以观沧海"]
    r = CliRunner().invoke(cli, ["similarity", *texts, "--model", tiny_model, "--json"])
    assert r.exit_code == 0, r.output
    data = json.loads(r.output)
    ref = np.stack([reference.one(t) for t in texts])
    assert data["texts"] == texts
    np.testing.assert_allclose(data["matrix"], ref @ ref.T, atol=1e-4)
    r = CliRunner().invoke(cli, ["similarity", *texts, "--model", tiny_model])
    assert f"{float((ref @ ref.T)[0, 1]):.2f}" in r.output


def test_query_json(sample_index):
    r = CliRunner().invoke(cli, ["query", "春眠不觉晓", "床前明月光", "--index", str(sample_index), "-k", "3", "--json"])
    assert r.exit_code == 0, r.output
    objs = [json.loads(line) for line in r.output.splitlines()]
    assert [o["query"] for o in objs] == ["春眠不觉晓", "床前明月光"]
    hit = objs[0]["hits"][0]
    assert set(hit) >= {"rank", "score", "id", "text", "original", "poem_id", "title", "author", "dynasty",
                        "collection", "context", "occurrences"}
    assert hit["original"] == "春眠不覺曉" and "覺" in r.output  # ensure_ascii=False
    assert [h["rank"] for h in objs[1]["hits"]] == [1, 2, 3]


def test_query_table_and_stdin(sample_index):
    r = CliRunner().invoke(cli, ["query", "-", "--index", str(sample_index), "-k", "2"], input="春眠不觉晓\n\n床前明月光\n")
    assert r.exit_code == 0, r.output
    assert "春眠不覺曉" in r.output and "孟浩然" in r.output and "1.0000" in r.output
    assert r.output.count("─────") >= 2


def test_info(sample_index):
    r = CliRunner().invoke(cli, ["info", "--index", str(sample_index), "--json"])
    data = json.loads(r.output)
    assert data["database"].endswith("poetry.db") and data["vectors"].endswith("vectors.faiss")
    assert data["counts"]["texts"] == data["ntotal"] > 10_000
    assert data["precision"] == "fp32" and data["dimension"] == 32 and "mean" in data["pooling"]
    for key in ("model", "model_fingerprint", "normalize_version", "max_seq_length", "corpus_fingerprint",
                "poetry_search_version", "created_at", "index_type"):
        assert data[key] not in (None, "")
    r = CliRunner().invoke(cli, ["info", "--index", str(sample_index)])
    assert "mean" in r.output and "distinct lines" in r.output


# -- bad input ---------------------------------------------------------------------------------


@pytest.mark.parametrize("args, code, words", [
    (["query", ""], 2, "empty"),
    (["query", "   "], 2, "empty"),
    (["query", "，。！"], 2, "nothing to search"),
    (["query", "明月", "-k", "0"], 2, "-k must be at least 1"),
])
def test_bad_queries_are_usage_errors(sample_index, args, code, words):
    r = CliRunner().invoke(cli, args + ["--index", str(sample_index)])
    assert r.exit_code == code, r.output
    assert words in r.output and "Traceback" not in r.output


def test_no_index(tmp_path):
    r = CliRunner().invoke(cli, ["query", "明月", "--index", str(tmp_path / "none")])
    assert r.exit_code == 1
    assert f"no index at {tmp_path / 'none'}: run `make index` or pass --index" in r.output
    with pytest.raises(IndexNotFoundError):
        Index.open(tmp_path / "none")


@pytest.fixture
def damaged(sample_index, tmp_path):
    copy = tmp_path / "idx"
    shutil.copytree(sample_index, copy)
    return copy


def test_corrupt_vectors(damaged):
    (damaged / "vectors.faiss").write_bytes(b"not faiss at all")
    with pytest.raises(IndexDamagedError, match="not a readable FAISS index"):
        Index.open(damaged)
    r = CliRunner().invoke(cli, ["query", "明月", "--index", str(damaged)])
    assert r.exit_code == 1 and "rebuild" in r.output


def test_missing_vectors(damaged):
    (damaged / "vectors.faiss").unlink()
    with pytest.raises(IndexDamagedError, match="vectors file .* is missing"):
        Index.open(damaged)


def test_corrupt_database(damaged):
    (damaged / "poetry.db").write_bytes(b"garbage" * 1000)
    with pytest.raises(IndexDamagedError, match="not a readable SQLite database"):
        Index.open(damaged)


def test_manifest_disagrees_with_vectors(damaged):
    conn = sqlite3.connect(damaged / "poetry.db")
    conn.execute("DELETE FROM texts WHERE id = (SELECT max(id) FROM texts)")
    conn.commit()
    conn.close()
    with pytest.raises(IndexDamagedError, match="inconsistent"):
        Index.open(damaged)


def test_other_model_is_refused(sample_index, tmp_path):
    idx = Index.open(sample_index)
    with pytest.raises(ModelMismatchError, match="built with model"):
        idx.check_model("bert-base-chinese")
    r = CliRunner().invoke(cli, ["query", "明月", "--index", str(sample_index), "--model", "other-model"])
    assert r.exit_code == 1 and "built with model" in r.output


def test_changed_model_files_are_refused(tiny_model, tmp_path):
    from poetry_search import build_index
    from conftest import SAMPLE

    model = tmp_path / "model"
    shutil.copytree(tiny_model, model)
    build_index(SAMPLE / "caocaoshiji" / "..", tmp_path / "idx", model=str(model), precision="fp32")
    (model / "config.json").write_text((model / "config.json").read_text().replace('"hidden_act"', '"x": 1, "hidden_act"'))
    with pytest.raises(ModelMismatchError, match="changed since"):
        Index.open(tmp_path / "idx").search("明月")


def test_long_query_is_truncated_with_a_warning(opened, caplog):
    hits = opened.search("明月" * 400, k=1)
    assert len(hits) == 1 and "truncated" in caplog.text


def test_usage_problem_from_python(opened):
    with pytest.raises(UsageProblem):
        opened.search("", k=3)
    with pytest.raises(UsageProblem):
        opened.search("明月", k=0)


def test_errors_have_no_traceback_in_a_real_process(tmp_path, sample_index):
    r = run_cli("query", "明月", "--index", str(tmp_path / "none"))
    assert r.returncode == 1 and "Traceback" not in r.stderr and r.stderr.startswith("Error: no index at")
    r = run_cli("query", "", "--index", str(sample_index))
    assert r.returncode == 2 and "Traceback" not in r.stderr
