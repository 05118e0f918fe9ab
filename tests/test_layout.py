"""The module boundaries the project promises (README "Layout"), checked on the source."""

import re

from conftest import ROOT

PKG = ROOT / "poetry_search"


def sources(skip=()):
    """Every module of the package by its path under poetry_search/, less the paths in ``skip``
    (a folder ending in / skips all of it)."""
    files = sorted(p for p in PKG.rglob("*.py")
                   if not any(p.relative_to(PKG).as_posix() == s or p.relative_to(PKG).as_posix().startswith(s) and s.endswith("/")
                              for s in skip))
    assert len(files) >= 10
    return {p.relative_to(PKG).as_posix(): p.read_text("utf-8") for p in files}


def test_sql_lives_in_the_store():
    for name, src in sources(skip={"store/"}).items():
        assert ".execute(" not in src and ".executemany(" not in src, name
        assert not re.search(r"\b(SELECT|INSERT|UPDATE|DELETE FROM|CREATE)\s+[\w*(\[]", src), name


def test_faiss_lives_in_vectors():
    for name, src in sources(skip={"store/vectors.py"}).items():
        assert not re.search(r"require\(\"faiss\"\)|import faiss|\.inner\b|\.hnsw\b|\.nlist\b|efSearch", src), name


def test_export_only_writes_what_the_index_gives():
    src = (PKG / "search" / "export.py").read_text("utf-8")
    assert re.findall(r"\bindex\.(\w+)", src) == ["neighbours"]


def test_one_definition_of_each_file_system_helper():
    helpers = ("def swap_in", "def pid_alive", "def fsync", "os.kill(", "file_digest(", "ctypes", "os.fsync(")
    for name, src in sources(skip={"store/files.py"}).items():
        for h in helpers:
            assert h not in src, (name, h)
