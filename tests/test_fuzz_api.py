"""Schemathesis over every route of the server, in process over ASGI, on the sample index: no input
gives a server error, every answer matches its declared schema, every status is a declared one.

``FUZZ_EXAMPLES`` examples an operation (``make fuzz`` runs many more: docs/http-api.md has the
counts and times)."""

from __future__ import annotations

import os

import pytest

schemathesis = pytest.importorskip("schemathesis")

from hypothesis import HealthCheck, given, settings  # noqa: E402
from schemathesis.checks import (  # noqa: E402
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from poetry_search.server.app import create_app  # noqa: E402

CHECKS = [not_a_server_error, response_schema_conformance, status_code_conformance]
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "50"))


def _operations() -> list[tuple[str, str]]:
    """Every (path, method) of the OpenAPI document (which needs no index to be written)."""
    doc = create_app("no-index-here", holder=_NoIndex()).openapi()
    return [(path, method.upper()) for path, ops in doc["paths"].items() for method in ops]


class _NoIndex:
    generation = 0


OPERATIONS = _operations()


@pytest.fixture(scope="module")
def api_schema(sample_index):
    # max_batch=1: each search on its own, so a failing example is the one reported
    return schemathesis.openapi.from_asgi("/openapi.json", create_app(sample_index, max_batch=1))


def test_every_route_is_fuzzed():
    assert len(OPERATIONS) == 13 and {p for p, _ in OPERATIONS} >= {
        "/api/search", "/api/similarity", "/healthz", "/api/authors/{name}", "/api/browse", "/api/start", "/api/convert",
        "/api/rhymes/{char}", "/api/check"}


@pytest.mark.parametrize(("path", "method"), OPERATIONS, ids=[f"{m} {p}" for p, m in OPERATIONS])
def test_route(api_schema, path, method):
    seen = []

    @given(case=api_schema[path][method].as_strategy())
    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def run(case):
        seen.append(case)
        case.call_and_validate(checks=CHECKS)

    run()
    assert len(seen) >= 1  # a route without parameters has one example
