"""The search page at ``/`` and its files: fixed package files, never a path from the request."""

from __future__ import annotations

from importlib import resources

from fastapi import APIRouter
from fastapi.responses import Response

STATIC = resources.files("poetry_search.server") / "static"
PAGES = {"/": ("index.html", "text/html; charset=utf-8"), "/static/app.css": ("app.css", "text/css; charset=utf-8"),
         "/static/app.js": ("app.js", "text/javascript; charset=utf-8"),
         "/static/favicon.svg": ("favicon.svg", "image/svg+xml")}
# The page loads only its own files and builds its DOM from text, never from corpus HTML.
PAGE_CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; "
            "img-src 'self' data:; object-src 'none'; base-uri 'none'")

router = APIRouter(include_in_schema=False)


def page(path: str) -> Response:
    """The file served at ``path`` (a key of ``PAGES``)."""
    name, media = PAGES[path]
    body = (STATIC / name).read_bytes()
    headers = {"Cache-Control": "no-cache"}
    if name == "index.html":
        headers["Content-Security-Policy"] = PAGE_CSP
    return Response(body, media_type=media, headers=headers)


def _route(path: str):
    def serve_file() -> Response:
        return page(path)

    return serve_file


for _path in PAGES:
    router.add_api_route(_path, _route(_path), methods=["GET"])
