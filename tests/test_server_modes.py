"""The API's modes, find and poem grouping (issue 12's library calls): the same as the library."""

from __future__ import annotations

import pytest

pytest.importorskip("fastapi")
from conftest import as_json  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402

from poetry_search.server.app import create_app  # noqa: E402


@pytest.mark.parametrize("params", [
    {"q": "春眠不觉晓", "k": 5, "mode": "hybrid"},
    {"q": "明月", "k": 8, "mode": "lexical"},
    {"q": "明月", "k": 6, "mode": "hybrid", "dynasty": "宋", "sort": "popularity"},
    {"q": "春风", "k": 4, "mode": "hybrid", "poems": True},
])
def test_modes_give_the_library_hits(client, opened, params):
    r = client.get("/api/search", params=params)
    assert r.status_code == 200, r.text
    args = {k: v for k, v in params.items() if k != "q"}
    expected = as_json([h.to_dict() for h in opened.search(params["q"], **args)])
    assert len(r.json()["hits"]) == len(expected) == params["k"]
    assert r.json()["hits"] == expected


def test_hybrid_puts_the_verbatim_line_first(client):
    hits = client.get("/api/search", params={"q": "春眠不觉晓", "k": 3}).json()["hits"]
    assert len(hits) == 3
    assert hits[0]["original"] == "春眠不覺曉" and hits[0]["match"] == "exact"


@pytest.mark.parametrize("params", [
    {"pattern": "明月", "k": 7},
    {"pattern": "?花*", "k": 5, "offset": 3},
    {"title": "春", "k": 4},
    {"author": "李白", "pattern": "*月*", "k": 6},
])
def test_find_gives_the_library_result(client, opened, params):
    r = client.get("/api/find", params=params)
    assert r.status_code == 200, r.text
    body = r.json()
    pattern = params.get("pattern")
    args = {k: v for k, v in params.items() if k != "pattern"}
    expected = opened.find(pattern, **args)
    assert body["total"] == expected.total and body["offset"] == expected.offset
    assert len(body["hits"]) == len(expected.hits) > 0
    assert body["hits"] == as_json([h.to_dict() for h in expected.hits])


def test_find_and_search_bad_arguments(client):
    for url, words in (("/api/search?q=春&sort=loud", "unknown sort"), ("/api/find?pattern=春&offset=-1", "between 0"),
                       ("/api/find", "empty"), ("/api/find?pattern=春&k=0", "between 1")):
        r = client.get(url)
        assert r.status_code == 400 and words in r.json()["error"]["message"], (url, r.text)


def test_a_lexical_only_index_is_served_lexically(lexical_sample_index):
    path = lexical_sample_index
    with TestClient(create_app(path)) as c:
        info = c.get("/api/info").json()
        assert info["has_vectors"] is False
        r = c.get("/api/search", params={"q": "春眠不觉晓", "k": 3})  # hybrid needs vectors
        assert r.status_code == 400 and "lexical" in r.json()["error"]["message"]
        hits = c.get("/api/search", params={"q": "春眠不觉晓", "k": 3, "mode": "lexical"}).json()["hits"]
        assert len(hits) == 1 and hits[0]["original"] == "春眠不覺曉" and hits[0]["match"] == "exact"
        assert c.get("/healthz").status_code == 200
