"""Measuring an index: eval (its tasks against a lexical baseline)."""

from __future__ import annotations

import click

from ..errors import UsageProblem
from ..options import EVAL_DEFAULT_TASKS, EVAL_SAMPLE, EVAL_TASKS
from .format import dump, eval_text
from .params import depth_options, index_option


@click.command("eval")
@index_option
@click.option("--task", "tasks", multiple=True, type=click.Choice(EVAL_TASKS),
              help=f"A task to run (repeat for several). Default: {', '.join(EVAL_DEFAULT_TASKS)}; --ccpm adds ccpm.")
@click.option("--sample", type=int, default=EVAL_SAMPLE, show_default=True,
              help="Queries drawn per task (all of them when a task has fewer).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the samples: the same seed gives the same figures.")
@click.option("--ccpm", "ccpm_file", type=click.Path(), default=None,
              help="A CCPM JSON-lines file (translation, choices, answer), e.g. CCPM's valid.jsonl: runs the ccpm task on it.")
@depth_options
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON (rows and per-task metrics).")
@click.option("--quiet", "-q", is_flag=True, help="No progress bars.")
def eval_command(index_dir, tasks, sample, seed, ccpm_file, ef, nprobe, as_json, quiet):
    """Measure retrieval quality of an index, with tasks built from its corpus.

    Each task runs the index's model and a lexical baseline (BM25 over characters) on the
    same sampled queries and candidates. couplets: find the second line of a couplet of
    regulated verse from its first, among all lines (recall@1/10/100, MRR). variants: find a
    line from the variant reading its editors give, （一作…） in 全唐诗/全宋诗 (recall@1/10, MRR).
    ccpm: CCPM's multiple choice, the choice closest to a modern translation (accuracy).
    ann: recall@10 of the index against exact search. attribution: every line of the
    curated editions (唐诗三百首, 宋词三百首, 千家诗) looked up with those editions left out:
    found, and whether the first hit names its poet (no model needed: runs on a
    --lexical-only index).

    \b
    Examples:
        poetry-search eval
        poetry-search eval --index index-full --task couplets --sample 500 --seed 1
        poetry-search eval --ccpm CCPM/valid.jsonl --task ccpm --json
        poetry-search eval --index index-full --task attribution
    """
    from ..evaluate.tasks import evaluate
    from ..search.index import Index

    # Checked before the index is opened, so that a mistyped --sample fails at once.
    if sample < 1:
        raise UsageProblem("--sample must be at least 1")
    tasks = list(tasks) or list(EVAL_DEFAULT_TASKS)
    if ccpm_file and "ccpm" not in tasks:
        tasks.append("ccpm")
    idx = Index.open(index_dir, ef=ef, nprobe=nprobe)
    report = evaluate(idx, tasks=tasks, sample=sample, seed=seed, ccpm=ccpm_file, progress=not quiet)
    click.echo(dump(report.to_dict()) if as_json else eval_text(report))
