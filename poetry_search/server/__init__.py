"""``poetry-search serve``: the JSON API and the search page, one process over one open index.

    from poetry_search.server import create_app
    app = create_app("index")          # an ASGI app (FastAPI); uvicorn serves it
"""

from __future__ import annotations

__all__ = ["create_app", "serve", "IndexHolder"]


def __getattr__(name):
    if name == "create_app":
        from .app import create_app

        return create_app
    if name == "IndexHolder":
        from .holder import IndexHolder

        return IndexHolder
    if name == "serve":
        from .run import serve

        return serve
    raise AttributeError(name)
