"""The command line: parse, call one library function, format. Nothing else.

The commands live by group in this package (search, build, bulk, info, serve, evaluate), their
output in ``format``; this module holds the group and the one boundary every command runs inside.
Errors raised as the project's own exceptions are turned into one line here: usage mistakes exit
2, failures exit 1, never a traceback. Diagnostics and progress go to stderr, results to stdout.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import logging
import os
import sys

import click

from ..errors import PoetrySearchError, UsageProblem
from . import build, bulk, evaluate, info, prosody, reader, search, serve

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


def handle_errors(fn, name: str | None = None):
    """Translate our exceptions into click's, once, at the boundary. ``name`` is the command's (for
    what to say on Ctrl-C); by default the function's."""
    name = name or fn.__name__

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
            click.echo(_INTERRUPTED.get(name, "interrupted"), err=True)
            sys.exit(130)
        except BrokenPipeError:
            sys.stderr.close()
            sys.exit(0)
        except click.exceptions.ClickException:
            raise
        except Exception as e:  # the last line of defence against tracebacks
            if os.environ.get("POETRY_SEARCH_DEBUG"):
                raise
            raise click.ClickException(
                f"unexpected error: {type(e).__name__}: {e} (set POETRY_SEARCH_DEBUG=1 to see the traceback, and please report it)"
            ) from None

    return wrapper


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


def _guarded(command: click.Command) -> click.Command:
    """A copy of ``command`` that runs inside the boundary. A copy, not the command itself, so that
    loading this module twice (``python -m poetry_search`` imports it as ``cli.__init__`` too) never
    wraps a command twice."""
    guarded = copy.copy(command)
    guarded.callback = handle_errors(command.callback, command.name)
    return guarded


for _command in (build.corpus, build.index, search.query, search.find, search.poem, search.similarity,
                 info.info, bulk.export, serve.serve, evaluate.eval_command, reader.poet, prosody.rhyme,
                 prosody.check):
    cli.add_command(_guarded(_command))
