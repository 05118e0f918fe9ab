"""The HTTP API: the same hits as the library and the CLI, bounded inputs, JSON errors, and an
index rebuilt under a running server."""

from __future__ import annotations

import json
import shutil
import sqlite3
import threading
import time

import numpy as np
import pytest
from click.testing import CliRunner

from poetry_search import Index
from poetry_search.cli import cli

fastapi = pytest.importorskip("fastapi")
from conftest import as_json  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402

from poetry_search.options import MAX_BODY_BYTES, MAX_K, MAX_QUERY_CHARS
from poetry_search.server.app import create_app  # noqa: E402


def _db(index_path):
    return sqlite3.connect(index_path / "poetry.db")


@pytest.mark.parametrize("params", [
    {"q": "春眠不觉晓", "k": 5},
    {"q": "大梦谁先觉", "k": 10, "author": "李白"},
    {"q": "明月", "k": 7, "dynasty": "宋"},
    {"q": "關關雎鳩", "k": 3, "collection": "诗经"},
])
def test_search_gives_the_library_hits(client, opened, params):
    r = client.get("/api/search", params={**params, "mode": "semantic"})
    assert r.status_code == 200, r.text
    body = r.json()
    args = {k: v for k, v in params.items() if k != "q"}
    expected = as_json([h.to_dict() for h in opened.search(params["q"], mode="semantic", **args)])
    assert len(body["hits"]) == params["k"] == len(expected)
    assert body["hits"] == expected
    assert body["query"] == params["q"]


def test_search_json_is_queryas_json(client, sample_index):
    r = CliRunner().invoke(cli, ["query", "春眠不觉晓", "-k", "4", "--index", str(sample_index), "--json", "--mode", "semantic"])
    assert r.exit_code == 0, r.output
    cli_hits = json.loads(r.output.splitlines()[0])["hits"]
    api_hits = client.get("/api/search", params={"q": "春眠不觉晓", "k": 4, "mode": "semantic"}).json()["hits"]
    assert len(api_hits) == 4 and api_hits == cli_hits
    assert api_hits[0]["original"] == "春眠不覺曉" and api_hits[0]["score"] == pytest.approx(1.0, abs=1e-5)


def test_traditional_query_finds_the_same_line(client):
    simp = client.get("/api/search", params={"q": "春眠不觉晓", "k": 1, "mode": "semantic"}).json()
    trad = client.get("/api/search", params={"q": "春眠不覺曉", "k": 1, "mode": "semantic"}).json()
    assert len(simp["hits"]) == len(trad["hits"]) == 1
    assert simp["hits"][0]["original"] == trad["hits"][0]["original"] == "春眠不覺曉"
    # the page highlights the query's characters in either script: 覺 and 曉 fold to 觉 and 晓
    assert set(trad["folds"]["query"]) == set("春眠不觉晓")
    assert trad["folds"]["chars"]["覺"] == "觉" and trad["folds"]["chars"]["曉"] == "晓"


def test_similarity_is_the_library_matrix(client, opened):
    texts = ["春眠不觉晓", "大梦谁先觉", "东临碣石以观沧海"]
    r = client.post("/api/similarity", json={"texts": texts})
    assert r.status_code == 200, r.text
    m = np.array(r.json()["matrix"])
    assert m.shape == (3, 3)
    assert np.allclose(m, np.clip(opened.similarity(texts), -1, 1), atol=1e-4)


def test_info_counts_and_facets(client, sample_index):
    info = client.get("/api/info").json()
    db = _db(sample_index)
    assert info["counts"]["texts"] == db.execute("SELECT count(*) FROM texts").fetchone()[0]
    dyn = dict(db.execute("SELECT dynasty, count(*) FROM poems WHERE dynasty != '' GROUP BY dynasty").fetchall())
    got = {d["name"]: d["poems"] for d in info["facets"]["dynasties"]}
    assert got == dyn and len(got) >= 3
    names = [d["name"] for d in info["facets"]["dynasties"]]
    assert names.index("先秦") < names.index("唐") < names.index("宋")  # in time order
    for private in ("database", "vectors", "index", "model_path"):
        assert private not in info  # the server's file paths are nobody else's business


def test_poem_is_the_stored_poem(client, sample_index):
    hit = client.get("/api/search", params={"q": "春眠不觉晓", "k": 1, "mode": "semantic"}).json()["hits"][0]
    r = client.get(f"/api/poems/{hit['poem_id']}")
    assert r.status_code == 200, r.text
    poem = r.json()
    db = _db(sample_index)
    title, paragraphs = db.execute("SELECT title, paragraphs FROM poems WHERE id = ?", (hit["poem_id"],)).fetchone()
    n_lines = db.execute("SELECT count(*) FROM lines WHERE poem_id = ?", (hit["poem_id"],)).fetchone()[0]
    assert poem["title"] == title == "春曉"
    assert poem["paragraphs"] == json.loads(paragraphs) == ["春眠不覺曉，處處聞啼鳥。", "夜來風雨聲，花落知多少。"]
    assert len(poem["lines"]) == n_lines == 4
    assert [ln["original"] for ln in poem["lines"]] == ["春眠不覺曉", "處處聞啼鳥", "夜來風雨聲", "花落知多少"]
    assert poem["lines"][0]["text_id"] == hit["id"]


def test_poem_ids_with_slashes(client, sample_index):
    pid = _db(sample_index).execute("SELECT id FROM poems WHERE id LIKE '%/%' LIMIT 1").fetchone()
    if pid is None:
        pytest.skip("the sample has no path-like poem ids")
    r = client.get(f"/api/poems/{pid[0]}")
    assert r.status_code == 200 and r.json()["id"] == pid[0]


def _authors_of(db, text_id):
    return {r[0] for r in db.execute(
        "SELECT poems.author_norm FROM lines JOIN poems ON poems.id = lines.poem_id WHERE lines.text_id = ?", (text_id,))}


def test_echoes_are_other_poets_nearest_lines(client, opened, sample_index):
    db = _db(sample_index)
    text_id = db.execute("SELECT id FROM texts WHERE text = '春眠不觉晓'").fetchone()[0]
    by_score = client.get(f"/api/lines/{text_id}/echoes", params={"k": 8, "order": "score"}).json()["hits"]
    assert len(by_score) == 8
    mine = _authors_of(db, text_id)
    assert mine == {"孟浩然"}
    for h in by_score:
        assert not (_authors_of(db, h["id"]) & mine), h
    # brute force: the best 8 cosines among lines with no occurrence by 孟浩然
    vecs = opened.vectors.rows(0, len(opened))
    scores = vecs @ vecs[text_id]
    others = [i for i in np.argsort(-scores) if i != text_id and not (_authors_of(db, int(i)) & mine)][:8]
    assert [h["id"] for h in by_score] == [int(i) for i in others]
    assert [h["score"] for h in by_score] == pytest.approx([float(scores[i]) for i in others], abs=1e-5)
    # the page's order: earliest dynasty first, the same hits
    from poetry_search.corpus.dynasties import dynasty_rank

    by_time = client.get(f"/api/lines/{text_id}/echoes", params={"k": 8}).json()["hits"]
    assert sorted(h["id"] for h in by_time) == sorted(h["id"] for h in by_score) and len(by_time) == 8
    ranks = [dynasty_rank(h["dynasty"]) for h in by_time]
    assert ranks == sorted(ranks)


def test_healthz(client, opened):
    r = client.get("/healthz")
    assert r.status_code == 200 and r.json()["lines"] == len(opened)


def test_openapi_docs(client):
    assert client.get("/docs").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    for p in ("/api/search", "/api/find", "/api/poems/{poem_id}", "/api/lines/{text_id}/echoes",
              "/api/similarity", "/api/info", "/healthz"):
        assert p in paths, p


BAD = [
    ("empty query", "GET", "/api/search?q=", 400, "empty"),
    ("blank query", "GET", "/api/search?q=%20%20", 400, "empty"),
    ("no query", "GET", "/api/search", 400, "empty"),
    ("k=0", "GET", "/api/search?q=春&k=0", 400, "between 1 and"),
    ("k=10^6", "GET", "/api/search?q=春&k=1000000", 400, "between 1 and"),
    ("k not a number", "GET", "/api/search?q=春&k=ten", 400, "k:"),
    ("54 kB query (100 kB: see test_serve_process)", "GET", "/api/search?q=" + "春" * 6_000, 400, "characters long"),
    ("unknown mode", "GET", "/api/search?q=春&mode=fuzzy", 400, "unknown mode 'fuzzy'"),
    ("unknown poem", "GET", "/api/poems/no-such-poem", 404, "no poem has id"),
    ("unknown line", "GET", "/api/lines/99999999/echoes", 404, "no line has id"),
    ("echoes k=0", "GET", "/api/lines/0/echoes?k=0", 400, "between 1 and"),
    ("non-UTF-8 query", "GET", "/api/search?q=%FF%FE", 400, "not UTF-8"),
    ("non-UTF-8 poem id", "GET", "/api/poems/%C3%28", 400, "not UTF-8"),
    ("unknown path", "GET", "/api/nothing", 404, "no such page"),
    ("similarity not JSON", "POST", "/api/similarity", 400, "not JSON"),
    ("similarity one text", "POST", "/api/similarity", 400, "2 to"),
]
BODIES = {"similarity not JSON": b"texts=1", "similarity one text": json.dumps({"texts": ["春"]}).encode()}


@pytest.mark.parametrize("name,method,url,status,words", BAD, ids=[b[0] for b in BAD])
def test_bad_requests_are_json_4xx_and_the_server_keeps_serving(client, name, method, url, status, words):
    r = client.request(method, url, content=BODIES.get(name))
    assert r.status_code == status, r.text[:300]
    body = r.json()
    assert body["error"]["status"] == status and words in body["error"]["message"], body
    assert "Traceback" not in r.text
    ok = client.get("/api/search", params={"q": "春眠不觉晓", "k": 1, "mode": "semantic"})
    assert ok.status_code == 200 and len(ok.json()["hits"]) == 1


def test_raw_non_utf8_bytes_in_the_url(client):
    # bytes that are not even percent-encoded: an HTTP client would refuse to send them, so call the
    # ASGI app with the scope a server would pass
    import asyncio

    sent = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(msg):
        sent.append(msg)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
             "path": "/api/search", "raw_path": b"/api/search", "query_string": b"q=\xff\xfe", "headers": [],
             "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80), "root_path": ""}
    asyncio.run(client.app(scope, receive, send))
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    assert start["status"] == 400 and "not UTF-8" in json.loads(body)["error"]["message"]


def test_request_size_is_bounded(client):
    big = json.dumps({"texts": ["春" * 100] * 200}).encode()
    assert len(big) > MAX_BODY_BYTES
    r = client.post("/api/similarity", content=big, headers={"content-type": "application/json"})
    assert r.status_code == 413 and "bytes" in r.json()["error"]["message"] and r.json()["error"]["code"] == "body_too_large"
    long_q = client.get("/api/search", params={"q": "春" * (MAX_QUERY_CHARS + 1)})
    assert long_q.status_code == 400
    assert client.get("/api/search", params={"q": "春", "k": MAX_K, "mode": "semantic"}).status_code == 200


def test_a_missing_index_is_503_until_one_is_built(tmp_path, sample_index):
    target = tmp_path / "later"
    app = create_app(target, check_interval=0.0)
    with TestClient(app) as c:
        r = c.get("/api/search", params={"q": "春"})
        assert r.status_code == 503 and "build one" in r.json()["error"]["message"]
        assert c.get("/healthz").status_code == 503
        shutil.copytree(sample_index, target)
        deadline = time.monotonic() + 60
        while c.get("/healthz").status_code != 200:
            assert time.monotonic() < deadline, "the new index was never picked up"
            time.sleep(0.1)
        assert len(c.get("/api/search", params={"q": "春眠不觉晓", "k": 2, "mode": "semantic"}).json()["hits"]) == 2


def test_a_thread_new_after_a_swap_gets_index_changed(tmp_path, sample_index):
    from poetry_search.errors import IndexChangedError
    from poetry_search.files import swap_in

    target, other = tmp_path / "idx", tmp_path / "next"
    shutil.copytree(sample_index, target)
    shutil.copytree(sample_index, other)
    idx = Index.open(target)
    swap_in(other, target)
    assert idx.store.changed_on_disk()
    result = {}

    def fresh_thread():
        try:
            idx.store.conn.execute("SELECT 1")
        except IndexChangedError as e:
            result["error"] = e

    t = threading.Thread(target=fresh_thread)
    t.start()
    t.join()
    assert isinstance(result.get("error"), IndexChangedError)
    # the thread that opened the index still reads its own (old, unlinked) file
    assert idx.store.conn.execute("SELECT count(*) FROM texts").fetchone()[0] == len(idx)


def test_rebuild_swapped_in_under_load_loses_no_request(tmp_path, sample_index, opened):
    from concurrent.futures import ThreadPoolExecutor

    from poetry_search.files import swap_in

    target = tmp_path / "served"
    shutil.copytree(sample_index, target)
    app = create_app(target, check_interval=0.05)
    queries = ["春眠不觉晓", "床前明月光", "大梦谁先觉", "白日依山尽", "关关雎鸠"]
    expected = {q: opened.search(q, k=3, mode="semantic")[0].original for q in queries}
    with TestClient(app) as c:
        gen0 = c.get("/healthz").json()["generation"]
        stop = threading.Event()
        failures, done = [], [0]

        def hammer(i):
            n = 0
            while not stop.is_set() and n < 400:
                q = queries[(i + n) % len(queries)]
                r = c.get("/api/search", params={"q": q, "k": 3, "mode": "semantic"})
                if r.status_code != 200 or r.json()["hits"][0]["original"] != expected[q]:
                    failures.append((r.status_code, r.text[:200]))
                n += 1
                done[0] += 1

        with ThreadPoolExecutor(8) as pool:
            futures = [pool.submit(hammer, i) for i in range(8)]
            time.sleep(0.5)
            for _ in range(2):  # two rebuilds swapped in while the requests run
                nxt = tmp_path / f".next-{time.monotonic_ns()}"
                shutil.copytree(sample_index, nxt)
                swap_in(nxt, target)
                time.sleep(1.0)
            stop.set()
            for f in futures:
                f.result()
        assert failures == []
        assert done[0] >= 40
        assert c.get("/healthz").json()["generation"] >= gen0 + 1  # the new index was picked up


def test_the_batcher_gives_each_request_its_own_hits():
    from concurrent.futures import ThreadPoolExecutor

    from poetry_search.server.batcher import SearchBatcher

    calls = []

    def run_batch(texts, args):
        calls.append((list(texts), args))
        time.sleep(0.02)  # an encoder pass: others queue meanwhile
        if "boom" in texts:
            raise ValueError("boom")
        return [[f"{t}/{args['k']}"] for t in texts]

    b = SearchBatcher(run_batch, max_batch=8)
    jobs = [(f"q{i}", {"k": 1 + i % 2}) for i in range(40)]
    with ThreadPoolExecutor(16) as pool:
        got = list(pool.map(lambda j: b.search(*j), jobs))
    assert got == [[f"{t}/{a['k']}"] for t, a in jobs]
    assert sum(len(t) for t, _ in calls) == 40
    assert all(len({a["k"] for _ in t}) == 1 for t, a in calls)  # one batch, one set of arguments
    assert max(len(t) for t, _ in calls) <= 8
    assert len(calls) < 40  # concurrent requests did share passes
    with pytest.raises(ValueError, match="boom"):
        b.search("boom", {"k": 1})
    assert b.search("after", {"k": 2}) == ["after/2"]


def test_concurrent_api_searches_get_the_library_hits(client, opened, texts_table):
    from concurrent.futures import ThreadPoolExecutor

    queries = texts_table[::900][:16]
    assert len(queries) == 16
    expected = {q: as_json([h.to_dict() for h in opened.search(q, k=5, mode="semantic")]) for q in queries}
    with ThreadPoolExecutor(16) as pool:
        got = list(pool.map(lambda q: client.get("/api/search", params={"q": q, "k": 5, "mode": "semantic"}).json()["hits"],
                            queries * 3))
    assert len(got) == 48
    for q, hits in zip(queries * 3, got):
        assert [h["id"] for h in hits] == [h["id"] for h in expected[q]]
        assert [h["score"] for h in hits] == pytest.approx([h["score"] for h in expected[q]], abs=1e-5)
    assert client.app.state.batcher.searches >= 48
