"""The open index of a running server, and how a rebuild swapped in under it is picked up.

A rebuild (``poetry-search index``) exchanges the index folder atomically. The server notices the
new database file (a ``stat`` at most every ``check_interval`` seconds), opens the new index in a
background thread while the old one keeps answering, then switches: requests already running
finish on the old index (its files stay readable through their open handles), new ones go to the
new index. A request that needs a database connection the old index can no longer open (a thread
new since the swap) waits for the new index and runs there instead. No request fails.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from ..errors import IndexChangedError, IndexNotFoundError, PoetrySearchError
from ..store.db import DB_NAME

log = logging.getLogger("poetry_search")
T = TypeVar("T")


class IndexHolder:
    """Holds the current ``Index`` of a folder; ``run(fn)`` calls ``fn(index)`` on it."""

    def __init__(self, path: str | Path, check_interval: float = 1.0, warm: bool = True,
                 opener: Callable[[Path], object] | None = None):
        self.path = Path(path)
        self.check_interval = check_interval
        self.warm = warm
        self._opener = opener
        self._current = None
        self._error: PoetrySearchError | None = None
        self._last_check = 0.0
        self._lock = threading.Lock()
        self._reloading: threading.Thread | None = None
        self._loaded = threading.Condition(self._lock)
        self.generation = 0

    # -- loading -------------------------------------------------------------------------------

    def _open(self):
        if self._opener is not None:
            return self._opener(self.path)
        from ..search.index import Index

        return Index.open(self.path)

    def load(self) -> None:
        """Open the index now (in this thread); errors are kept and answered as 503s."""
        self._swap_in(self._load_new(self._current))

    def _load_new(self, old):
        try:
            new = self._open()
        except PoetrySearchError as e:
            return e
        if old is not None and hasattr(new, "adopt_encoder"):
            new.adopt_encoder(old)
        if self.warm and hasattr(new, "warm"):
            try:
                new.warm()  # the model and the near-match index, before the first request needs them
            except PoetrySearchError as e:
                return e
        return new

    def _swap_in(self, result) -> None:
        with self._lock:
            if isinstance(result, PoetrySearchError):
                # A half-written or missing index: keep serving the old one if there is one.
                if self._current is None:
                    self._error = result
                log.warning(f"cannot open the index at {self.path}: {result}")
            else:
                self._current, self._error = result, None
                self.generation += 1
                log.info(f"serving the index at {self.path} (generation {self.generation})")
            self._reloading = None
            self._last_check = time.monotonic()
            self._loaded.notify_all()

    def _changed(self) -> bool:
        cur = self._current
        if cur is None:
            return (self.path / DB_NAME).exists()
        return cur.store.changed_on_disk() and (self.path / DB_NAME).exists()

    def _check(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_check < self.check_interval:
            return
        with self._lock:
            if self._reloading is not None:
                return
            self._last_check = now
            if not self._changed():
                return
            old = self._current
            t = threading.Thread(target=lambda: self._swap_in(self._load_new(old)), name="poetry-search-reload",
                                 daemon=True)
            self._reloading = t
        t.start()

    def _wait_for_new(self, old, timeout: float = 120.0):
        """Block until an index other than ``old`` is current (a reload after a swap)."""
        deadline = time.monotonic() + timeout
        self._check(force=True)
        with self._lock:
            while self._current is old and time.monotonic() < deadline:
                if self._reloading is None:
                    break
                self._loaded.wait(timeout=0.5)
            return self._current

    # -- serving -------------------------------------------------------------------------------

    def get(self):
        """The current index, or IndexNotFoundError (the server answers 503) while there is none."""
        self._check()
        cur = self._current
        if cur is None:
            err = self._error
            later = "; the server picks it up as soon as it is there"
            if err is None or isinstance(err, IndexNotFoundError):
                raise IndexNotFoundError(f"no index at {self.path} yet: build one with "
                                         f"`poetry-search index --index {self.path}`{later}")
            raise IndexNotFoundError(f"the index at {self.path} cannot be opened ({err}){later}")
        return cur

    def run(self, fn: Callable[[object], T]) -> T:
        """``fn(index)`` on the current index; once more on the new one if a rebuild swapped in meanwhile."""
        idx = self.get()
        try:
            return fn(idx)
        except IndexChangedError:
            new = self._wait_for_new(idx)
            if new is None or new is idx:
                raise
            return fn(new)
