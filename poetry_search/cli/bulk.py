"""Neighbours in bulk: export (every line's nearest lines, to Parquet, JSONL or CSV)."""

from __future__ import annotations

import sys

import click

from ..options import BLOCKED_MIN, EXCLUDES, FORMATS, METHODS, NEIGHBOURS_BATCH_SIZE
from .format import export_report
from .params import depth_options, index_option


class _Bars:
    """The export's progress on stderr: one bar a stage (the blocked method's plan stages, then the
    writing), each closed when the next one starts."""

    def __init__(self, total: int, quiet: bool):
        self.total, self.quiet = total, quiet
        self.bars: dict = {}
        self.rows = 0

    def bar(self, desc: str, total: int, unit: str = "line"):
        from tqdm import tqdm

        if desc not in self.bars:
            self.close()
            self.bars[desc] = tqdm(total=total, unit=unit, unit_scale=True, desc=desc, file=sys.stderr, disable=self.quiet,
                                   dynamic_ncols=True, mininterval=0.5)
        return self.bars[desc]

    def progress(self, nq: int, nrows: int) -> None:
        self.rows += nrows
        bar = self.bar("exporting", self.total, "query")
        bar.set_postfix_str(f"{self.rows:,} rows", refresh=False)  # before update(), which may redraw
        bar.update(nq)

    def stage(self, stage: str, done: int, stage_total: int) -> None:
        self.bar(stage, stage_total, "line" if stage_total > 1 else "step").update(done)

    def say(self, message: str) -> None:
        from tqdm import tqdm

        if not self.quiet:
            tqdm.write(message, file=sys.stderr)

    def close(self) -> None:
        for b in self.bars.values():
            b.close()


@click.command()
@index_option
@click.option("-k", "k", type=int, default=10, show_default=True, help="Neighbours per query line.")
@click.option("--out", required=True, type=click.Path(), help=f"Output file: {', '.join(FORMATS)} (the extension decides the format).")
@click.option("--queries", default=None, help="External queries, one a line (or JSONL with a 'text' field); - for stdin. Default: every line of the index.")
@click.option("--exclude", type=click.Choice(EXCLUDES), default="self", show_default=True,
              help="Drop neighbours that are the line itself, share a poem with it, or share its author.")
@click.option("--min-score", type=float, default=None, help="Keep only neighbours with at least this cosine.")
@click.option("--with-meta", is_flag=True, help="Add author/title/dynasty of both sides' first occurrence.")
@click.option("--batch-size", type=int, default=NEIGHBOURS_BATCH_SIZE, show_default=True, help="Queries per FAISS search.")
@click.option("--method", type=click.Choice(METHODS), default="auto", show_default=True,
              help="For every line of the index: 'index' searches the index a batch at a time; 'blocked' compares "
                   "lines by blocks of matrix products (k-means clusters on CPU, all pairs on a CUDA GPU). "
                   f"auto: blocked for approximate indexes of {BLOCKED_MIN:,} lines or more.")
@depth_options
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def export(index_dir, k, out, queries, exclude, min_score, with_meta, batch_size, method, ef, nprobe, quiet):
    """Export every line's k nearest lines (long format: one row per query and neighbour).

    Columns: query_id, query_text, rank, neighbor_id (= texts.id), neighbor_text, score.
    The file is written under a temporary name and renamed when complete.

    \b
    Examples:
        poetry-search export --out neighbours.parquet
        poetry-search export -k 5 --exclude author --min-score 0.9 --with-meta --out echoes.csv
        poetry-search export --queries my_lines.txt --out mine.jsonl
    """
    from ..search.export import check_out, export_neighbours, read_queries
    from ..search.index import Index
    from ..search.neighbours import check_options

    check_out(out)  # the library checks again; here, before the queries and the index are read
    check_options(k, exclude, min_score, batch_size, method, bool(queries))
    query_texts = read_queries(queries) if queries else None
    idx = Index.open(index_dir, ef=ef, nprobe=nprobe)
    bars = _Bars(len(query_texts) if query_texts is not None else len(idx), quiet)
    result = export_neighbours(idx, out, k=k, exclude=exclude, min_score=min_score, queries=query_texts,
                               batch_size=batch_size, with_meta=with_meta, progress=bars.progress, method=method,
                               say=bars.say, stage_progress=bars.stage)
    bars.close()
    click.echo(export_report(result), err=True)
