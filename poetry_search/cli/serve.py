"""The web face: serve (the search page and the JSON API)."""

from __future__ import annotations

import click

from ..options import DEFAULT_HOST, DEFAULT_PORT, MAX_BATCH
from .params import index_option


@click.command()
@index_option
@click.option("--host", default=DEFAULT_HOST, show_default=True,
              help="Address to listen on. Only this machine by default; another address (0.0.0.0) opens the server to the network.")
@click.option("--port", type=int, default=DEFAULT_PORT, show_default=True, help="Port to listen on (0 picks a free one).")
@click.option("--max-batch", type=int, default=MAX_BATCH, show_default=True,
              help="Concurrent searches with the same arguments share one encoder pass, up to this many (1: no batching).")
def serve(index_dir, host, port, max_batch):
    """Serve the search page and the JSON API over an index.

    One process holds the index open and the model warm. The page is at /, the API under /api/
    (search, find, poems, echoes, similarity, info), its documentation at /docs, a health check
    at /healthz. A rebuild of the index is picked up without a restart.

    \b
    Examples:
        poetry-search serve                              # http://127.0.0.1:8000/
        poetry-search serve --index index-full --port 8080
        curl 'http://127.0.0.1:8000/api/search?q=大梦谁先觉&k=3'
    """
    from ..server import serve as run_server

    run_server(index_dir, host=host, port=port, max_batch=max_batch,
               echo=lambda m: click.echo(m, err=m.startswith("warning")))
