"""Reading how an index was made: info."""

from __future__ import annotations

import click

from .format import dump, info_text
from .params import index_option


@click.command()
@index_option
@click.option("--verify", is_flag=True, help="Check every file against its record (every byte), SQLite's integrity "
                                             "and the vector count; exit 1 naming each problem.")
@click.option("--json", "as_json", is_flag=True, help="Print the manifest and counts as JSON.")
def info(index_dir, verify, as_json):
    """Show how an index was made: model, pooling, precision, corpus, counts, index type, recall.

    \b
    Examples:
        poetry-search info
        poetry-search info --index index-full --json
        poetry-search info --verify
    """
    from ..search.index import Index

    idx = Index.open(index_dir)
    if verify:
        problems = idx.verify()
        if as_json:
            click.echo(dump({"index": str(idx.path), "intact": not problems, "problems": problems}))
        elif not problems:
            click.echo(f"{idx.path}: intact (every file matches its record; SQLite and the vectors agree)")
        for p in problems:
            click.echo(f"error: {p}", err=True)
        if problems:
            raise click.ClickException(f"{len(problems)} problem{'' if len(problems) == 1 else 's'} in the index at "
                                       f"{idx.path}: rebuild it with `poetry-search index --index {idx.path}`")
        return
    data = idx.info()
    click.echo(dump(data) if as_json else info_text(data))
