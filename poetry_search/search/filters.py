"""The filters of a search (author, dynasty, collection, form), folded and checked once.

    filters = Filters.fold(store, author="王之涣", dynasty="tang")
    store.text_ids(**filters.store_args())
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np

from ..corpus.authors import canonical_author
from ..corpus.dynasties import fold_dynasty
from ..corpus.normalize import fold
from ..corpus.textin import quote, read_text
from ..errors import IndexDamagedError, UsageProblem

log = logging.getLogger("poetry_search")


@dataclass(frozen=True)
class Filters:
    """Folded filter values as the store holds them (simplified script, a dynasty's one name, a
    poet's canonical name: 後主煜 and 李煜 are one); None where a filter is not set."""

    author: str | None = None
    dynasty: str | None = None
    collection: str | None = None
    form: str | None = None

    @classmethod
    def fold(cls, store, author: str | None = None, dynasty: str | None = None, collection: str | None = None,
             form: str | None = None, facets: Callable[[], dict] | None = None) -> "Filters":
        """Fold each value the way the store holds it. A dynasty, collection or form the index
        does not know is a usage mistake that lists the known values (``facets``: the index's
        ``Index.facets``); an author with no poems is not (the result is empty, with suggestions)."""
        author, dynasty, collection, form = (None if v is None else read_text(v, what=f"--{name}") for name, v in
                                             (("author", author), ("dynasty", dynasty), ("collection", collection), ("form", form)))
        out = cls(author=canonical_author(author) or None, dynasty=fold_dynasty(dynasty), collection=fold(collection) or None,
                  form=_fold_form(store, form))
        if facets is not None and (out.dynasty or out.collection):
            f = facets()
            if out.dynasty:
                known = [d["name"] for d in f["dynasties"]]
                if out.dynasty not in {fold_dynasty(d) for d in known}:
                    raise UsageProblem(f"unknown --dynasty {quote(dynasty)}: this index knows {'、'.join(known) or '(none)'} "
                                       "(or tang, song, yuan…)", code="unknown_dynasty")
            if out.collection:
                names = list(dict.fromkeys([c["collection"] for c in f["collections"]] + [c["book"] for c in f["collections"]]))
                if out.collection not in {fold(n) for n in names}:
                    raise UsageProblem(f"unknown --collection {quote(collection)}: pass a folder or a book this index has, "
                                       f"one of {'、'.join(names)}", code="unknown_collection")
        return out

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

    def warn_no_match(self, suggestions: list[str] = (), **given: str | None) -> None:
        """A filtered search that no line passes: say which filters (as the user wrote them), and
        the nearest authors' names when the author is unknown."""
        what = ", ".join(f"{n} {quote(v)}" for n, v in given.items() if v)
        hint = f"did you mean {'、'.join(suggestions)}?" if suggestions else "check the spelling (poetry-search info lists collections)"
        log.warning(f"no lines match {what}: {hint}")


def _fold_form(store, form: str | None) -> str | None:
    if not form:
        return None
    f = fold(form)
    if not store.has_lexicon:
        raise IndexDamagedError(f"the index at {store.path.parent} was built before --form existed: rebuild it with `poetry-search index`")
    if not store.form_exists(f):
        known = "、".join(store.common_forms(8))
        raise UsageProblem(f"unknown --form {quote(form)}: the forms this index knows include {known or '(none)'}; "
                           "pass one of them (ci-pai such as 浣溪沙 work too)", code="unknown_form")
    return f
