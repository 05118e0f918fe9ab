"""Opening an index cheaply: a bare FAISS index (no id map to rebuild), no sqlite_utils import,
and indexes of the older layout (IndexIDMap2, fewer migrations) still open."""

import shutil
import sqlite3
import subprocess
import sys

import faiss
import numpy as np
import pytest
from conftest import ROOT

from poetry_search import Index
from poetry_search.errors import IndexDamagedError
from poetry_search.store.db import MIGRATIONS, _migrations


def test_migration_names_are_the_ones_defined():
    assert MIGRATIONS == tuple(m.name for m in _migrations()._migrations)
    assert len(MIGRATIONS) == 5


def test_new_index_is_stored_without_an_id_map(sample_index):
    stored = faiss.read_index(str(sample_index / "vectors.faiss"))
    assert not isinstance(faiss.downcast_index(stored), (faiss.IndexIDMap, faiss.IndexIDMap2))
    assert stored.ntotal == len(Index.open(sample_index))


def test_open_reads_no_sqlite_utils(sample_index):
    code = ("import sys\nfrom poetry_search import Index\ni = Index.open(sys.argv[1])\n"
            "assert len(i.search('大梦谁先觉', k=3)) == 3\nprint('SQLITE_UTILS', 'sqlite_utils' in sys.modules)")
    r = subprocess.run([sys.executable, "-c", code, str(sample_index)], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    assert "SQLITE_UTILS False" in r.stdout


@pytest.fixture()
def copy_of(sample_index, tmp_path):
    dst = tmp_path / "index"
    shutil.copytree(sample_index, dst)
    (dst / "files.json").unlink()  # the older layouts these tests stand for had no file records
    return dst


def test_index_wrapped_in_an_id_map_still_searches_alike(sample_index, copy_of):
    # how builds stored the sample index before: an exact index inside an IndexIDMap2
    bare = faiss.read_index(str(copy_of / "vectors.faiss"))
    x = bare.reconstruct_n(0, bare.ntotal)
    wrapped = faiss.IndexIDMap2(faiss.IndexFlatIP(bare.d))
    wrapped.add_with_ids(x, np.arange(bare.ntotal, dtype=np.int64))
    faiss.write_index(wrapped, str(copy_of / "vectors.faiss"))
    assert isinstance(Index.open(copy_of).vectors.index, faiss.IndexIDMap2)
    new, old = Index.open(sample_index), Index.open(copy_of)
    for q in ("大梦谁先觉", "明月几时有"):
        a, b = new.search(q, k=10), old.search(q, k=10)
        assert len(a) == len(b) == 10
        assert [h.id for h in a] == [h.id for h in b]
    # a filtered search (FAISS id selector) too
    a, b = new.search("明月", k=5, author="李白"), old.search("明月", k=5, author="李白")
    assert len(a) == len(b) == 5 and [h.id for h in a] == [h.id for h in b]


def _drop_migration(path, name):
    c = sqlite3.connect(path / "poetry.db")
    c.execute("DELETE FROM _sqlite_migrations WHERE name = ?", (name,))
    c.commit()
    c.close()


def test_index_before_lexical_search_opens_without_lexicon(copy_of):
    _drop_migration(copy_of, "003_lexical")
    assert Index.open(copy_of).store.has_lexicon is False


def test_index_of_another_schema_is_refused(copy_of):
    _drop_migration(copy_of, "002_lookup_indexes")
    with pytest.raises(IndexDamagedError, match="another version of poetry-search: rebuild"):
        Index.open(copy_of)


def test_default_query_on_an_index_before_lexical_search(copy_of, caplog):
    # hybrid (the default) needs the lexicon for its exact hits: such an index answers by meaning,
    # the same hits as --mode semantic, and says how to get the exact ones
    _drop_migration(copy_of, "003_lexical")
    old = Index.open(copy_of)
    with caplog.at_level("WARNING", logger="poetry_search"):
        hits = old.search("大梦谁先觉", k=5)
    assert "built before lexical search" in caplog.text and "rebuild" in caplog.text
    want = old.search("大梦谁先觉", k=5, mode="semantic")
    assert len(hits) == len(want) == 5 and [h.id for h in hits] == [h.id for h in want]
    r = subprocess.run([sys.executable, "-m", "poetry_search", "query", "大梦谁先觉", "--index", str(copy_of), "-k", "3"],
                       capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    assert "built before lexical search" in r.stderr and r.stdout.count("semantic") == 3


def test_warm_loads_what_a_first_query_needs(sample_index, lexical_sample_index):
    """``Index.warm`` (the server calls it on open) loads the encoder and the near-match index, so
    the first request does not pay for them; a --lexical-only index warms without a model."""
    idx = Index.open(sample_index)
    assert idx.queries._encoder is None and idx.lexical._near is False  # lazy until asked
    idx.warm()
    assert idx.queries._encoder is not None
    assert idx.lexical._near is not False and idx.lexical._near is not None  # the sample has near.npz
    assert (sample_index / "near.npz").exists()
    lex = Index.open(lexical_sample_index)
    lex.warm()
    assert lex.queries._encoder is None and lex.lexical._near is not False
