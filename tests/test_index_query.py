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
from poetry_search.errors import (
    IndexDamagedError,
    IndexNotFoundError,
    ModelMismatchError,
    UsageProblem,
)

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
    results = opened.search_batch(queries, k=10, mode="semantic")  # hybrid puts containing lines first
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


def ids_where(sample_lines, texts_table, keep) -> set[int]:
    """texts.id of every line whose poem passes ``keep``, computed from the corpus files."""
    id_of = {t: i for i, t in enumerate(texts_table)}
    return {id_of[text] for text, poem in sample_lines if keep(poem)}


def test_author_filter_returns_k_hits_by_that_author(opened, reference, reference_matrix, sample_lines, texts_table):
    allowed = ids_where(sample_lines, texts_table, lambda p: p.author == "李白")
    assert len(allowed) > 10
    hits = opened.search("大梦谁先觉", k=10, author="李白", mode="semantic")
    assert len(hits) == 10 and all(h.author == "李白" for h in hits)
    ids, scores, sims = brute_force(reference.one("大梦谁先觉"), reference_matrix, 10, allowed)
    assert_same_hits(hits, ids, scores, sims)
    # filters fold scripts: 王之涣 finds 王之渙 (3 poems, 12 lines in the sample)
    hits = opened.search("白日", k=3, author="王之涣")
    assert len(hits) == 3 and {h.author for h in hits} == {"王之渙"}


@pytest.mark.parametrize("dynasty", ["先秦", "xianqin", "pre-qin"])
def test_dynasty_filter_and_its_aliases(opened, reference, reference_matrix, sample_lines, texts_table, dynasty):
    allowed = ids_where(sample_lines, texts_table, lambda p: p.dynasty == "先秦")
    assert len(allowed) > 1000  # 诗经
    hits = opened.search("明月", k=5, dynasty=dynasty, mode="semantic")
    assert len(hits) == 5 and all(h.dynasty == "先秦" for h in hits)
    assert_same_hits(hits, *brute_force(reference.one("明月"), reference_matrix, 5, allowed))


@pytest.mark.parametrize("collection", ["宋词三百首", "songci"])
def test_collection_filter_takes_a_book_or_a_folder(opened, reference, reference_matrix, sample_lines, texts_table,
                                                     collection):
    allowed = ids_where(sample_lines, texts_table, lambda p: collection in (p.collection, p.book))
    assert len(allowed) > 1000
    hits = opened.search("明月", k=5, collection=collection, mode="semantic")
    assert len(hits) == 5 and all(h.collection == "songci" and h.book == "宋词三百首" for h in hits)
    assert_same_hits(hits, *brute_force(reference.one("明月"), reference_matrix, 5, allowed))


def test_author_with_no_lines_is_empty_with_a_warning(opened, caplog):
    assert opened.search("明月", author="无此人") == []
    assert 'no lines match author "无此人"' in caplog.text


def test_k_above_the_number_of_lines_returns_all(opened, sample_lines):
    n = len({text for text, poem in sample_lines if poem.author == "曹操"})
    assert 100 < n < 10_000
    hits = opened.search("明月", k=10_000, author="曹操")
    assert len(hits) == n and len({h.id for h in hits}) == n
    assert len(opened.search("明月", k=5, author="曹操")) == 5


def test_occurrences_count_poems(opened, sample_lines):
    poems_of: dict[str, set] = {}
    for text, poem in sample_lines:
        poems_of.setdefault(text, set()).add(poem.id)
    by_count = sorted(poems_of, key=lambda t: (-len(poems_of[t]), t))
    assert len(poems_of[by_count[0]]) > 2
    # the most repeated lines, some seen twice, and some seen once
    texts = by_count[:10] + [t for t in by_count if len(poems_of[t]) == 2][:5] + by_count[-5:]
    results = opened.search_batch(texts, k=5)
    assert len(results) == len(texts) == 20
    for text, hits in zip(texts, results):
        same = [h for h in hits if h.text == text]
        assert len(same) == 1, text
        assert same[0].occurrences == len(poems_of[text]), text


def test_similarity_matrix_is_the_reference(opened, reference):
    texts = ["春眠不覺曉，", "大梦谁先觉", "浓睡不消残酒", "东临碣石以观沧海"]
    ref = np.stack([reference.one(t) for t in ["春眠不觉晓", *texts[1:]]])
    np.testing.assert_allclose(opened.similarity(texts), ref @ ref.T, atol=1e-5)


def test_similarity_of_a_model_is_the_reference(tiny_model, reference):
    from poetry_search.search.index import QueryEncoder

    # queries are normalised like corpus lines: traditional script folded, punctuation and quotes dropped
    texts = ["春眠不覺曉，", "“大梦谁先觉”", "浓睡不消残酒", "东临碣石以观沧海"]
    normalised = ["春眠不觉晓", "大梦谁先觉", "浓睡不消残酒", "东临碣石以观沧海"]
    ref = np.stack([reference.one(t) for t in normalised])
    got = QueryEncoder.for_model(tiny_model, precision="fp32").similarity(texts)
    np.testing.assert_allclose(got, ref @ ref.T, atol=1e-5)


def test_similarity_cli(tiny_model, reference):
    texts = ["春眠不觉晓", "大梦谁先觉", "浓睡不消残酒", "东临碣石以观沧海"]
    r = CliRunner().invoke(cli, ["similarity", *texts, "--model", tiny_model, "--json"])
    assert r.exit_code == 0, r.output
    data = json.loads(r.output)
    ref = np.stack([reference.one(t) for t in texts])
    assert data["texts"] == texts
    # --model takes the precision a build would (bf16 on CPUs that run it fast): bf16 vectors stay
    # within a cosine of 0.999 of fp32 (test_encoder), so each entry within a few 1e-3
    np.testing.assert_allclose(data["matrix"], ref @ ref.T, atol=3e-3)
    r = CliRunner().invoke(cli, ["similarity", *texts, "--model", tiny_model])
    assert r.exit_code == 0, r.output
    assert "1 春眠不觉晓" in r.output and "4 东临碣石以观沧海" in r.output
    assert f"{data['matrix'][0][1]:.2f}" in r.output


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
    # the 平水韵 table's coverage by occurrence, as the build recorded it
    pro = data["prosody"]
    assert pro["coverage"] == round(pro["covered"] / pro["characters"], 6) and 0.99 < pro["coverage"] <= 1
    line = next(x for x in r.output.splitlines() if x.startswith("tones and rhymes"))
    assert f"{100 * pro['coverage']:.3f}% of the corpus's {pro['characters']:,} characters" in line
    assert f"{pro['distinct_missing']:,} distinct characters missing" in line


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


@pytest.fixture(params=["recorded", "unrecorded"])
def damaged(sample_index, tmp_path, request):
    """A copy of the sample index to damage: with its file records, or as an index built before
    they existed (the checks of each file's own shape answer then)."""
    copy = tmp_path / "idx"
    shutil.copytree(sample_index, copy)
    if request.param == "unrecorded":
        (copy / "files.json").unlink()
    return copy


def _recorded(index) -> bool:
    return (index / "files.json").exists()


def test_corrupt_vectors(damaged):
    (damaged / "vectors.faiss").write_bytes(b"not faiss at all")
    words = r"vectors.faiss is 16 bytes, but was [\d,]+ when the index was built: the index is damaged: run `poetry-search info --verify`"
    with pytest.raises(IndexDamagedError, match=words if _recorded(damaged) else "not a readable FAISS index"):
        Index.open(damaged)
    r = CliRunner().invoke(cli, ["query", "明月", "--index", str(damaged)])
    assert r.exit_code == 1 and "rebuild" in r.output


def test_missing_vectors(damaged):
    (damaged / "vectors.faiss").unlink()
    with pytest.raises(IndexDamagedError, match="vectors.faiss is missing" if _recorded(damaged) else "vectors file .* is missing"):
        Index.open(damaged)


def test_corrupt_database(damaged):
    (damaged / "poetry.db").write_bytes(b"garbage" * 1000)
    with pytest.raises(IndexDamagedError, match="poetry.db is 7,000 bytes" if _recorded(damaged) else "not a readable SQLite database"):
        Index.open(damaged)


def test_manifest_disagrees_with_vectors(damaged):
    (damaged / "files.json").unlink(missing_ok=True)  # the database's own checks, past the records
    conn = sqlite3.connect(damaged / "poetry.db")
    conn.execute("DELETE FROM texts WHERE id = (SELECT max(id) FROM texts)")
    conn.commit()
    conn.close()
    with pytest.raises(IndexDamagedError, match="inconsistent"):
        Index.open(damaged)


def test_other_schema_version_is_refused_with_the_fix(damaged):
    (damaged / "files.json").unlink(missing_ok=True)
    conn = sqlite3.connect(damaged / "poetry.db")
    conn.execute("UPDATE manifest SET value = '99' WHERE key = 'schema_version'")
    conn.commit()
    conn.close()
    with pytest.raises(IndexDamagedError, match=r"schema version 99, .* reads version 1: rebuild it with `poetry-search index"):
        Index.open(damaged)
    r = CliRunner().invoke(cli, ["query", "明月", "--index", str(damaged)])
    assert r.exit_code == 1 and "schema version 99" in r.output and "Traceback" not in r.output


def test_store_looks_up_texts_in_chunks(opened, texts_table, monkeypatch):
    from poetry_search.store import db as store

    monkeypatch.setattr(store, "LOOKUP_CHUNK", 7)
    wanted = texts_table[::500] + ["不在语料里的一句"] + texts_table[3:5]
    assert len(wanted) > 4 * 7  # several chunks
    got = opened.store.ids_of_texts(wanted)
    assert got == {t: texts_table.index(t) for t in wanted if t != "不在语料里的一句"}
    assert len(got) == len(wanted) - 1


def test_ctrl_c_during_a_query_says_only_interrupted(sample_index, monkeypatch):
    def interrupted(*a, **kw):
        raise KeyboardInterrupt

    monkeypatch.setattr(Index, "search_batch", interrupted)
    r = CliRunner().invoke(cli, ["query", "明月", "--index", str(sample_index)])
    assert r.exit_code == 130
    assert r.output.strip() == "interrupted"


def test_commands_leave_the_host_process_as_it_was(sample_index):
    import logging
    import os

    log = logging.getLogger("poetry_search")
    before = (list(log.handlers), log.level, log.propagate, {k: os.environ.get(k) for k in (
        "TRANSFORMERS_VERBOSITY", "TOKENIZERS_PARALLELISM", "HF_HUB_DISABLE_PROGRESS_BARS")})
    os.environ.pop("TOKENIZERS_PARALLELISM", None)
    before[3]["TOKENIZERS_PARALLELISM"] = None
    r = CliRunner().invoke(cli, ["query", "明月", "--index", str(sample_index), "-k", "1"])
    assert r.exit_code == 0, r.output
    after = (list(log.handlers), log.level, log.propagate, {k: os.environ.get(k) for k in before[3]})
    assert after == before


def test_other_model_is_refused(sample_index, tmp_path):
    idx = Index.open(sample_index)
    with pytest.raises(ModelMismatchError, match="built with model"):
        idx.check_model("bert-base-chinese")
    r = CliRunner().invoke(cli, ["query", "明月", "--index", str(sample_index), "--model", "other-model"])
    assert r.exit_code == 1 and "built with model" in r.output


def test_changed_model_files_are_refused(tiny_model, tmp_path):
    from conftest import SAMPLE

    from poetry_search import build_index

    model = tmp_path / "model"
    shutil.copytree(tiny_model, model)
    # onnx=False: the torch path reads the model folder; an ONNX export would not need it
    build_index(SAMPLE / "caocaoshiji" / "..", tmp_path / "idx", model=str(model), precision="fp32", onnx=False)
    (model / "config.json").write_text((model / "config.json").read_text().replace('"hidden_act"', '"x": 1, "hidden_act"'))
    with pytest.raises(ModelMismatchError, match="changed since"):
        Index.open(tmp_path / "idx").search("明月")


def test_long_query_is_refused_quoting_only_its_start(opened):
    from poetry_search.options import MAX_QUERY_CHARS

    assert len(opened.search("明月" * (MAX_QUERY_CHARS // 2), k=1)) == 1  # at the limit: searched
    with pytest.raises(UsageProblem, match=r"is 100,000 characters long: at most 200") as e:
        opened.search("明月" * 50_000, k=1)
    assert e.value.code == "text_too_long" and len(str(e.value)) < 200


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


def test_no_score_passes_one_in_any_mode(opened, texts_table):
    # Corpus lines as queries take their stored vector: a line's cosine with itself rounds past 1
    # (1.0000001) unless every path clips. Hybrid's exact hits are scored apart from FAISS.
    lines = texts_table[::25]
    assert len(lines) >= 500
    for mode in ("hybrid", "semantic", "lexical"):
        results = opened.search_batch(lines, k=3, mode=mode)
        assert len(results) == len(lines)
        scores = [h.score for hits in results for h in hits]
        assert len(scores) >= len(lines)
        assert all(-1.0 <= s <= 1.0 for s in scores), (mode, max(scores))
        if mode != "semantic":  # every query is a corpus line: its own line is found, scored 1 to float rounding
            exact = [h.score for hits in results for h in hits if h.match == "exact"]
            assert len(exact) == len(lines) and min(exact) > 1 - 1e-6


@pytest.mark.parametrize("mode,poems", [("hybrid", False), ("semantic", False), ("lexical", False), ("hybrid", True)])
def test_a_page_is_the_slice_of_a_larger_k(opened, mode, poems):
    whole = opened.search("明月", k=30, mode=mode, poems=poems)
    assert len(whole) == 30
    key = (lambda h: h.poem_id) if poems else (lambda h: h.id)
    pages = [opened.search("明月", k=10, offset=o, mode=mode, poems=poems) for o in (0, 10, 20)]
    assert [len(p) for p in pages] == [10, 10, 10]
    assert [key(h) for p in pages for h in p] == [key(h) for h in whole]
    assert [h.rank for p in pages for h in p] == list(range(1, 31))
