"""Real-world input at the two faces: the CLI's arguments, stdin and options, the HTTP API's query
strings and bodies; each bad input gets a clear answer with a stable code, never a traceback or a 500."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from poetry_search.cli import cli

fastapi = pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from poetry_search.options import MAX_BODY_BYTES, MAX_OFFSET  # noqa: E402
from poetry_search.server.app import create_app  # noqa: E402
from poetry_search.server.errors import CODES  # noqa: E402


def invoke(*args, input=None):
    return CliRunner().invoke(cli, [str(a) for a in args], input=input)


# -- CLI ---------------------------------------------------------------------------------------

def test_a_gbk_batch_reports_its_bad_line_and_searches_the_others(sample_index):
    data = "春眠不觉晓\n".encode() + "处处闻啼鸟\n".encode("gb18030") + "夜来风雨声\n".encode()
    r = invoke("query", "-", "--index", sample_index, "--json", "-k", "1", "--mode", "lexical", input=data)
    assert r.exit_code == 1, r.output
    out = [json.loads(line) for line in r.stdout.splitlines()]
    assert len(out) == 3
    assert [o.get("query") for o in out] == ["春眠不觉晓", None, "夜来风雨声"]
    assert out[1] == {"line": 2, "skipped": out[1]["skipped"], "code": "bad_encoding"}
    assert "iconv -f GB18030 -t UTF-8" in out[1]["skipped"]
    assert "line 2" in r.stderr and "1 line of stdin skipped (line 2)" in r.stderr and "Traceback" not in r.output


def test_encoding_gb18030_reads_the_same_batch(sample_index):
    data = "春眠不觉晓\n处处闻啼鸟\n".encode("gb18030")
    r = invoke("query", "-", "--index", sample_index, "--json", "-k", "1", "--mode", "lexical", "--encoding", "gb18030",
               input=data)
    assert r.exit_code == 0, r.output
    out = [json.loads(line) for line in r.stdout.splitlines()]
    assert len(out) == 2 and [o["query"] for o in out] == ["春眠不觉晓", "处处闻啼鸟"]
    assert out[0]["hits"][0]["original"] == "春眠不覺曉" and out[1]["hits"][0]["original"] == "處處聞啼鳥"


def test_invisible_only_and_overlong_lines_are_skipped_by_number(sample_index):
    data = ("春眠不觉晓\n\u200b\n" + "春" * 300 + "\n").encode()
    r = invoke("query", "-", "--index", sample_index, "--json", "-k", "1", "--mode", "lexical", input=data)
    assert r.exit_code == 1
    out = [json.loads(line) for line in r.stdout.splitlines()]
    assert len(out) == 3 and [o.get("line") for o in out] == [None, 2, 3]
    assert [o.get("code") for o in out] == [None, "empty_query", "text_too_long"]
    assert all(len(line) < 400 for line in r.stderr.splitlines())  # a 300-character line is not echoed whole


def test_argv_bytes_are_decoded_with_encoding(sample_index):
    # what Python puts in sys.argv for GB18030 bytes under a UTF-8 locale
    arg = "春眠不觉晓".encode("gb18030").decode("utf-8", "surrogateescape")
    bad = invoke("query", arg, "--index", sample_index, "-k", "1", "--mode", "lexical")
    assert bad.exit_code == 2 and "not valid utf-8 at byte 0" in bad.output and "--encoding gb18030" in bad.output
    good = invoke("query", arg, "--index", sample_index, "-k", "1", "--mode", "lexical", "--encoding", "gb18030", "--json")
    assert good.exit_code == 0, good.output
    assert json.loads(good.stdout)["hits"][0]["original"] == "春眠不覺曉"


def test_query_offset_pages(sample_index, opened):
    r = invoke("query", "明月", "--index", sample_index, "-k", "2", "--offset", "3", "--json", "--mode", "semantic")
    assert r.exit_code == 0, r.output
    hits = json.loads(r.stdout)["hits"]
    whole = opened.search("明月", k=5, mode="semantic")
    assert len(hits) == 2 and [h["id"] for h in hits] == [h.id for h in whole[3:5]]
    assert [h["rank"] for h in hits] == [4, 5]


def test_an_author_with_no_poems_exits_0_with_suggestions(sample_index):
    r = invoke("query", "床前明月光", "--index", sample_index, "--author", "李百", "--mode", "semantic")
    assert r.exit_code == 0, r.output
    assert "(no hits)" in r.stdout and "did you mean" in r.stderr and "李白" in r.stderr


def test_unknown_dynasty_is_a_usage_error_listing_the_known(sample_index):
    r = invoke("query", "明月", "--index", sample_index, "--dynasty", "堂")
    assert r.exit_code == 2 and "unknown --dynasty" in r.output and "唐" in r.output


def test_poem_with_an_empty_id_says_why(sample_index):
    r = invoke("poem", "", "--index", sample_index)
    assert r.exit_code == 2 and "the poem id is empty" in r.output


def test_find_counts_one_line_in_the_singular(sample_index):
    r = invoke("find", "春眠不觉晓", "--index", sample_index)
    assert r.exit_code == 0, r.output
    head = r.stdout.splitlines()[0]
    assert head.startswith("春眠不觉晓: 1 line (showing 1-1)"), head


def test_info_verify_says_intact_then_names_a_damaged_file(sample_index, tmp_path):
    import shutil

    r = invoke("info", "--verify", "--index", sample_index)
    assert r.exit_code == 0 and "intact" in r.stdout
    copy = tmp_path / "damaged"
    shutil.copytree(sample_index, copy)
    vec = next(p for p in copy.iterdir() if p.suffix == ".faiss")
    with open(vec, "r+b") as f:
        f.seek(vec.stat().st_size // 2)
        f.write(b"\xff" * 512)
    r = invoke("info", "--verify", "--index", copy)
    assert r.exit_code == 1, r.output
    assert vec.name in r.stderr and "Traceback" not in r.output


def test_serve_with_an_address_not_of_this_machine_names_host():
    from poetry_search.errors import UsageProblem
    from poetry_search.server.run import bind

    with pytest.raises(UsageProblem, match="pass another --host"):
        bind("192.0.2.1", 0)  # TEST-NET-1: never an address of this machine


# -- HTTP --------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def api(sample_index):
    with TestClient(create_app(sample_index, max_batch=1)) as c:
        yield c


def test_a_lone_surrogate_in_a_json_body_is_a_400_naming_the_field(api):
    r = api.post("/api/similarity", content=b'{"texts": ["\\u5e8a\\u524d", "\\ud800"]}',
                 headers={"content-type": "application/json"})
    assert r.status_code == 400, r.text
    err = r.json()["error"]
    assert err["code"] == "invalid_text" and err["message"].startswith("texts[1] contains a lone surrogate (U+D800)")


def test_a_lone_surrogate_in_the_query_string_is_a_400_naming_the_field(api):
    r = api.get("/api/search?k=1&q=%ED%A0%80")
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "bad_encoding" and r.json()["error"]["message"].startswith("q is not UTF-8")


def test_a_body_over_the_limit_is_413(api):
    big = json.dumps({"texts": ["春" * 100] * 200}).encode()
    assert len(big) > MAX_BODY_BYTES
    r = api.post("/api/similarity", content=big, headers={"content-type": "application/json"})
    assert r.status_code == 413 and r.json()["error"]["code"] == "body_too_large"


def test_copied_text_finds_the_line_over_http(api):
    for q in ("\ufeff春眠不觉晓", "春眠\u200b不觉晓", "\u2060春眠不觉晓"):
        hits = api.get("/api/search", params={"q": q, "k": 1, "mode": "lexical"}).json()["hits"]
        assert len(hits) == 1 and hits[0]["original"] == "春眠不覺曉" and hits[0]["match"] == "exact"
    r = api.get("/api/search", params={"q": "\u200b\ufeff"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "empty_query"


@pytest.mark.parametrize(("param", "value", "code"), [("dynasty", "堂", "unknown_dynasty"),
                                                      ("collection", "唐诗三千首", "unknown_collection")])
def test_unknown_filter_values_are_400_with_their_code(api, param, value, code):
    r = api.get("/api/search", params={"q": "明月", param: value})
    assert r.status_code == 400 and r.json()["error"]["code"] == code


def test_an_author_with_no_poems_is_200_with_suggestions(api):
    r = api.get("/api/search", params={"q": "明月", "author": "李百", "mode": "semantic"})
    assert r.status_code == 200
    body = r.json()
    assert body["hits"] == [] and "李白" in body["suggestions"] and len(body["suggestions"]) <= 3
    known = api.get("/api/search", params={"q": "明月", "author": "李白", "k": 2, "mode": "semantic"}).json()
    assert len(known["hits"]) == 2 and known["suggestions"] == []


def test_search_offset_is_bounded_and_pages(api):
    whole = api.get("/api/search", params={"q": "明月", "k": 5, "mode": "semantic"}).json()["hits"]
    page = api.get("/api/search", params={"q": "明月", "k": 2, "offset": 3, "mode": "semantic"}).json()
    assert len(whole) == 5 and len(page["hits"]) == 2 and page["offset"] == 3
    assert [h["id"] for h in page["hits"]] == [h["id"] for h in whole[3:5]]
    r = api.get("/api/search", params={"q": "明月", "offset": MAX_OFFSET + 1})
    assert r.status_code == 400 and r.json()["error"]["code"] == "bad_offset"


def test_trace_is_405_with_allow(api):
    r = api.request("TRACE", "/api/search")
    assert r.status_code == 405 and r.headers["allow"] == "GET" and r.json()["error"]["code"] == "method_not_allowed"


def test_a_503_body_shows_no_absolute_path(tmp_path):
    target = tmp_path / "not-yet"
    with TestClient(create_app(target, check_interval=0.0)) as c:
        r = c.get("/api/search", params={"q": "春"})
    assert r.status_code == 503 and r.json()["error"]["code"] == "index_not_found"
    assert str(tmp_path) not in r.text and "not-yet" in r.json()["error"]["message"]


def test_every_library_code_is_in_the_table():
    """A ``code`` the library raises that the table lacks would fail the error model: grep them."""
    import re
    from pathlib import Path

    import poetry_search

    root = Path(poetry_search.__file__).parent
    found = set()
    for f in root.rglob("*.py"):
        text = f.read_text(encoding="utf-8")
        found |= set(re.findall(r'code="([a-z_]+)"', text)) | set(re.findall(r'^    code = "([a-z_]+)"', text, re.M))
    assert len(found) >= 20
    assert found - set(CODES) == set()


# -- the OpenAPI document ----------------------------------------------------------------------

def test_openapi_declares_models_errors_and_limits(api):
    doc = api.get("/openapi.json").json()
    ops = {(p, m): op for p, path in doc["paths"].items() for m, op in path.items()}
    assert len(ops) == 13
    for (path, method), op in ops.items():
        ok = op["responses"]["200"]["content"]["application/json"]["schema"]
        assert "$ref" in ok, (path, ok)
        assert "422" not in op["responses"]
        errors = [s for s in op["responses"] if s != "200"]
        # /api/convert needs no index: OpenCC alone answers it
        assert ("503" in errors) == (path != "/api/convert") and all(op["responses"][s]["content"]["application/json"]["schema"] ==
                                       {"$ref": "#/components/schemas/ErrorBody"} for s in errors), (path, errors)
    assert sorted(ops[("/api/similarity", "post")]["responses"]) == ["200", "400", "413", "503"]
    assert sorted(ops[("/api/poems/{poem_id}", "get")]["responses"]) == ["200", "400", "404", "503"]
    assert sorted(ops[("/api/authors/{name}", "get")]["responses"]) == ["200", "400", "404", "503"]
    assert sorted(ops[("/api/convert", "post")]["responses"]) == ["200", "400", "413"]
    reader = {p: ops[(p, m)]["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
              for p, m in (("/api/authors/{name}", "get"), ("/api/start", "get"), ("/api/browse", "get"),
                           ("/api/convert", "post"))}
    assert reader == {"/api/authors/{name}": "Poet", "/api/start": "Start", "/api/browse": "Browse",
                      "/api/convert": "Converted"}
    poet = {p["name"]: p["schema"] for p in ops[("/api/authors/{name}", "get")]["parameters"]}
    assert len(poet) == 4 and poet["script"]["enum"] == ["orig", "s", "t"]
    assert (poet["k"]["minimum"], poet["k"]["maximum"], poet["offset"]["maximum"]) == (1, 100, MAX_OFFSET)
    search = {p["name"]: p["schema"] for p in ops[("/api/search", "get")]["parameters"]}
    assert len(search) == 10
    assert (search["q"]["minLength"], search["q"]["maxLength"]) == (1, 200)
    assert (search["k"]["minimum"], search["k"]["maximum"]) == (1, 100)
    assert (search["offset"]["minimum"], search["offset"]["maximum"]) == (0, MAX_OFFSET)
    assert search["mode"]["enum"] == ["hybrid", "semantic", "lexical"] and search["sort"]["enum"] == ["score", "popularity"]
    assert search["author"]["anyOf"][0]["maxLength"] == 50
    body = ops[("/api/similarity", "post")]["requestBody"]["content"]["application/json"]["schema"]["properties"]["texts"]
    assert (body["minItems"], body["maxItems"], body["items"]["maxLength"]) == (2, 16, 200)
    schemas = doc["components"]["schemas"]
    assert schemas["ErrorDetail"]["properties"]["code"]["enum"] == list(CODES)
    assert "HTTPValidationError" not in schemas
    assert set(schemas["LineHit"]["required"]) >= {"rank", "id", "original", "poem_id", "match"}


def test_docs_and_redoc_are_served_from_the_app(api):
    for page, script in (("/docs", "swagger-ui-bundle.js"), ("/redoc", "redoc.standalone.js")):
        html = api.get(page).text
        assert f"/static-offline-docs/{script}" in html and "cdn.jsdelivr" not in html
        js = api.get(f"/static-offline-docs/{script}")
        assert js.status_code == 200 and len(js.content) > 100_000
    listing = api.get("/docs-licences/").text.splitlines()
    assert len(listing) == 7
    assert "Apache License" in api.get("/docs-licences/swagger-ui-LICENSE.txt").text
    assert "MIT License" in api.get("/docs-licences/redoc-LICENSE.txt").text






def test_sort_popularity_without_rank_data_warns_once(sample_index, monkeypatch):
    ranked = invoke("query", "明月", "--index", sample_index, "--sort", "popularity", "--mode", "lexical", "--json")
    hits = json.loads(ranked.stdout)["hits"]
    assert len(hits) == 10 and any(h["popularity"] is not None for h in hits)
    assert ranked.exit_code == 0 and "has popularity data" not in ranked.stderr
    from poetry_search.search.index import Index

    real = Index.search_batch

    def unranked(self, *args, **kwargs):  # as an index built without popularity answers
        pages = real(self, *args, **kwargs)
        for page in pages:
            for h in page:
                h.popularity = None
        return pages

    monkeypatch.setattr(Index, "search_batch", unranked)
    r = invoke("query", "明月", "-", "--index", sample_index, "--sort", "popularity", "--mode", "lexical",
               input="春眠不觉晓\n夜来风雨声\n".encode())
    assert r.exit_code == 0, r.output
    warned = [line for line in r.stderr.splitlines() if "has popularity data" in line]
    assert len(warned) == 1 and "--sort popularity kept the usual order" in warned[0]
