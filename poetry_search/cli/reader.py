"""Reading by poet: poet (a poet's name, dynasty, biography and poems, most popular first)."""

from __future__ import annotations

import click

from .format import dump, format_table
from .params import index_option


@click.command()
@click.argument("name")
@index_option
@click.option("-k", "k", type=int, default=20, show_default=True, help="How many poems to list.")
@click.option("--offset", type=int, default=0, show_default=True, help="Skip this many poems first (paging).")
@click.option("--json", "as_json", is_flag=True, help="Print the poet as JSON (Chinese kept as is).")
def poet(name, index_dir, k, offset, as_json):
    """Show the poet NAME: dynasty, the corpus's biography, and their poems, most popular first.

    Either script and the corpus's other names work (後主煜 is 李煜).

    \b
    Examples:
        poetry-search poet 李白
        poetry-search poet 蘇軾 -k 5 --offset 5 --json
    """
    from ..search.index import Index

    p = Index.open(index_dir).poet(name, k=k, offset=offset)
    if as_json:
        click.echo(dump(p))
        return
    head = " · ".join(x for x in (p["name"], p["dynasty"]) if x)
    if p["aliases"]:
        head += f"（又作 {'、'.join(p['aliases'])}）"
    out = [head, ""]
    if p["biography"]:
        out += [p["biography"], ""]
    shown = f"{p['offset'] + 1}-{p['offset'] + len(p['poems'])}" if p["poems"] else "none"
    out.append(f"{p['total']} poems (showing {shown}, most popular first)")
    rows = [[str(p["offset"] + i), q["title"] or "无题", q["first_line"], q["book"] or q["collection"], q["poem_id"]]
            for i, q in enumerate(p["poems"], 1)]
    if rows:
        out.append(format_table(["#", "title", "first line", "book", "poem_id"], rows))
    click.echo("\n".join(out))
