"""Concurrent searches with the same arguments share one encoder pass.

Encoding the query is most of a search (bert-base: ~24 of 27 ms) and the encoder takes one call at
a time, so under load requests queue for it one by one. Here, whichever request finds the encoder
free runs ``Index.search_batch`` for every waiting request with the same arguments (up to
``max_batch``): one forward pass over many short lines costs little more than over one. Nothing
waits on purpose: a request alone is served at once, and batches form only while the encoder is
busy. ``search_batch`` is the library's own call, so each request gets the hits ``search`` gives.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future

from ..options import MAX_BATCH


class SearchBatcher:
    """``search(text, args)`` from many threads; ``run_batch(texts, args)`` is the library call
    (``Index.search_batch`` on the current index) that returns one list of hits per text."""

    def __init__(self, run_batch: Callable[[list[str], dict], list], max_batch: int = MAX_BATCH):
        self._run = run_batch
        self.max_batch = max_batch
        self._cond = threading.Condition()
        self._pending: list[tuple[tuple, str, Future]] = []
        self._busy = False
        self.batches = 0
        self.searches = 0

    def search(self, text: str, args: dict):
        """The hits of ``index.search(text, **args)``, computed in a batch with other waiting requests."""
        key = tuple(sorted(args.items()))
        mine: Future = Future()
        with self._cond:
            self._pending.append((key, text, mine))
        while True:
            with self._cond:
                while not mine.done() and self._busy:
                    self._cond.wait()
                if mine.done():
                    return mine.result()
                self._busy = True
                # oldest first: the first waiting request's arguments, and all others waiting with them
                first = self._pending[0][0]
                batch = [p for p in self._pending if p[0] == first][:self.max_batch]
                taken = {id(p[2]) for p in batch}
                self._pending = [p for p in self._pending if id(p[2]) not in taken]
            try:
                self._run_batch(first, batch)
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()

    def _run_batch(self, key: tuple, batch: list) -> None:
        texts = [t for _, t, _ in batch]
        try:
            results = self._run(texts, dict(key))
        except BaseException as e:  # noqa: BLE001 - every request of the batch gets the error
            for _, _, f in batch:
                f.set_exception(e)
            return
        for (_, _, f), hits in zip(batch, results):
            f.set_result(hits)
        self.batches += 1
        self.searches += len(batch)
