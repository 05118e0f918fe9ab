"""The project's exceptions. The CLI turns each into a one-line message and an exit code."""

from __future__ import annotations


class PoetrySearchError(Exception):
    """Base class: a failure the user can fix; the message says how.

    ``code`` is a stable name for the kind of failure (``text_too_long``, ``unknown_dynasty``,
    ``index_damaged`` …): the HTTP API puts it in every error body, so clients (the page among
    them) can show their own words. ``docs/http-api.md`` lists them."""

    code = "error"

    def __init__(self, message: str = "", code: str | None = None):
        super().__init__(message)
        if code:
            self.code = code


class UsageProblem(PoetrySearchError):
    """The caller asked for something that makes no sense (empty query, k < 1, unknown format)."""

    code = "bad_request"


class CorpusError(PoetrySearchError):
    """The corpus folder or one of its files cannot be read."""

    code = "corpus_unreadable"


class ModelNotFoundError(PoetrySearchError):
    """The requested model cannot be loaded from anywhere we are allowed to look."""

    code = "model_not_found"


class ModelMismatchError(PoetrySearchError):
    """A model other than the index's own was asked for, or its files changed."""

    code = "model_mismatch"


class IndexNotFoundError(PoetrySearchError):
    """There is no index at the given path."""

    code = "index_not_found"


class IndexDamagedError(PoetrySearchError):
    """The index exists but its files are missing, corrupt or disagree with each other."""

    code = "index_damaged"


class IndexChangedError(PoetrySearchError):
    """The index on disk was replaced (a rebuild swapped in) while it was open."""

    code = "index_changed"


class PoemNotFoundError(PoetrySearchError):
    """No poem has the requested id."""

    code = "poem_not_found"


class BuildError(PoetrySearchError):
    """A build failed; the previous index, if any, is untouched."""

    code = "build_failed"


class MissingDependencyError(PoetrySearchError):
    """An optional package needed for this operation is not installed."""

    code = "missing_dependency"


def require(module: str):
    """Import a heavy or optional module, or raise an error that says what to install."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise MissingDependencyError(f"{module} is not installed ({e}): pip install {module.split('.')[0]}") from None


class VectorsMissingError(PoetrySearchError):
    """A search by meaning was asked of an index built with --lexical-only."""

    code = "no_vectors"
