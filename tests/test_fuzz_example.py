"""The fuzzing pattern for the HTTP API, proven on a tiny FastAPI app defined here (not the
project's server): every route declares its response model, its error answers and its limits, so
Schemathesis can check, in process over ASGI, that no input gives a server error, that every answer
matches its declared schema, and that every status code is a declared one. A second app with
planted faults shows that each of the three checks catches its fault."""

from __future__ import annotations

import time
from typing import Annotated, Literal

import pytest

schemathesis = pytest.importorskip("schemathesis")
fastapi = pytest.importorskip("fastapi")

from fastapi import Body, FastAPI, Query, Request  # noqa: E402
from fastapi.exceptions import RequestValidationError  # noqa: E402
from fastapi.responses import JSONResponse  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402
from pydantic import BaseModel, Field  # noqa: E402
from schemathesis.checks import (  # noqa: E402
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from starlette.exceptions import HTTPException as StarletteHTTPException  # noqa: E402

from poetry_search.corpus.textin import check_visible, fold_invisible, read_text  # noqa: E402
from poetry_search.errors import UsageProblem  # noqa: E402

CHECKS = [not_a_server_error, response_schema_conformance, status_code_conformance]
EXAMPLES = 40  # per route: the two routes' whole run stays a few seconds here
LINES = ["床前明月光", "疑是地上霜", "举头望明月", "低头思故乡", "白日依山尽", "黄河入海流"]


class ErrorDetail(BaseModel):
    status: int
    code: Literal["bad_request", "text_invalid", "not_found"]
    message: str


class ErrorBody(BaseModel):
    """Every error: a stable ``code`` beside the message."""

    error: ErrorDetail


class Hit(BaseModel):
    rank: int = Field(ge=1)
    text: str
    score: float = Field(ge=-1.0, le=1.0)


class SearchResult(BaseModel):
    query: str
    hits: list[Hit]


class SimilarityBody(BaseModel):
    texts: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(min_length=2, max_length=16)


class SimilarityResult(BaseModel):
    texts: list[str]
    matrix: list[list[float]]


ERRORS = {400: {"model": ErrorBody, "description": "The request is wrong; the message says how to fix it."},
          404: {"model": ErrorBody, "description": "No such page."}}


def _reply(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"status": status, "code": code, "message": message}}, status_code=status)


def _drop_422(app: FastAPI) -> None:
    """FastAPI documents a 422 for every route with parameters; this API answers 400 instead."""
    original = app.openapi

    def openapi():
        if app.openapi_schema is None:
            schema = original()
            for path in schema["paths"].values():
                for op in path.values():
                    op.get("responses", {}).pop("422", None)
            schema.get("components", {}).get("schemas", {}).pop("HTTPValidationError", None)
            schema.get("components", {}).get("schemas", {}).pop("ValidationError", None)
        return app.openapi_schema

    app.openapi = openapi


def make_app(*, faults: bool = False) -> FastAPI:
    """A two-route search API; with ``faults``, one planted fault for each check."""
    app = FastAPI(title="tiny", version="1")

    @app.exception_handler(RequestValidationError)
    async def _bad(request: Request, e: RequestValidationError):
        where = ".".join(str(x) for x in e.errors()[0].get("loc", ()) if x not in ("query", "body"))
        return _reply(400, "bad_request", f"{where}: {e.errors()[0].get('msg', 'invalid')}")

    @app.exception_handler(StarletteHTTPException)  # FastAPI's own 400 for a body that is not JSON, 404s
    async def _http(request: Request, e: StarletteHTTPException):
        code = "not_found" if e.status_code == 404 else "bad_request"
        return _reply(e.status_code, code, str(e.detail))

    @app.exception_handler(UsageProblem)
    async def _usage(request: Request, e: UsageProblem):
        return _reply(400, "text_invalid", str(e))

    def text_in(value: str, what: str) -> str:
        text = fold_invisible(read_text(value, what=what))
        check_visible(text, what)
        return text

    @app.get("/api/search", response_model=SearchResult, responses=ERRORS)
    def search(q: Annotated[str, Query(min_length=1, max_length=200, description="A line of poetry.")],
               k: Annotated[int, Query(ge=1, le=100)] = 10) -> SearchResult:
        text = text_in(q, "q")
        if faults and "0" in text:
            return _reply(500, "bad_request", "planted: a server error")
        if faults and len(text) > 3:  # planted: a raw answer that skips the model, with rank 0 and score 2
            return JSONResponse({"query": text, "hits": [{"rank": 0, "text": text, "score": 2.0}]})
        found = [line for line in LINES if set(line) & set(text)][:k]
        return SearchResult(query=text, hits=[Hit(rank=i + 1, text=t, score=1.0 / (i + 1)) for i, t in enumerate(found)])

    @app.post("/api/similarity", response_model=SimilarityResult, responses=ERRORS)
    def similarity(body: Annotated[SimilarityBody, Body()]):
        texts = [text_in(t, f"texts[{i}]") for i, t in enumerate(body.texts)]
        if faults and len(texts) > 2:
            return _reply(409, "bad_request", "planted: an undeclared status")
        matrix = [[len(set(a) & set(b)) / max(len(set(a) | set(b)), 1) for b in texts] for a in texts]
        return SimilarityResult(texts=texts, matrix=matrix)

    _drop_422(app)
    return app


APP = make_app()
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


def test_the_schema_declares_models_errors_and_limits():
    doc = APP.openapi()
    search = doc["paths"]["/api/search"]["get"]
    assert sorted(search["responses"]) == ["200", "400", "404"]
    assert search["responses"]["200"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/SearchResult"}
    params = {p["name"]: p["schema"] for p in search["parameters"]}
    assert len(params) == 2
    assert (params["q"]["minLength"], params["q"]["maxLength"]) == (1, 200)
    assert (params["k"]["minimum"], params["k"]["maximum"]) == (1, 100)
    error = doc["components"]["schemas"]["ErrorDetail"]["properties"]["code"]
    assert error["enum"] == ["bad_request", "text_invalid", "not_found"]
    assert "HTTPValidationError" not in doc["components"]["schemas"]


def test_a_lone_surrogate_is_a_400_naming_the_field():
    from fastapi.testclient import TestClient

    with TestClient(APP) as client:
        r = client.post("/api/similarity", content=b'{"texts": ["\\u5e8a\\u524d", "\\ud800"]}',
                        headers={"content-type": "application/json"})
    # pydantic refuses it while validating the declared body model, before any handler runs
    assert r.status_code == 400
    assert r.json()["error"] == {"status": 400, "code": "bad_request", "message":
                                 "texts.1: Input should be a valid string, unable to parse raw data as a unicode string"}


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_api(case):
    case.call_and_validate(checks=CHECKS)


BROKEN = make_app(faults=True)
broken = schemathesis.openapi.from_asgi("/openapi.json", BROKEN)


def _failure(path: str, method: str, check) -> str:
    """The first failure Schemathesis finds for one operation of the faulty app under one check."""
    caught: list[str] = []

    @given(case=broken[path][method].as_strategy())
    @settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def run(case):
        if caught:
            return
        try:
            case.call_and_validate(checks=[check])
        except BaseExceptionGroup as e:  # Schemathesis raises its check failures as one group
            caught.append(f"{type(e).__name__}: {e}")

    run()
    return caught[0] if caught else ""


@pytest.mark.parametrize(("path", "method", "check", "expected"), [
    ("/api/search", "GET", not_a_server_error, "Server error"),
    ("/api/search", "GET", response_schema_conformance, "Response violates schema"),
    ("/api/similarity", "POST", status_code_conformance, "Undocumented status code"),
])
def test_each_check_catches_its_planted_fault(path, method, check, expected):
    found = _failure(path, method, check)
    assert expected in found, found


def test_examples_per_second_are_measured():
    """The figure the CI budget is sized from (printed with -s)."""
    n = 0

    @given(case=schema["/api/search"]["GET"].as_strategy())
    @settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def run(case):
        nonlocal n
        n += 1
        case.call_and_validate(checks=CHECKS)

    start = time.perf_counter()
    run()
    elapsed = time.perf_counter() - start
    print(f"\n{n} Schemathesis examples in {elapsed:.2f} s: {n / elapsed:.0f} examples/s")
    assert n >= 50
