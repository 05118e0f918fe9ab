"""Reading how an index was made: info."""

from __future__ import annotations

import click

from .format import dump, info_text
from .params import index_option


@click.command()
@index_option
@click.option("--json", "as_json", is_flag=True, help="Print the manifest and counts as JSON.")
def info(index_dir, as_json):
    """Show how an index was made: model, pooling, precision, corpus, counts, index type, recall.

    \b
    Examples:
        poetry-search info
        poetry-search info --index index-full --json
    """
    from ..search.index import Index

    data = Index.open(index_dir).info()
    click.echo(dump(data) if as_json else info_text(data))
