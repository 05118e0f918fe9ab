import json

import numpy as np
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from poetry_search.cli import cli
from poetry_search.corpus.normalize import fold
from poetry_search.search.export import export_neighbours

# The spec, written out here rather than imported: a line with no author or one of these is by nobody
# in particular, so --exclude author never counts two such lines as "the same author".
NOBODY = {"", None, "佚名", "无名氏", "阙名", "不详"}


def run(*args, input=None):
    return CliRunner().invoke(cli, ["export", *args], input=input)


@pytest.fixture(scope="module")
def parquet(sample_index, tmp_path_factory):
    out = tmp_path_factory.mktemp("export") / "nn.parquet"
    r = run("--index", str(sample_index), "-k", "5", "--out", str(out), "--quiet")
    assert r.exit_code == 0, r.output
    return pq.read_table(out)


def columns(table):
    return {c: table.column(c).to_numpy(zero_copy_only=False) for c in table.column_names}


def test_parquet_has_k_rows_per_line_no_self(parquet, texts_table, reference_matrix):
    cols = columns(parquet)
    n = len(texts_table)
    assert len(cols["rank"]) == 5 * n
    counts = np.bincount(cols["query_id"], minlength=n)
    assert (counts == 5).all()
    assert not (cols["query_id"] == cols["neighbor_id"]).any()
    assert cols["score"].dtype == np.float32
    # sampled rows equal brute force of the reference method (self excluded)
    for q in range(0, n, 1499):
        sims = reference_matrix @ reference_matrix[q]
        sims[q] = -np.inf
        want = np.sort(sims)[::-1][:5]
        rows = cols["query_id"] == q
        np.testing.assert_allclose(cols["score"][rows], want, atol=1e-4)
        assert list(cols["rank"][rows]) == [1, 2, 3, 4, 5]
        assert cols["query_text"][rows][0] == texts_table[q]
        for nid, ntext in zip(cols["neighbor_id"][rows], cols["neighbor_text"][rows]):
            assert texts_table[nid] == ntext


def test_jsonl_and_csv_row_counts(sample_index, tmp_path, texts_table):
    import csv

    r = run("--index", str(sample_index), "-k", "2", "--out", str(tmp_path / "nn.jsonl"), "--quiet")
    assert r.exit_code == 0, r.output
    lines = (tmp_path / "nn.jsonl").read_text("utf-8").splitlines()
    assert len(lines) == 2 * len(texts_table)
    first = json.loads(lines[0])
    assert list(first) == ["query_id", "query_text", "rank", "neighbor_id", "neighbor_text", "score"]
    assert "\\u" not in lines[0]
    r = run("--index", str(sample_index), "-k", "3", "--out", str(tmp_path / "nn.csv"), "--quiet", "--with-meta")
    assert r.exit_code == 0, r.output
    with open(tmp_path / "nn.csv", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 3 * len(texts_table)
    assert {"query_author", "neighbor_title", "neighbor_dynasty"} <= set(rows[0])


def test_deterministic(sample_index, tmp_path):
    for name in ("a.jsonl", "b.jsonl"):
        assert run("--index", str(sample_index), "-k", "3", "--out", str(tmp_path / name), "--quiet").exit_code == 0
    assert (tmp_path / "a.jsonl").read_bytes() == (tmp_path / "b.jsonl").read_bytes()


def test_external_queries(sample_index, tmp_path, reference, reference_matrix):
    qfile = tmp_path / "q.txt"
    qfile.write_text("大梦谁先觉\n{\"text\": \"床前明月光\"}\n春眠不覺曉\n", encoding="utf-8")
    out = tmp_path / "q.jsonl"
    r = run("--index", str(sample_index), "-k", "4", "--queries", str(qfile), "--out", str(out), "--exclude", "none", "--quiet")
    assert r.exit_code == 0, r.output
    rows = [json.loads(x) for x in out.read_text("utf-8").splitlines()]
    assert [r["query_id"] for r in rows] == [1] * 4 + [2] * 4 + [3] * 4
    assert rows[4]["query_text"] == "床前明月光" and rows[8]["query_text"] == "春眠不觉晓"
    want = np.sort(reference_matrix @ reference.one("大梦谁先觉"))[::-1][:4]
    np.testing.assert_allclose([r["score"] for r in rows[:4]], want, atol=1e-4)
    assert rows[8]["score"] > 0.9999  # none: the line itself may come back
    r = run("--index", str(sample_index), "-k", "4", "--queries", "-", "--out", str(out), "--quiet", input="春眠不覺曉\n")
    rows = [json.loads(x) for x in out.read_text("utf-8").splitlines()]
    assert r.exit_code == 0 and rows[0]["neighbor_text"] != "春眠不觉晓"  # self excluded by default


def test_exclude_poem_and_author_keep_k(opened, texts_table):
    conn = opened.store.conn
    poems_of, authors_of = {}, {}
    for tid, pid, author in conn.execute("SELECT text_id, poem_id, author_norm FROM lines JOIN poems ON poems.id = lines.poem_id"):
        poems_of.setdefault(tid, set()).add(pid)
        if author not in NOBODY:  # anonymous lines are nobody in particular
            authors_of.setdefault(tid, set()).add(author)
    for exclude, owner in (("poem", poems_of), ("author", authors_of)):
        total = 0
        for batch in opened.neighbours(k=5, exclude=exclude, batch_size=4096):
            assert len(batch) == 5 * batch.queries
            for q, nb in zip(batch.column("query_id"), batch.column("neighbor_id")):
                assert q != nb
                assert not (owner.get(int(q), set()) & owner.get(int(nb), set())), (exclude, q, nb)
            total += batch.queries
        assert total == len(texts_table)


def test_exclude_author_matches_brute_force(opened, reference_matrix, sample_lines, texts_table):
    """--exclude author drops exactly the lines that share a named author with the query: anonymous
    lines (诗经's no author, 无名氏, 不详) are by nobody in particular, so they may neighbour each other."""
    id_of = {t: i for i, t in enumerate(texts_table)}
    authors_of: dict[int, set] = {}
    texts_by: dict[str, set] = {}
    anonymous = []
    for text, poem in sample_lines:
        author = fold(poem.author)  # authors are compared in one script: 王之渙 is 王之涣
        if author in NOBODY:
            anonymous.append(id_of[text])
        else:
            authors_of.setdefault(id_of[text], set()).add(author)
            texts_by.setdefault(author, set()).add(id_of[text])
    queries = sorted(set(anonymous))[::7] + sorted(authors_of)[::97]
    assert len(queries) > 500
    rows = {}
    for batch in opened.neighbours(k=5, exclude="author", batch_size=4096):
        q = batch.column("query_id")
        for i in queries:
            sel = q == i
            if sel.any():
                rows[i] = batch.column("score")[sel]
    assert len(rows) == len(queries)
    anonymous_pairs = 0
    for i in queries:
        sims = reference_matrix @ reference_matrix[i]
        sims[i] = -np.inf
        same = set().union(*(texts_by[a] for a in authors_of.get(i, ())))
        sims[sorted(same)] = -np.inf
        top = np.argsort(-sims, kind="stable")[:5]
        anonymous_pairs += int(i not in authors_of) * sum(int(t not in authors_of) for t in top)
        assert len(rows[i]) == 5
        np.testing.assert_allclose(rows[i], sims[top], atol=1e-4)
    assert anonymous_pairs > 100  # the rule about anonymous lines is really exercised


# Pairs of near-identical lines, each pair in two poems by the same "author": a hand-made corpus
# where every line's nearest other line is its partner.
PAIRS = {
    "無名氏": ("床前明月光疑是地上霜", "床前明月光疑是地上雪"),  # folds to 无名氏
    "不详": ("白日依山尽黄河入海流", "白日依山尽黄河入海去"),
    "佚名": ("春眠不觉晓处处闻啼鸟", "春眠不觉晓处处闻啼鸡"),
    "阙名": ("千山鸟飞绝万径人踪灭", "千山鸟飞绝万径人踪稀"),
    "": ("关关雎鸠在河之洲窈窕", "关关雎鸠在河之洲淑女"),
    "李白": ("大漠孤烟直长河落日圆", "大漠孤烟直长河落日红"),
    "杜甫": ("朝辞白帝彩云间千里江", "朝辞白帝彩云间千里陵"),
}


def test_exclude_author_treats_anonymous_lines_as_nobody(tiny_model, tmp_path):
    from poetry_search import Index, build_index

    corpus = tmp_path / "corpus" / "quantangshi"
    corpus.mkdir(parents=True)
    poems = [{"title": f"{author or '无题'}{i}", "author": author, "paragraphs": [line]}
             for author, pair in PAIRS.items() for i, line in enumerate(pair)]
    (corpus / "唐诗三百首.json").write_text(json.dumps(poems, ensure_ascii=False), "utf-8")
    build_index(tmp_path / "corpus", tmp_path / "idx", model=tiny_model, precision="fp32")
    idx = Index.open(tmp_path / "idx")

    def nearest(exclude):
        batches = list(idx.neighbours(k=1, exclude=exclude))
        assert sum(len(b) for b in batches) == sum(b.queries for b in batches) == 14
        return {t: n for b in batches for t, n in zip(b.column("query_text"), b.column("neighbor_text"))}

    plain = nearest("self")
    assert all(plain[a] == b and plain[b] == a for a, b in PAIRS.values())  # the fixture works as meant
    by_author = nearest("author")
    for author, (a, b) in PAIRS.items():
        named = author in ("李白", "杜甫")
        assert (by_author[a] == b) is not named, (author, by_author[a])
        assert (by_author[b] == a) is not named, (author, by_author[b])


def test_exclude_poem_does_not_drop_more_than_needed(opened, reference_matrix):
    # the first neighbours under --exclude poem are the best ones outside the query's poems
    conn = opened.store.conn
    q = 100
    poems = {r[0] for r in conn.execute("SELECT poem_id FROM lines WHERE text_id = ?", (q,))}
    same = {r[0] for r in conn.execute(f"SELECT text_id FROM lines WHERE poem_id IN ({','.join('?' * len(poems))})", list(poems))}
    sims = reference_matrix @ reference_matrix[q]
    sims[list(same)] = -np.inf
    want = np.sort(sims)[::-1][:5]
    batch = next(opened.neighbours(k=5, exclude="poem", queries=None, batch_size=200))
    rows = batch.column("query_id") == q
    np.testing.assert_allclose(batch.column("score")[rows], want, atol=1e-4)


def test_rows_short_after_exclusion_are_searched_deeper(opened, reference_matrix, poem_membership, monkeypatch):
    """With no margin the first search asks for exactly k: every query loses at least itself, so every
    row needs the deeper search, and must still come back with the k best brute-force neighbours."""
    from poetry_search.search import neighbours

    monkeypatch.setattr(neighbours, "_MARGIN", {"none": 0, "self": 0, "poem": 0, "author": 0})
    poems_of, texts_of = poem_membership
    batch = next(neighbours.Neighbours(opened.store, opened.vectors, opened.queries).batches(k=5, exclude="poem", batch_size=300))
    assert batch.queries == 300 and len(batch) == 5 * 300
    q_ids, scores = batch.column("query_id"), batch.column("score")
    for q in range(300):
        sims = reference_matrix @ reference_matrix[q]
        sims[sorted(set().union(*(texts_of[p] for p in poems_of[q])))] = -np.inf
        np.testing.assert_allclose(scores[q_ids == q], np.sort(sims)[::-1][:5], atol=1e-4)


def test_min_score_keeps_exactly_the_rows_at_or_above_it(sample_index, tmp_path, parquet):
    out = tmp_path / "m.parquet"
    r = run("--index", str(sample_index), "-k", "5", "--min-score", "0.99", "--out", str(out), "--quiet")
    assert r.exit_code == 0, r.output
    got = columns(pq.read_table(out))
    # the same rows as the unfiltered export's rows whose score reaches the threshold, in the same order
    full = columns(parquet)
    keep = full["score"] >= np.float32(0.99)
    assert 0 < keep.sum() < len(keep)
    for c in ("query_id", "rank", "neighbor_id", "score"):
        np.testing.assert_array_equal(got[c], full[c][keep])


def test_with_meta_gives_both_sides_first_occurrence(sample_index, tmp_path):
    qfile = tmp_path / "q.txt"
    qfile.write_text("春眠不覺曉\n不在语料里的一句话\n", encoding="utf-8")
    out = tmp_path / "meta.jsonl"
    r = run("--index", str(sample_index), "-k", "2", "--queries", str(qfile), "--exclude", "none", "--with-meta",
            "--out", str(out), "--quiet")
    assert r.exit_code == 0, r.output
    rows = [json.loads(x) for x in out.read_text("utf-8").splitlines()]
    assert len(rows) == 4
    # 春眠不觉晓 is a corpus line: 孟浩然's 春曉 (唐); its nearest line is itself
    assert (rows[0]["query_author"], rows[0]["query_title"], rows[0]["query_dynasty"]) == ("孟浩然", "春曉", "唐")
    assert (rows[0]["neighbor_text"], rows[0]["neighbor_author"]) == ("春眠不觉晓", "孟浩然")
    # a query that is not a corpus line has no metadata of its own
    assert [rows[i]["query_author"] for i in (2, 3)] == [None, None]
    assert all(rows[i]["neighbor_author"] is not None for i in (2, 3))


@pytest.mark.parametrize("args, words", [
    (["-k", "0", "--out", "x.parquet"], "-k must be at least 1"),
    (["--out", "x.xlsx"], "unknown output format"),
    (["--out", "x"], "unknown output format"),
    (["--min-score", "1.5", "--out", "x.csv"], "--min-score"),
    (["--queries", "missing.txt", "--out", "x.csv"], "no queries file"),
    (["--out", "/no/such/dir/x.csv"], "does not exist"),
])
def test_bad_input_is_refused(sample_index, tmp_path, monkeypatch, args, words):
    monkeypatch.chdir(tmp_path)
    r = run("--index", str(sample_index), *args)
    assert r.exit_code in (1, 2), r.output
    assert words in r.output and "Traceback" not in r.output
    assert not [p for p in tmp_path.iterdir() if p.suffix in (".parquet", ".csv", ".xlsx", "")]


def test_empty_queries_file(sample_index, tmp_path):
    (tmp_path / "e.txt").write_text("\n\n")
    r = run("--index", str(sample_index), "--queries", str(tmp_path / "e.txt"), "--out", str(tmp_path / "o.csv"))
    assert r.exit_code == 2 and "empty" in r.output and not (tmp_path / "o.csv").exists()


def test_unwritable_path(sample_index, tmp_path):
    # a path under a regular file cannot be created by anyone, root included (a read-only
    # folder would not stop root, and the test would never run as root)
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    r = run("--index", str(sample_index), "--out", str(blocker / "x.csv"))
    assert r.exit_code == 2 and "cannot write" in r.output
    assert blocker.read_text() == ""


def test_interrupted_export_leaves_no_file_at_target(opened, tmp_path, monkeypatch):
    target = tmp_path / "nn.parquet"
    target.write_bytes(b"previous export")
    original = opened.neighbours

    def failing(*a, **kw):
        for i, batch in enumerate(original(*a, **kw)):
            if i == 2:
                raise KeyboardInterrupt
            yield batch

    monkeypatch.setattr(opened, "neighbours", failing)
    with pytest.raises(KeyboardInterrupt):
        export_neighbours(opened, target, k=3, batch_size=1000)
    assert target.read_bytes() == b"previous export"
    assert [p.name for p in tmp_path.iterdir()] == ["nn.parquet"]
