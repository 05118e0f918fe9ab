"""Lets the new stage folders be imported before the restructure lands: today ``poetry_search/
corpus.py`` and ``store.py`` are modules, so ``poetry_search.corpus.variants`` would not import.
Giving those modules a ``__path__`` (their folder) makes them packages for submodule imports.
Remove this file (and its imports) once corpus/ and store/ are packages."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import poetry_search.corpus as _corpus  # noqa: E402
import poetry_search.store as _store  # noqa: E402

for _m in (_corpus, _store):
    if not hasattr(_m, "__path__"):
        _m.__path__ = [str(Path(_m.__file__).with_suffix(""))]
