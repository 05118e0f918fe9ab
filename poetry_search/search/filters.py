"""The filters of a search (author, dynasty, collection, form), folded and checked once.

    filters = Filters.fold(store, author="王之涣", dynasty="tang")
    store.text_ids(**filters.store_args())
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass

import numpy as np

from ..corpus.dynasties import fold_dynasty
from ..corpus.normalize import fold
from ..errors import IndexDamagedError, UsageProblem

log = logging.getLogger("poetry_search")


@dataclass(frozen=True)
class Filters:
    """Folded filter values as the store holds them (simplified script, a dynasty's one name);
    None where a filter is not set."""

    author: str | None = None
    dynasty: str | None = None
    collection: str | None = None
    form: str | None = None

    @classmethod
    def fold(cls, store, author: str | None = None, dynasty: str | None = None, collection: str | None = None,
             form: str | None = None) -> "Filters":
        """Fold each value the way the store holds it; an unknown form is a usage mistake."""
        return cls(author=fold(author) or None, dynasty=fold_dynasty(dynasty), collection=fold(collection) or None,
                   form=_fold_form(store, form))

    def __bool__(self) -> bool:
        return any(self.store_args().values())

    def store_args(self) -> dict:
        """The keyword arguments of the store's filtered queries."""
        return asdict(self)

    def allowed_ids(self, store) -> np.ndarray | None:
        """The sorted text ids with an occurrence that passes every filter; None when unfiltered."""
        if not self:
            return None
        return np.array(sorted(store.text_ids(**self.store_args())), dtype=np.int64)

    def warn_no_match(self, **given: str | None) -> None:
        """A filtered search that no line passes: say which filters (as the user wrote them)."""
        what = ", ".join(f"{n} {v}" for n, v in given.items() if v)
        log.warning(f"no lines match {what}: check the spelling (poetry-search info lists collections)")


def _fold_form(store, form: str | None) -> str | None:
    if not form:
        return None
    f = fold(form)
    if not store.has_lexicon:
        raise IndexDamagedError(f"the index at {store.path.parent} was built before --form existed: rebuild it with `poetry-search index`")
    if not store.form_exists(f):
        known = "、".join(store.common_forms(8))
        raise UsageProblem(f"unknown --form {form!r}: the forms this index knows include {known or '(none)'}; "
                           "pass one of them (ci-pai such as 浣溪沙 work too)")
    return f
