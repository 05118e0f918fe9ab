"""The API's own documentation, offline: the licences of the Swagger UI and ReDoc copies that
``fastapi-offline`` serves at /docs and /redoc (its wheel ships the scripts without them), and the
OpenAPI document as the server behaves (its errors are 400s with the error model, never 422s)."""

from __future__ import annotations

from importlib import resources

from fastapi import APIRouter, FastAPI
from fastapi.responses import Response

from .errors import CODES

LICENCES = resources.files("poetry_search.server") / "static" / "docs-licences"
#: The licence files served at /docs-licences/NAME.
LICENCE_FILES = ("swagger-ui-LICENSE.txt", "swagger-ui-NOTICE.txt", "swagger-ui-bundle.js.LICENSE.txt",
                 "redoc-LICENSE.txt", "redoc.standalone.js.LICENSE.txt")

router = APIRouter(include_in_schema=False)


def _licence(name: str):
    def serve_licence() -> Response:
        return Response((LICENCES / name).read_bytes(), media_type="text/plain; charset=utf-8")

    return serve_licence


def _index() -> Response:
    names = [n for n in LICENCE_FILES if (LICENCES / n).is_file()]
    body = "The documentation pages (/docs, /redoc) use these programs, under these licences:\n\n" + \
        "\n".join(f"/docs-licences/{n}" for n in names) + "\n"
    return Response(body, media_type="text/plain; charset=utf-8")


router.add_api_route("/docs-licences/", _index, methods=["GET"])
for _name in LICENCE_FILES:
    router.add_api_route(f"/docs-licences/{_name}", _licence(_name), methods=["GET"])


def declare_errors_only(app: FastAPI) -> None:
    """The OpenAPI document without FastAPI's 422 answers (this API answers 400 with the error
    model instead), and with the table of error codes in the error model's description."""
    original = app.openapi

    def openapi() -> dict:
        if app.openapi_schema is None:
            schema = original()
            for path in schema["paths"].values():
                for op in path.values():
                    op.get("responses", {}).pop("422", None)
            components = schema.get("components", {}).get("schemas", {})
            components.pop("HTTPValidationError", None)
            components.pop("ValidationError", None)
            if "ErrorDetail" in components:
                components["ErrorDetail"]["description"] = "Error codes and their statuses: " + \
                    ", ".join(f"{c} ({s})" for c, s in CODES.items()) + "."
        return app.openapi_schema

    app.openapi = openapi
