"""The module boundaries the project promises (docs/layout.md), checked on the source."""

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
    for name, src in sources(skip={"files.py"}).items():
        for h in helpers:
            assert h not in src, (name, h)


def _imports() -> dict[str, set[str]]:
    """Each module's imports of the package's own modules, those inside functions included."""
    import ast

    mods = {}
    for p in PKG.rglob("*.py"):
        rel = p.relative_to(PKG).with_suffix("")
        name = ".".join(("poetry_search", *rel.parts))
        mods[name.removesuffix(".__init__")] = p
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for name, p in mods.items():
        pkg = name if p.name == "__init__.py" else name.rsplit(".", 1)[0]
        for node in ast.walk(ast.parse(p.read_text("utf-8"))):
            if isinstance(node, ast.ImportFrom):
                base = pkg.split(".")
                if node.level:
                    base = base[:len(base) - node.level + 1]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                for alias in node.names:
                    full = f"{target}.{alias.name}"
                    dep = full if full in mods else target
                    if dep in mods and dep != name:
                        graph[name].add(dep)
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name in mods and alias.name != name:
                        graph[name].add(alias.name)
    return graph


def test_import_graph_has_no_cycle():
    graph = _imports()
    assert len(graph) >= 40
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(m):
        state[m] = 1
        path.append(m)
        for d in sorted(graph[m]):
            if d.endswith("poetry_search") or d == "poetry_search":
                continue  # the package root only holds __version__ and lazy re-exports
            if state.get(d) == 1:
                raise AssertionError("import cycle: " + " -> ".join(path[path.index(d):] + [d]))
            if d not in state:
                visit(d)
        path.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m)


def test_the_parts_under_the_facade_never_import_it():
    graph = _imports()
    parts = [m for m in graph if m.startswith("poetry_search.search.") and m != "poetry_search.search.index"]
    assert len(parts) >= 8
    for m in parts:
        assert "poetry_search.search.index" not in graph[m], m


def test_stages_import_only_earlier_stages():
    """The folders read as the data flow: a stage imports its own and earlier stages only."""
    order = ["options", "errors", "files", "corpus", "prosody", "encode", "store", "build", "search", "evaluate", "cli", "server"]
    graph = _imports()
    stage = {m: (m.split(".")[1] if m.count(".") else "") for m in graph}
    checked = 0
    for m, deps in graph.items():
        s = stage[m]
        if s not in order:
            continue
        for d in deps:
            t = stage[d]
            if t in order and t != s:
                checked += 1
                assert order.index(t) < order.index(s) or (s, t) in {("cli", "server")}, f"{m} imports {d}"
    assert checked >= 30
