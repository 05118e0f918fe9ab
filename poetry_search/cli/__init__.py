"""The command line: parse, call one library function, format. Nothing else.

Errors raised as the project's own exceptions are turned into one line here: usage mistakes exit
2, failures exit 1, never a traceback. Diagnostics and progress go to stderr, results to stdout.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import sys
import unicodedata

import click

from ..errors import PoetrySearchError, UsageProblem
from ..options import (
    BLOCKED_MIN,
    DEFAULT_CORPUS,
    DEFAULT_HOST,
    DEFAULT_INDEX,
    DEFAULT_MODEL,
    DEFAULT_PORT,
    DEVICES,
    ENCODE_BATCH_SIZE,
    EVAL_TASKS,
    EXCLUDES,
    FIND_SORTS,
    FORMATS,
    LINES_PER_PASS,
    MAX_BATCH,
    METHODS,
    MODES,
    NEIGHBOURS_BATCH_SIZE,
    PRECISIONS,
    SORTS,
    TOKENS_PER_LINE,
)

# What the wrapper says on Ctrl-C, by command: only a build and an export have a target to protect.
_INTERRUPTED = {
    "index": "interrupted: the index at the target was left as it was",
    "export": "interrupted: nothing was written at --out",
}
# Libraries' own chatter (weight-loading bars, hub notices) is not ours to show.
_QUIET_ENV = {"TRANSFORMERS_VERBOSITY": "error", "TOKENIZERS_PARALLELISM": "true", "HF_HUB_DISABLE_PROGRESS_BARS": "1"}


class _StderrHandler(logging.Handler):
    def emit(self, record):
        prefix = "warning: " if record.levelno >= logging.WARNING else ""
        click.echo(prefix + record.getMessage(), err=True)


@contextlib.contextmanager
def _command_process(quiet: bool = False):
    """For the length of one command: our log lines on stderr, the libraries' chatter off. Both are
    put back afterwards, so a program that runs commands in-process (tests, notebooks) keeps its own
    logging and environment."""
    log = logging.getLogger("poetry_search")
    handler = _StderrHandler()
    saved_log = (log.level, log.propagate)
    saved_env = {k: os.environ.get(k) for k in _QUIET_ENV}
    log.addHandler(handler)
    log.setLevel(logging.WARNING if quiet else logging.INFO)
    log.propagate = False
    for k, v in _QUIET_ENV.items():
        os.environ.setdefault(k, v)
    try:
        yield
    finally:
        log.removeHandler(handler)
        log.setLevel(saved_log[0])
        log.propagate = saved_log[1]
        for k, v in saved_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def handle_errors(fn):
    """Translate our exceptions into click's, once, at the boundary."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            with _command_process(kwargs.get("quiet", False)):
                return fn(*args, **kwargs)
        except UsageProblem as e:
            raise click.UsageError(str(e)) from None
        except PoetrySearchError as e:
            raise click.ClickException(str(e)) from None
        except KeyboardInterrupt:
            click.echo(_INTERRUPTED.get(fn.__name__, "interrupted"), err=True)
            sys.exit(130)
        except BrokenPipeError:
            sys.stderr.close()
            sys.exit(0)
        except click.exceptions.ClickException:
            raise
        except Exception as e:  # noqa: BLE001 - the last line of defence against tracebacks
            if os.environ.get("POETRY_SEARCH_DEBUG"):
                raise
            raise click.ClickException(
                f"unexpected error: {type(e).__name__}: {e} (set POETRY_SEARCH_DEBUG=1 to see the traceback, and please report it)"
            ) from None

    return wrapper


def _width(s: str) -> int:
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in s)


def _clip(s: str, width: int) -> str:
    out, w = "", 0
    for c in s:
        cw = 2 if unicodedata.east_asian_width(c) in "WF" else 1
        if w + cw > width - 1 and _width(s) > width:
            return out + "…"
        out, w = out + c, w + cw
    return out


def _pad(s: str, width: int) -> str:
    s = _clip(s, width)
    return s + " " * max(0, width - _width(s))


def format_table(headers: list[str], rows: list[list[str]], widths: list[int] | None = None) -> str:
    widths = widths or [max([_width(h)] + [_width(r[i]) for r in rows]) for i, h in enumerate(headers)]
    lines = ["  ".join(_pad(h, w) for h, w in zip(headers, widths)).rstrip(),
             "  ".join("─" * w for w in widths)]
    lines += ["  ".join(_pad(c, w) for c, w in zip(r, widths)).rstrip() for r in rows]
    return "\n".join(lines)


def _dump(obj) -> str:
    return json.dumps(obj, ensure_ascii=False)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="poetry-search")
def cli():
    """Semantic search over classical Chinese poetry.

    Lines are embedded with bert-base-chinese (mean pooling over all tokens, L2-normalised),
    searched by cosine in FAISS, with metadata in SQLite. Simplified queries find traditional lines.

    \b
    Start here:
        make index                      # build the index of the embedded sample
        poetry-search query 大梦谁先觉
        poetry-search query 床前明月光 --author 李白 -k 5
        poetry-search similarity 春眠不觉晓 大梦谁先觉
    """


@cli.command()
@click.argument("directory", default=DEFAULT_CORPUS, required=False, type=click.Path())
@click.option("--strict", is_flag=True, help="Fail on the first file that cannot be read, instead of skipping it.")
@click.option("--json", "as_json", is_flag=True, help="Print the counts as JSON.")
@handle_errors
def corpus(directory, strict, as_json):
    """Count poems, lines and distinct lines per collection of a corpus folder.

    DIRECTORY is laid out like the chinese-poetry package's dist/ (default: data/sample;
    `make corpus` fetches the whole dataset into data/chinese-poetry).

    \b
    Examples:
        poetry-search corpus
        poetry-search corpus data/chinese-poetry --json
    """
    from ..corpus.reader import corpus_stats

    stats = corpus_stats(directory, strict=strict, echo=lambda m: click.echo(m, err=True))
    if as_json:
        click.echo(_dump(stats))
        return
    rows = [[name, f"{s['poems']:,}", f"{s['lines']:,}", f"{s['distinct_lines']:,}"] for name, s in stats["collections"].items()]
    rows.append(["total", f"{stats['poems']:,}", f"{stats['lines']:,}", f"{stats['distinct_lines']:,}"])
    click.echo(format_table(["collection", "poems", "lines", "distinct lines"], rows))
    if stats["skipped"]:
        click.echo(f"{len(stats['skipped'])} file(s) skipped: see the warnings above", err=True)


@cli.command()
@click.option("--corpus", "corpus_dir", default=DEFAULT_CORPUS, show_default=True, type=click.Path(),
              help="Corpus folder (laid out like chinese-poetry's dist/).")
@click.option("--index", "index_dir", default=DEFAULT_INDEX, show_default=True, type=click.Path(),
              help="Where to write the index (replaced atomically when the build completes).")
@click.option("--model", default=DEFAULT_MODEL, show_default=True,
              help="Hugging Face id, local model folder, or modelscope:ID.")
@click.option("--precision", type=click.Choice(PRECISIONS), default="auto", show_default=True,
              help="auto: bf16 where the hardware runs it fast (AMX/AVX512-BF16 CPUs, CUDA), else fp32.")
@click.option("--device", type=click.Choice(DEVICES), default="auto", show_default=True,
              help="auto: CUDA when torch sees a GPU, else CPU.")
@click.option("--batch-size", type=click.IntRange(min=1), default=None,
              help=f"Lines per forward pass for lines of {TOKENS_PER_LINE} tokens; shorter lines go up to {LINES_PER_PASS}x "
                   f"as many at once, longer ones fewer (default: {ENCODE_BATCH_SIZE['cpu']} on CPU, "
                   f"{ENCODE_BATCH_SIZE['cuda']} on CUDA).")
@click.option("--index-type", default="auto", show_default=True,
              help="auto, flat (exact), hnsw, ivf, ivf-hnsw (IVF with an HNSW coarse quantizer), or a FAISS "
                   "index-factory string. auto: flat up to 200k lines, else hnsw.")
@click.option("--ef-construction", type=int, default=None,
              help="HNSW indexes: the graph's build depth (default 256). Higher builds more slowly "
                   "a graph that reaches the same recall at a smaller search depth (faster queries and exports).")
@click.option("--cache", "cache_dir", type=click.Path(), default=None,
              help="Embedding cache folder (default: $POETRY_SEARCH_CACHE or ~/.cache/poetry-search).")
@click.option("--strict", is_flag=True, help="Fail on the first unreadable corpus file.")
@click.option("--no-onnx", is_flag=True,
              help="Do not put the ONNX query encoder in the index (queries then load torch: seconds slower to start).")
@click.option("--export-onnx", is_flag=True,
              help="Only add the ONNX query encoder to the existing index at --index (re-encodes nothing, rebuilds nothing).")
@click.option("--quiet", "-q", is_flag=True, help="No progress bars or notes, only warnings and errors.")
@click.option("--lexical-only", is_flag=True,
              help="Build the lexical index alone (find, poem, lexical queries): no model is loaded, no vectors.")
@handle_errors
def index(corpus_dir, index_dir, model, precision, device, batch_size, index_type, ef_construction, cache_dir, strict,
          quiet, lexical_only, no_onnx, export_onnx):
    """Build the search index of a corpus.

    Every distinct normalised line is encoded once (and cached, so a rebuild or a resumed build
    encodes only what is new), stored in FAISS with its SQLite metadata, and swapped in at INDEX
    only when complete: an interrupted build leaves the old index as it was.

    \b
    Examples:
        poetry-search index                                   # data/sample → index/
        poetry-search index --corpus data/chinese-poetry --index index-full
        poetry-search index --model ./models/bert-base-chinese --precision fp32
        poetry-search index --corpus data/chinese-poetry --index index-full --lexical-only
        poetry-search index --index index-full --export-onnx  # add the fast query encoder
    """
    if export_onnx:
        from ..build.indexer import add_onnx_export

        if no_onnx:
            raise UsageProblem("--export-onnx and --no-onnx contradict each other: pass one")
        add_onnx_export(index_dir, cache_dir=cache_dir)
        return
    from ..build.indexer import build_index

    report = build_index(corpus_dir, index_dir, model, precision=precision, device=device, batch_size=batch_size,
                         index_type=index_type, cache_dir=cache_dir, strict=strict, progress=not quiet,
                         lexical_only=lexical_only, onnx=not no_onnx, ef_construction=ef_construction)
    m = report.manifest
    if lexical_only:
        click.echo(f"indexed {report.texts:,} distinct lines ({report.lines:,} lines, {report.poems:,} poems) into {report.index} "
                   f"in {report.seconds:.1f}s, lexical only: vectors were NOT built. `find`, `poem` and `query --mode lexical` "
                   f"work; for search by meaning rebuild without --lexical-only (with --model).", err=True)
        return
    extra = f", recall@10 {m['recall_at_10']:.3f} at {m['search_depth']}" if "recall_at_10" in m else ""
    click.echo(f"indexed {report.texts:,} distinct lines ({report.lines:,} lines, {report.poems:,} poems) into {report.index} "
               f"in {report.seconds:.1f}s: {report.encoded:,} encoded, {report.from_cache:,} from cache; "
               f"{m['index_type']} index, precision {m['precision']}{extra}", err=True)


def _index_options(fn):
    fn = click.option("--index", "index_dir", default=DEFAULT_INDEX, show_default=True, type=click.Path(),
                      help="Index folder built by `poetry-search index`.")(fn)
    return fn


def _depth_options(fn):
    fn = click.option("--nprobe", type=int, default=None, help="IVF indexes: lists to visit (more = better recall, slower).")(fn)
    fn = click.option("--ef", type=int, default=None, help="HNSW indexes: search depth (more = better recall, slower).")(fn)
    return fn


def _form_options(fn):
    fn = click.option("--rhythmic", default=None,
                      help="Only ci to this tune (ci-pai: 浣溪沙, 满江红…); the same filter as --form.")(fn)
    fn = click.option("--form", default=None,
                      help="Only poems of this form where the corpus gives one: 五言绝句, 七言律诗…, or a ci-pai.")(fn)
    return fn


def _read_stdin_queries() -> list[str]:
    lines = [line.strip() for line in sys.stdin.read().splitlines()]
    return [line for line in lines if line]


@cli.command()
@click.argument("text", nargs=-1, required=True)
@_index_options
@click.option("-k", "k", type=int, default=10, show_default=True, help="How many lines to return per query.")
@click.option("--author", help="Only lines by this author (either script: 王之涣 finds 王之渙).")
@click.option("--dynasty", help="Only lines of this dynasty: 唐, 宋, 元, 先秦… (or tang, song…).")
@click.option("--collection", help="Only lines of this collection or book: songci, 唐诗三百首, 诗经…")
@_form_options
@click.option("--model", default=None, help="Refuse to run unless the index was built with this model.")
@click.option("--mode", type=click.Choice(MODES), default="hybrid", show_default=True,
              help="hybrid: lines containing TEXT verbatim first (exact, then contains), then nearest lines by meaning; "
                   "semantic: by meaning only; lexical: containing lines only.")
@click.option("--sort", type=click.Choice(SORTS), default="score", show_default=True,
              help="score: the mode's order; popularity: the same hits, famous poems first.")
@click.option("--poems", is_flag=True, help="Group hits by poem: -k poems, each with its matching lines.")
@_depth_options
@click.option("--json", "as_json", is_flag=True, help="One JSON object per query (Chinese kept as is).")
@handle_errors
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
        texts += _read_stdin_queries()
    if not texts:
        raise UsageProblem("no query given: pass a line of poetry, e.g. poetry-search query 大梦谁先觉")
    idx = Index.open(index_dir, ef=ef, nprobe=nprobe)
    idx.check_model(model)
    results = idx.search_batch(texts, k=k, author=author, dynasty=dynasty, collection=collection,
                               form=_one_form(form, rhythmic), mode=mode, sort=sort, poems=poems)
    for q, hits in zip(texts, results):
        if as_json:
            click.echo(_dump({"query": q, "mode": mode, "hits": [h.to_dict() for h in hits]}))
            continue
        click.echo(f"{q}")
        if not hits:
            click.echo("  (no hits)\n")
            continue
        _print_hits(hits, poems)
        click.echo("")


def _one_form(form, rhythmic):
    if form and rhythmic and form != rhythmic:
        raise UsageProblem("pass --form or --rhythmic, not both (a ci-pai is a form)")
    return form or rhythmic


def _score(s) -> str:
    return "—" if s is None else f"{s:.4f}"


def _line_rows(hits) -> list[list[str]]:
    return [[str(h.rank), _score(h.score), h.match, h.original, h.title, h.author or "—", h.dynasty, h.book] for h in hits]


def _print_hits(hits, poems: bool) -> None:
    """The table of line hits, or of poems with their matching lines under each."""
    if poems:
        rows = [[str(p.rank), _score(p.score), p.title, p.author or "—", p.dynasty, p.form or "", p.poem_id] for p in hits]
        table = format_table(["#", "score", "title", "author", "dynasty", "form", "poem id"], rows)
        head, rule, *body = table.splitlines()
        click.echo(head + "\n" + rule)
        for line, p in zip(body, hits):
            click.echo(line)
            for h in p.lines:
                click.echo(f"   ↳ [{h.match}] {_clip(h.context or h.original, 72)}")
            if not p.lines and p.first_line:
                click.echo(f"   ↳ {_clip(p.first_line, 72)}")
        return
    table = format_table(["#", "score", "match", "line", "title", "author", "dynasty", "book"], _line_rows(hits))
    head, rule, *body = table.splitlines()
    click.echo(head + "\n" + rule)
    for line, h in zip(body, hits):
        click.echo(line)
        click.echo(f"   ↳ {_clip(h.context, 72)}" + (f"   (in {h.occurrences} poems)" if h.occurrences > 1 else ""))


@cli.command()
@click.argument("pattern", required=False)
@_index_options
@click.option("--title", default=None, help="Only poems whose title contains this (? and * work too); alone, lists them.")
@click.option("--author", help="Only poems by this author (either script); alone, lists their poems.")
@click.option("--dynasty", help="Only lines of this dynasty: 唐, 宋, 元, 先秦… (or tang, song…).")
@click.option("--collection", help="Only lines of this collection or book: songci, 唐诗三百首, 诗经…")
@_form_options
@click.option("-k", "k", type=int, default=10, show_default=True, help="How many hits to show.")
@click.option("--offset", type=int, default=0, show_default=True, help="Skip this many hits first (to page with -k).")
@click.option("--sort", type=click.Choice(FIND_SORTS), default="default", show_default=True,
              help="default: the line equal to PATTERN first, then famous poems, then corpus order; popularity: famous first.")
@click.option("--poems", is_flag=True, help="Group by poem: one entry per poem with its matching lines.")
@click.option("--json", "as_json", is_flag=True, help='Print {"pattern", "total", "offset", "k", "hits": [...]}.')
@handle_errors
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
                      form=_one_form(form, rhythmic), k=k, offset=offset, sort=sort, poems=poems)
    listing = pattern is None
    if as_json:
        click.echo(_dump({"pattern": pattern, "title": title, "author": author, **result.to_dict()}))
        return
    what = "poems" if (listing or poems) else "lines"
    shown = f"{result.offset + 1}-{result.offset + len(result.hits)}" if result.hits else "none"
    click.echo(f"{pattern or title or author}: {result.total:,} {what} (showing {shown})")
    if result.hits:
        _print_hits(result.hits, listing or poems)


@cli.command()
@click.argument("poem_id")
@_index_options
@click.option("--json", "as_json", is_flag=True, help="Print the poem as JSON (title, author, paragraphs, lines…).")
@handle_errors
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
    if as_json:
        click.echo(_dump(p))
        return
    head = f"{p['title']}  {p['author'] or '佚名'}（{p['dynasty'] or '?'}）"
    click.echo(head)
    extra = [x for x in (p.get("form"), p.get("book")) if x]
    if extra:
        click.echo(" · ".join(extra))
    click.echo("")
    for para in p["paragraphs"]:
        click.echo(para)
    click.echo("")
    pop = f", popularity {p['popularity']:.2f}" if p.get("popularity") is not None else ""
    click.echo(f"source: {p['source']} #{p['position']} (id {p['id']}{pop})", err=False)


@cli.command()
@click.argument("texts", nargs=-1, required=True)
@click.option("--index", "index_dir", default=None, type=click.Path(),
              help="Use this index's model (default: index/ if it exists, else --model).")
@click.option("--model", default=None, help="Use this model directly (Hugging Face id, folder, modelscope:ID).")
@click.option("--json", "as_json", is_flag=True, help='Print {"texts": [...], "matrix": [[...]]}.')
@handle_errors
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
    if as_json:
        click.echo(_dump({"texts": list(texts), "matrix": [[round(float(x), 4) for x in row] for row in matrix]}))
        return
    rows = [[t] + [f"{x:.2f}" for x in row] for t, row in zip(texts, matrix)]
    click.echo(format_table([""] + [str(i + 1) for i in range(len(texts))], [[f"{i + 1} {r[0]}"] + r[1:] for i, r in enumerate(rows)]))


@cli.command()
@_index_options
@click.option("--json", "as_json", is_flag=True, help="Print the manifest and counts as JSON.")
@handle_errors
def info(index_dir, as_json):
    """Show how an index was made: model, pooling, precision, corpus, counts, index type, recall.

    \b
    Examples:
        poetry-search info
        poetry-search info --index index-full --json
    """
    from ..search.index import Index

    data = Index.open(index_dir).info()
    if as_json:
        click.echo(_dump(data))
        return
    c = data["counts"]
    if data.get("lexical_only"):
        rows = [("index", data["index"]), ("database", data["database"]),
                ("model", "none: built with --lexical-only (find, poem, query --mode lexical)"),
                ("corpus", f"{data.get('corpus')} (fingerprint {data.get('corpus_fingerprint')})"),
                ("counts", f"{c['poems']:,} poems, {c['lines']:,} lines, {c['texts']:,} distinct lines"),
                ("built", f"{data.get('created_at')} by poetry-search {data.get('poetry_search_version')} in {data.get('build_seconds')}s")]
        width = max(_width(k) for k, _ in rows)
        for key, value in rows:
            click.echo(f"{_pad(key, width)}  {value}")
        return
    rows = [
        ("index", data["index"]), ("database", data["database"]), ("vectors", data["vectors"]),
        ("model", f"{data['model']} ({data.get('model_source')}, fingerprint {data.get('model_fingerprint')})"),
        ("pooling", data.get("pooling", "")), ("dimension", str(data.get("dimension"))),
        ("precision", f"{data.get('precision')} on {data.get('device')}"),
        ("max sequence length", str(data.get("max_seq_length"))),
        ("corpus", f"{data.get('corpus')} (fingerprint {data.get('corpus_fingerprint')})"),
        ("collections", ", ".join(data.get("collections", []))),
        ("counts", f"{c['poems']:,} poems, {c['lines']:,} lines, {c['texts']:,} distinct lines, {c.get('authors', 0):,} authors"),
        ("index type", f"{data.get('index_type')} ({data.get('faiss_factory')})"),
        ("query encoder", f"ONNX Runtime ({data['onnx']['file']}, min cosine to torch {data['onnx']['checked']['min_cosine']})"
         if data.get("onnx") else f"torch (add the faster one: poetry-search index --index {data['index']} --export-onnx)"),
    ]
    if "recall_at_10" in data:
        rows.append(("recall@10", f"{data['recall_at_10']:.4f} measured on {data.get('recall_sample')} corpus lines at {data.get('search_depth')}"))
    rows += [("built", f"{data.get('created_at')} by poetry-search {data.get('poetry_search_version')} in {data.get('build_seconds')}s")]
    width = max(_width(k) for k, _ in rows)
    for key, value in rows:
        click.echo(f"{_pad(key, width)}  {value}")


@cli.command()
@_index_options
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
@_depth_options
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@handle_errors
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
    from tqdm import tqdm

    from ..search.export import check_out, export_neighbours, read_queries
    from ..search.index import Index
    from ..search.neighbours import check_options

    check_out(out)  # the library checks again; here, before the queries and the index are read
    check_options(k, exclude, min_score, batch_size, method, bool(queries))
    query_texts = read_queries(queries) if queries else None
    idx = Index.open(index_dir, ef=ef, nprobe=nprobe)
    total = len(query_texts) if query_texts is not None else len(idx)
    bars: dict = {}  # one bar a stage: the blocked method's plan stages, then the writing

    def bar_for(desc, total, unit="line"):
        if desc not in bars:
            for b in bars.values():
                b.close()
            bars[desc] = tqdm(total=total, unit=unit, unit_scale=True, desc=desc, file=sys.stderr, disable=quiet,
                              dynamic_ncols=True, mininterval=0.5)
        return bars[desc]

    rows_done = [0]

    def progress(nq, nrows):
        rows_done[0] += nrows
        bar = bar_for("exporting", total, "query")
        bar.set_postfix_str(f"{rows_done[0]:,} rows", refresh=False)  # before update(), which may redraw
        bar.update(nq)

    def stage_progress(stage, done, stage_total):
        bar_for(stage, stage_total, "line" if stage_total > 1 else "step").update(done)

    def say(message):
        if not quiet:
            tqdm.write(message, file=sys.stderr)

    result = export_neighbours(idx, out, k=k, exclude=exclude, min_score=min_score, queries=query_texts,
                               batch_size=batch_size, with_meta=with_meta, progress=progress, method=method,
                               say=say, stage_progress=stage_progress)
    for b in bars.values():
        b.close()
    click.echo(f"wrote {result['rows']:,} rows for {result['queries']:,} queries to {result['out']} ({result['format']})", err=True)
    q = result["quality"]
    if q and q["recall_sample"]:
        how = q["method"] + (f", probe {q['probe']} of {q['clusters']:,} clusters" if q.get("probe") else "")
        click.echo(f"recall@{q['k']} against exact search on {q['recall_sample']} of these queries: "
                   f"{q['recall_at_k']:.4f} ({how}; the check took {q['check_seconds']:.0f} s)", err=True)
    elif q:
        click.echo(f"every neighbour is exact ({q['method']})", err=True)


@cli.command()
@_index_options
@click.option("--host", default=DEFAULT_HOST, show_default=True,
              help="Address to listen on. Only this machine by default; another address (0.0.0.0) opens the server to the network.")
@click.option("--port", type=int, default=DEFAULT_PORT, show_default=True, help="Port to listen on (0 picks a free one).")
@click.option("--max-batch", type=int, default=MAX_BATCH, show_default=True,
              help="Concurrent searches with the same arguments share one encoder pass, up to this many (1: no batching).")
@handle_errors
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


@cli.command("eval")
@_index_options
@click.option("--task", "tasks", multiple=True, type=click.Choice(EVAL_TASKS),
              help="A task to run (repeat for several). Default: couplets, variants, ann; --ccpm adds ccpm.")
@click.option("--sample", type=int, default=1000, show_default=True,
              help="Queries drawn per task (all of them when a task has fewer).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the samples: the same seed gives the same figures.")
@click.option("--ccpm", "ccpm_file", type=click.Path(), default=None,
              help="A CCPM JSON-lines file (translation, choices, answer), e.g. CCPM's valid.jsonl: runs the ccpm task on it.")
@_depth_options
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON (rows and per-task metrics).")
@click.option("--quiet", "-q", is_flag=True, help="No progress bars.")
@handle_errors
def eval_command(index_dir, tasks, sample, seed, ccpm_file, ef, nprobe, as_json, quiet):
    """Measure retrieval quality of an index, with tasks built from its corpus.

    Each task runs the index's model and a lexical baseline (BM25 over characters) on the
    same sampled queries and candidates. couplets: find the second line of a couplet of
    regulated verse from its first, among all lines (recall@1/10/100, MRR). variants: find a
    line from the variant reading its editors give, （一作…） in 全唐诗/全宋诗 (recall@1/10, MRR).
    ccpm: CCPM's multiple choice, the choice closest to a modern translation (accuracy).
    ann: recall@10 of the index against exact search.

    \b
    Examples:
        poetry-search eval
        poetry-search eval --index index-full --task couplets --sample 500 --seed 1
        poetry-search eval --ccpm CCPM/valid.jsonl --task ccpm --json
    """
    from ..evaluate.tasks import evaluate
    from ..search.index import Index

    if sample < 1:
        raise UsageProblem("--sample must be at least 1")
    tasks = list(tasks) or ["couplets", "variants", "ann"]
    if ccpm_file and "ccpm" not in tasks:
        tasks.append("ccpm")
    idx = Index.open(index_dir, ef=ef, nprobe=nprobe)
    report = evaluate(idx, tasks=tasks, sample=sample, seed=seed, ccpm=ccpm_file, progress=not quiet)
    if as_json:
        click.echo(_dump(report.to_dict()))
        return
    click.echo(f"index {report.index}: model {report.model}, {report.index_type}, {report.texts:,} lines; "
               f"seed {report.seed}, up to {report.sample:,} queries a task")

    def fmt(v):
        return "—" if v is None else f"{v:.4f}"

    rows = [[r["task"], r["metric"], fmt(r["model"]), fmt(r["baseline"]), f"{r['n']:,}"] for r in report.rows()]
    click.echo(format_table(["task", "metric", "model", "baseline (BM25)", "N"], rows))
    for t in report.tasks:
        click.echo(f"{t.task}: {t.n:,} queries of {t.available:,} available, {t.seconds}s" + (f"; {t.note}" if t.note else ""))

