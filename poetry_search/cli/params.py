"""Options and arguments that several command groups share, read the same way everywhere."""

from __future__ import annotations

import click

from ..errors import UsageProblem
from ..options import DEFAULT_INDEX


def index_option(fn):
    """--index: the index folder a command reads."""
    return click.option("--index", "index_dir", default=DEFAULT_INDEX, show_default=True, type=click.Path(),
                        help="Index folder built by `poetry-search index`.")(fn)


def depth_options(fn):
    """--ef and --nprobe: how deep an approximate index searches."""
    fn = click.option("--nprobe", type=int, default=None, help="IVF indexes: lists to visit (more = better recall, slower).")(fn)
    fn = click.option("--ef", type=int, default=None, help="HNSW indexes: search depth (more = better recall, slower).")(fn)
    return fn


def form_options(fn):
    """--form and --rhythmic: one filter under two names (a ci-pai is a form)."""
    fn = click.option("--rhythmic", default=None,
                      help="Only ci to this tune (ci-pai: 浣溪沙, 满江红…); the same filter as --form.")(fn)
    fn = click.option("--form", default=None,
                      help="Only poems of this form where the corpus gives one: 五言绝句, 七言律诗…, or a ci-pai.")(fn)
    return fn


def one_form(form: str | None, rhythmic: str | None) -> str | None:
    """The form filter that --form and --rhythmic give together."""
    if form and rhythmic and form != rhythmic:
        raise UsageProblem("pass --form or --rhythmic, not both (a ci-pai is a form)")
    return form or rhythmic


def encoding_option(fn):
    """--encoding: how TEXT arguments, stdin and query files are encoded."""
    return click.option("--encoding", default="utf-8", show_default=True,
                        help="Encoding of the arguments, stdin and query files (gb18030 for GBK files, big5…).")(fn)


def text_arg(value: str, what: str, encoding: str = "utf-8") -> str:
    """A TEXT argument as text: argv's undecodable bytes decoded with ``encoding`` (or refused,
    naming the byte and the fix), a lone surrogate refused."""
    from ..corpus.textin import read_text

    return read_text(value, what=what, encoding=encoding)
