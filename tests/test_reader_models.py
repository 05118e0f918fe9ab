"""The reader's routes (server/reader.py) answer in their declared models, and every 4xx is the
JSON error body with its stable code. Oracles: the sample's JSON read here, OpenCC called here."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("fastapi")

from poetry_search.server import models  # noqa: E402
from conftest import assert_error_body  # noqa: E402

SAMPLE = Path(__file__).resolve().parent.parent / "data" / "sample"


def _tang() -> list[dict]:
    return json.loads((SAMPLE / "quantangshi" / "唐诗三百首.json").read_text(encoding="utf-8"))


def _songci() -> list[dict]:
    return json.loads((SAMPLE / "songci" / "宋词三百首.json").read_text(encoding="utf-8"))


def test_poet_answers_in_its_model(client):
    r = client.get("/api/authors/李白", params={"k": 5})
    assert r.status_code == 200
    poet = models.Poet.model_validate(r.json())
    assert poet.name == "李白" and poet.dynasty == "唐"
    assert poet.total == sum(p["author"] == "李白" for p in _tang())
    assert len(poet.poems) == 5 and all(p.author == "李白" for p in poet.poems)
    bio = next(a["desc"] for a in json.loads((SAMPLE / "quantangshi" / "authors.tang.json").read_text("utf-8"))
               if a["name"] == "李白")
    assert poet.biography == bio.strip()
    # the answer has no field the model leaves out: the page reads what the schema declares
    assert set(r.json()) == set(models.Poet.model_fields)


def test_browse_and_start_answer_in_their_models(client):
    r = client.get("/api/browse", params={"collection": "songci", "k": 3, "offset": 2})
    assert r.status_code == 200
    page = models.Browse.model_validate(r.json())
    assert page.total == len(_songci()) and page.offset == 2 and len(page.poems) == 3
    firsts = {p["paragraphs"][0] for p in _songci()}
    assert all(p.first_line in firsts for p in page.poems)
    r = client.get("/api/start", params={"poets": 4})
    assert r.status_code == 200
    start = models.Start.model_validate(r.json())
    assert len(start.poets) == 4 and len(start.lines) == 3
    assert start.poem is not None and start.poem.paragraphs and start.poem.folds.query == []
    whole = client.get(f"/api/poems/{start.poem.id}").json()
    assert start.poem.paragraphs == whole["paragraphs"] and len(start.poem.lines) == len(whole["lines"])


def test_convert_answers_in_its_model(client):
    import opencc

    texts = ["床前明月光", "疑是地上霜"]
    r = client.post("/api/convert", json={"texts": texts, "script": "t"})
    assert r.status_code == 200
    got = models.Converted.model_validate(r.json())
    assert got.script == "t" and got.texts == [opencc.OpenCC("s2t").convert(t) for t in texts] and len(got.texts) == 2
    assert got.texts[0] != texts[0]  # 床 is 牀 in OpenCC's traditional


BAD = [
    ("GET", "/api/authors/nobody-such", None, 404, "author_not_found"),
    ("GET", "/api/authors/%E2%80%8B", None, 400, "empty_query"),
    ("GET", "/api/authors/李白?k=0", None, 400, "bad_request"),
    ("GET", "/api/authors/李白?k=101", None, 400, "bad_request"),
    ("GET", "/api/authors/李白?offset=-1", None, 400, "bad_offset"),
    ("GET", "/api/authors/李白?offset=10001", None, 400, "bad_offset"),
    ("GET", "/api/authors/李白?script=x", None, 400, "bad_request"),
    ("GET", "/api/authors/" + "李" * 51, None, 400, "bad_request"),
    ("GET", "/api/start?poets=0", None, 400, "bad_request"),
    ("GET", "/api/start?poets=51", None, 400, "bad_request"),
    ("GET", "/api/start?script=tw", None, 400, "bad_request"),
    ("GET", "/api/browse", None, 400, "bad_request"),
    ("GET", "/api/browse?dynasty=%E7%81%AB%E6%98%9F", None, 400, "unknown_dynasty"),
    ("GET", "/api/browse?collection=nowhere", None, 400, "unknown_collection"),
    ("GET", "/api/browse?dynasty=唐&k=abc", None, 400, "bad_request"),
    ("POST", "/api/convert", b"not json", 400, "bad_request"),
    ("POST", "/api/convert", b'{"texts": "a", "script": "t"}', 400, "bad_request"),
    ("POST", "/api/convert", b'{"texts": ["a"], "script": "x"}', 400, "bad_request"),
    ("POST", "/api/convert", b'{"texts": ["\\ud800"], "script": "s"}', 400, "invalid_text"),
    ("POST", "/api/convert", b'{"texts": ["' + b"a" * 20_000 + b'"], "script": "s"}', 413, "body_too_large"),
    ("GET", "/api/convert", None, 405, "method_not_allowed"),
]


@pytest.mark.parametrize(("method", "url", "body", "status", "code"), BAD, ids=[f"{m} {u[:40]} {c}" + (f" {b[:20]!r}" if b else "") for m, u, b, _, c in BAD])
def test_every_error_is_the_json_body_with_its_code(client, method, url, body, status, code):
    assert_error_body(client.request(method, url, content=body), status, code)


def test_the_bad_cases_cover_every_reader_route():
    routes = {u.split("?")[0].rsplit("/", 1)[0] if u.startswith("/api/authors/") else u.split("?")[0] for _, u, *_ in BAD}
    assert routes == {"/api/authors", "/api/start", "/api/browse", "/api/convert"} and len(BAD) == 21
