"""Searching the index: query (by meaning and verbatim), find (fragments, patterns, listings), poem, similarity."""

from __future__ import annotations

import click

from ..errors import UsageProblem
from ..options import FIND_SORTS, MODES, SORTS
from .format import (
    dump,
    find_text,
    poem_text,
    query_json,
    query_text,
    similarity_json,
    similarity_table,
)
from .params import depth_options, form_options, index_option, one_form, stdin_queries


@click.command()
@click.argument("text", nargs=-1, required=True)
@index_option
@click.option("-k", "k", type=int, default=10, show_default=True, help="How many lines to return per query.")
@click.option("--author", help="Only lines by this author (either script: 王之涣 finds 王之渙).")
@click.option("--dynasty", help="Only lines of this dynasty: 唐, 宋, 元, 先秦… (or tang, song…).")
@click.option("--collection", help="Only lines of this collection or book: songci, 唐诗三百首, 诗经…")
@form_options
@click.option("--model", default=None, help="Refuse to run unless the index was built with this model.")
@click.option("--mode", type=click.Choice(MODES), default="hybrid", show_default=True,
              help="hybrid: lines containing TEXT verbatim first (exact, then contains), then nearest lines by meaning; "
                   "semantic: by meaning only; lexical: containing lines only.")
@click.option("--sort", type=click.Choice(SORTS), default="score", show_default=True,
              help="score: the mode's order; popularity: the same hits, famous poems first.")
@click.option("--poems", is_flag=True, help="Group hits by poem: -k poems, each with its matching lines.")
@depth_options
@click.option("--json", "as_json", is_flag=True, help="One JSON object per query (Chinese kept as is).")
def query(text, index_dir, k, author, dynasty, collection, form, rhythmic, model, mode, sort, poems, ef, nprobe, as_json):
    """Find the lines for TEXT: those containing it first, then the nearest by meaning.

    Each TEXT is one query; `-` reads one query a line from stdin (encoded in batches).
    Filters apply before the search, so -k lines come back whenever that many match.
    Each hit says how it was found (match: exact, contains, semantic).

    \b
    Examples:
        poetry-search query 大梦谁先觉
        poetry-search query 谁先觉 --mode semantic
        poetry-search query 春眠不觉晓 -k 5 --dynasty 唐 --json
        poetry-search query 明月 --poems -k 5 --sort popularity
        printf '白日依山尽\\n明月松间照\\n' | poetry-search query - --json
    """
    from ..search.index import Index, check_k

    check_k(k)
    texts = [t for t in text if t != "-"]
    if "-" in text:
        texts += stdin_queries()
    if not texts:
        raise UsageProblem("no query given: pass a line of poetry, e.g. poetry-search query 大梦谁先觉")
    idx = Index.open(index_dir, ef=ef, nprobe=nprobe)
    idx.check_model(model)
    results = idx.search_batch(texts, k=k, author=author, dynasty=dynasty, collection=collection,
                               form=one_form(form, rhythmic), mode=mode, sort=sort, poems=poems)
    for q, hits in zip(texts, results):
        click.echo(query_json(q, mode, hits) if as_json else query_text(q, hits, poems))


@click.command()
@click.argument("pattern", required=False)
@index_option
@click.option("--title", default=None, help="Only poems whose title contains this (? and * work too); alone, lists them.")
@click.option("--author", help="Only poems by this author (either script); alone, lists their poems.")
@click.option("--dynasty", help="Only lines of this dynasty: 唐, 宋, 元, 先秦… (or tang, song…).")
@click.option("--collection", help="Only lines of this collection or book: songci, 唐诗三百首, 诗经…")
@form_options
@click.option("-k", "k", type=int, default=10, show_default=True, help="How many hits to show.")
@click.option("--offset", type=int, default=0, show_default=True, help="Skip this many hits first (to page with -k).")
@click.option("--sort", type=click.Choice(FIND_SORTS), default="default", show_default=True,
              help="default: the line equal to PATTERN first, then famous poems, then corpus order; popularity: famous first.")
@click.option("--poems", is_flag=True, help="Group by poem: one entry per poem with its matching lines.")
@click.option("--json", "as_json", is_flag=True, help='Print {"pattern", "total", "offset", "k", "hits": [...]}.')
def find(pattern, index_dir, title, author, dynasty, collection, form, rhythmic, k, offset, sort, poems, as_json):
    """Find lines by fragment or pattern, or list poems by title or author.

    PATTERN is a fragment (谁先觉: every line containing it), or a pattern matched against the
    whole line with ? for one character and * for any run ('?花*': 花 second; '*楼': ending in 楼).
    Simplified and traditional script fold together. The total count of matches is printed.
    Needs no model: works on an index built with --lexical-only.

    \b
    Examples:
        poetry-search find 谁先觉
        poetry-search find '?花*' -k 20 --offset 20
        poetry-search find '明月?时有' --json
        poetry-search find --title 静夜思
        poetry-search find --author 李白 --form 七言绝句
        poetry-search find 明月 --poems --rhythmic 水调歌头
    """
    from ..search.index import Index

    if pattern is not None and not pattern.strip():
        raise UsageProblem("the pattern is empty: pass a fragment such as 谁先觉, or a pattern such as '?花*'")
    idx = Index.open(index_dir)
    result = idx.find(pattern, title=title, author=author, dynasty=dynasty, collection=collection,
                      form=one_form(form, rhythmic), k=k, offset=offset, sort=sort, poems=poems)
    if as_json:
        click.echo(dump({"pattern": pattern, "title": title, "author": author, **result.to_dict()}))
        return
    click.echo(find_text(pattern, title, author, result, grouped=pattern is None or poems))


@click.command()
@click.argument("poem_id")
@index_option
@click.option("--json", "as_json", is_flag=True, help="Print the poem as JSON (title, author, paragraphs, lines…).")
def poem(poem_id, index_dir, as_json):
    """Print a whole poem: title, author, dynasty, form or ci-pai, every line, source.

    POEM_ID is the poem_id of a hit (query --json, find --json, or the poem id column of --poems).

    \b
    Examples:
        poetry-search poem 0167687e-8325-48bf-8da4-3749c9ce0a74
        poetry-search poem songci/宋词三百首/0 --json
    """
    from ..search.index import Index

    p = Index.open(index_dir).poem(poem_id)
    click.echo(dump(p) if as_json else poem_text(p))


@click.command()
@click.argument("texts", nargs=-1, required=True)
@click.option("--index", "index_dir", default=None, type=click.Path(),
              help="Use this index's model (default: index/ if it exists, else --model).")
@click.option("--model", default=None, help="Use this model directly (Hugging Face id, folder, modelscope:ID).")
@click.option("--json", "as_json", is_flag=True, help='Print {"texts": [...], "matrix": [[...]]}.')
def similarity(texts, index_dir, model, as_json):
    """Print the cosine similarity matrix of TEXTS.

    The method is the project's one: mean of the last hidden state over all tokens ([CLS] and
    [SEP] included), L2-normalised, after the same normalisation as the corpus.

    \b
    Examples:
        poetry-search similarity 春眠不觉晓 大梦谁先觉 浓睡不消残酒 东临碣石以观沧海
        poetry-search similarity 白日依山尽 黄河入海流 --model ./models/bert-base-chinese --json
    """
    from ..search.index import similarity as cosine_matrix

    matrix = cosine_matrix(list(texts), index=index_dir, model=model)
    click.echo(similarity_json(texts, matrix) if as_json else similarity_table(texts, matrix))
