"""Searching the index: query (by meaning and verbatim), find (fragments, patterns, listings), poem, similarity."""

from __future__ import annotations

import click

from ..errors import PoetrySearchError, UsageProblem
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
from .params import (
    depth_options,
    encoding_option,
    form_options,
    index_option,
    one_form,
    text_arg,
)


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
@click.option("--offset", type=int, default=0, show_default=True, help="Skip this many hits first (to page with -k).")
@depth_options
@encoding_option
@click.option("--json", "as_json", is_flag=True, help="One JSON object per query (Chinese kept as is).")
def query(text, index_dir, k, author, dynasty, collection, form, rhythmic, model, mode, sort, poems, offset, ef, nprobe,
          encoding, as_json):
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
        poetry-search query - --encoding gb18030 < old_gbk_lines.txt

    With `-`, a line that cannot be searched (bad encoding, nothing visible, too long) is reported
    on stderr with its number and skipped; the others are searched, and the command exits 1 at the end.
    """
    from ..corpus.textin import iter_lines
    from ..search.index import Index, check_k

    check_k(k)
    texts = [text_arg(t, f"query {i + 1}", encoding) for i, t in enumerate(text) if t != "-"]
    author, dynasty, collection, form, rhythmic = _filter_args(encoding, author=author, dynasty=dynasty,
                                                               collection=collection, form=form, rhythmic=rhythmic)
    batch: list[tuple[int, str | PoetrySearchError]] = []  # stdin's lines: text, or why not
    if "-" in text:
        batch = list(iter_lines(click.get_text_stream("stdin"), encoding, source="stdin"))
    if not texts and not batch:
        raise UsageProblem("no query given: pass a line of poetry, e.g. poetry-search query 大梦谁先觉")
    idx = Index.open(index_dir, ef=ef, nprobe=nprobe)
    idx.check_model(model)
    for t in texts:
        idx.queries.normalize(t)  # an argument that cannot be searched stops the command
    batch = [(n, _searchable(idx, t)) for n, t in batch]
    searched = texts + [t for _, t in batch if isinstance(t, str)]
    found = idx.search_batch(searched, k=k, author=author, dynasty=dynasty, collection=collection,
                             form=one_form(form, rhythmic), mode=mode, sort=sort, poems=poems, offset=offset)
    _warn_unranked(idx, sort, [h for hits in found for h in hits])
    results = iter(found)
    for q in texts:
        hits = next(results)
        click.echo(query_json(q, mode, hits) if as_json else query_text(q, hits, poems))
    skipped = []
    for n, item in batch:
        if isinstance(item, str):
            hits = next(results)
            click.echo(query_json(item, mode, hits) if as_json else query_text(item, hits, poems))
            continue
        skipped.append(n)
        click.echo(f"error: {item} (line {n} skipped)", err=True)
        click.echo(dump({"line": n, "skipped": str(item), "code": item.code}) if as_json
                   else f"line {n} of stdin: skipped ({item.code})\n")
    if skipped:
        shown = ", ".join(map(str, skipped[:20])) + (", …" if len(skipped) > 20 else "")
        raise click.ClickException(f"{len(skipped)} line{'' if len(skipped) == 1 else 's'} of stdin skipped "
                                   f"(line {shown}); the others were searched")


def _warn_unranked(idx, sort: str, hits: list) -> None:
    """``--sort popularity`` where no hit has a popularity changes nothing: say so, once a command."""
    if sort == "popularity" and hits and all(h.popularity is None for h in hits):
        click.echo(f"warning: none of these hits has popularity data (the index at {idx.path} was built without "
                   "the corpus's rank/ folder, or these poems are unranked): --sort popularity kept the usual "
                   "order; rebuild from a corpus with rank/ for it", err=True)


def _filter_args(encoding: str, **given: str | None) -> list[str | None]:
    """Filter options as text (``text_arg``), in the order given; None stays None."""
    return [None if v is None else text_arg(v, f"--{name}", encoding) for name, v in given.items()]


def _searchable(idx, text: str | PoetrySearchError) -> str | PoetrySearchError:
    """``text`` when the index can search it (``QueryEncoder.normalize`` accepts it), else why not."""
    if not isinstance(text, str):
        return text
    try:
        idx.queries.normalize(text)
    except UsageProblem as e:
        return e
    return text


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
@click.option("--tones", default=None,
              help="Only lines of this 平水韵 tone shape, one mark a character: 平, 仄, 中 (either), ? one, * any run "
                   "(平平仄仄平, '?平??平'); 平 and 仄 also match a character of both readings.")
@click.option("--rhyme", default=None, help="Only lines ending in a character of this 平水韵 group: 七阳, 下平七阳, 七陽.")
@click.option("--rhymes-with", "rhymes_with", default=None,
              help="Only lines ending in a character of the same 平水韵 group(s) as this one: 霜, 香.")
@encoding_option
@click.option("--json", "as_json", is_flag=True,
              help='Print {"pattern", "tones", "rhyme", "rhymes_with", "total", "offset", "k", "hits": [...]}.')
def find(pattern, index_dir, title, author, dynasty, collection, form, rhythmic, k, offset, sort, poems, tones, rhyme,
         rhymes_with, encoding, as_json):
    """Find lines by fragment or pattern, or list poems by title or author.

    PATTERN is a fragment (谁先觉: every line containing it), or a pattern matched against the
    whole line with ? for one character and * for any run ('?花*': 花 second; '*楼': ending in 楼).
    Simplified and traditional script fold together. The total count of matches is printed.
    Needs no model: works on an index built with --lexical-only.

    By 平水韵, alone or with a PATTERN and the other filters: --tones matches the line's tone
    string (平, 仄, 中 for either, ? and *), --rhyme a group its last character belongs to,
    --rhymes-with a character whose group(s) it shares. The table then shows each hit's tones
    and rhyme group.

    \b
    Examples:
        poetry-search find 谁先觉
        poetry-search find '?花*' -k 20 --offset 20
        poetry-search find '明月?时有' --json
        poetry-search find --title 静夜思
        poetry-search find --author 李白 --form 七言绝句
        poetry-search find 明月 --poems --rhythmic 水调歌头
        poetry-search find --tones 平平仄仄平 --rhyme 七阳
        poetry-search find '?花*' --tones '?平??平' --rhymes-with 香
        poetry-search find --tones '*仄平' --author 李白 --poems -k 5 --json
    """
    from ..search.index import Index

    pattern = text_arg(pattern, "the pattern", encoding) if pattern is not None else None
    title, author, dynasty, collection, form, rhythmic, tones, rhyme, rhymes_with = _filter_args(
        encoding, title=title, author=author, dynasty=dynasty, collection=collection, form=form, rhythmic=rhythmic,
        tones=tones, rhyme=rhyme, **{"rhymes-with": rhymes_with})
    if pattern is not None and not pattern.strip():
        raise UsageProblem("the pattern is empty: pass a fragment such as 谁先觉, or a pattern such as '?花*'")
    idx = Index.open(index_dir)
    result = idx.find(pattern, title=title, author=author, dynasty=dynasty, collection=collection,
                      form=one_form(form, rhythmic), k=k, offset=offset, sort=sort, poems=poems, tones=tones,
                      rhyme=rhyme, rhymes_with=rhymes_with)
    _warn_unranked(idx, sort, result.hits)
    if as_json:
        click.echo(dump({"pattern": pattern, "title": title, "author": author, "tones": tones, "rhyme": rhyme,
                         "rhymes_with": rhymes_with, **result.to_dict()}))
        return
    by_prosody = any(x is not None for x in (tones, rhyme, rhymes_with))
    asked = " ".join([pattern or title or author or ""] + [f"{name} {v}" for name, v in
                     (("--tones", tones), ("--rhyme", rhyme), ("--rhymes-with", rhymes_with)) if v is not None]).strip()
    click.echo(find_text(asked, None, None, result, grouped=(pattern is None and not by_prosody) or poems,
                         prosody=by_prosody))


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

    if not poem_id.strip():
        raise UsageProblem("the poem id is empty: pass the poem_id of a hit (query --json, find --json)")
    p = Index.open(index_dir).poem(text_arg(poem_id, "the poem id"))
    click.echo(dump(p) if as_json else poem_text(p))


@click.command()
@click.argument("texts", nargs=-1, required=True)
@click.option("--index", "index_dir", default=None, type=click.Path(),
              help="Use this index's model (default: index/ if it exists, else --model).")
@click.option("--model", default=None, help="Use this model directly (Hugging Face id, folder, modelscope:ID).")
@encoding_option
@click.option("--json", "as_json", is_flag=True, help='Print {"texts": [...], "matrix": [[...]]}.')
def similarity(texts, index_dir, model, encoding, as_json):
    """Print the cosine similarity matrix of TEXTS.

    The method is the project's one: mean of the last hidden state over all tokens ([CLS] and
    [SEP] included), L2-normalised, after the same normalisation as the corpus.

    \b
    Examples:
        poetry-search similarity 春眠不觉晓 大梦谁先觉 浓睡不消残酒 东临碣石以观沧海
        poetry-search similarity 白日依山尽 黄河入海流 --model ./models/bert-base-chinese --json
    """
    from ..search.index import similarity as cosine_matrix

    texts = [text_arg(t, f"text {i + 1}", encoding) for i, t in enumerate(texts)]
    matrix = cosine_matrix(texts, index=index_dir, model=model)
    click.echo(similarity_json(texts, matrix) if as_json else similarity_table(texts, matrix))
