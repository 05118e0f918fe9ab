"""The project's exceptions. The CLI turns each into a one-line message and an exit code."""

from __future__ import annotations


class PoetrySearchError(Exception):
    """Base class: a failure the user can fix; the message says how."""


class UsageProblem(PoetrySearchError):
    """The caller asked for something that makes no sense (empty query, k < 1, unknown format)."""


class CorpusError(PoetrySearchError):
    """The corpus folder or one of its files cannot be read."""


class ModelNotFoundError(PoetrySearchError):
    """The requested model cannot be loaded from anywhere we are allowed to look."""


class ModelMismatchError(PoetrySearchError):
    """A model other than the index's own was asked for, or its files changed."""


class IndexNotFoundError(PoetrySearchError):
    """There is no index at the given path."""


class IndexDamagedError(PoetrySearchError):
    """The index exists but its files are missing, corrupt or disagree with each other."""


class IndexChangedError(PoetrySearchError):
    """The index on disk was replaced (a rebuild swapped in) while it was open."""


class PoemNotFoundError(PoetrySearchError):
    """No poem has the requested id."""


class BuildError(PoetrySearchError):
    """A build failed; the previous index, if any, is untouched."""


class MissingDependencyError(PoetrySearchError):
    """An optional package needed for this operation is not installed."""


def require(module: str):
    """Import a heavy or optional module, or raise an error that says what to install."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise MissingDependencyError(f"{module} is not installed ({e}): pip install {module.split('.')[0]}") from None


class VectorsMissingError(PoetrySearchError):
    """A search by meaning was asked of an index built with --lexical-only."""
