import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import ROOT

from poetry_search.cli import cli

COMMANDS = sorted(cli.commands)


def test_the_commands_we_promise_exist():
    assert set(COMMANDS) >= {"corpus", "index", "query", "similarity", "info", "export"}


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command):
    r = CliRunner().invoke(cli, [command, "--help"])
    assert r.exit_code == 0
    assert cli.commands[command].help and len(cli.commands[command].help) > 40
    assert "Examples:" in r.output
    for param in cli.commands[command].params:
        if param.param_type_name == "option" and param.name not in ("help",):
            assert param.help, f"{command} --{param.name} has no help"


def test_help_does_not_import_heavy_modules():
    code = ("import sys; from poetry_search.cli import cli\n"
            "try:\n    cli(['query', '--help'])\nexcept SystemExit:\n    pass\n"
            "heavy = [m for m in ('torch', 'transformers', 'faiss', 'sentence_transformers', 'pyarrow') if m in sys.modules]\n"
            "print('HEAVY', heavy)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert "HEAVY []" in r.stdout, r.stdout + r.stderr


README = ROOT / "README.md"
DOCS = ROOT / "docs"
PKG = ROOT / "poetry_search"


def pages() -> dict[str, str]:
    """README.md and every page of docs/, by path relative to the repository root."""
    found = [README, *sorted(DOCS.glob("*.md"))]
    assert len(found) >= 9, found
    return {p.relative_to(ROOT).as_posix(): p.read_text("utf-8") for p in found}


def test_readme_shows_the_two_commands():
    readme = README.read_text("utf-8")
    assert "make index" in readme and "make test" in readme
    for command in COMMANDS:
        assert f"poetry-search {command}" in readme, command


def test_readme_is_a_page_a_newcomer_reads():
    readme = README.read_bytes()
    assert len(readme) <= 15_000, f"README.md is {len(readme):,} bytes: move detail to docs/"
    text = readme.decode("utf-8")
    for fact in ("bert-base-chinese", "scripts/make_random_model.py", "docs/search-desktop.png",
                 "docs/search-phone.png", "from poetry_search import Index, build_index"):
        assert fact in text, fact


def command_sections(text: str) -> dict[str, str]:
    """Text of each command's section in one page: from its ``### `poetry-search CMD`` heading to
    the next heading (or the end of the page)."""
    out = {}
    for m in re.finditer(r"^### `poetry-search (\w+)[^\n]*\n(.*?)(?=^#|\Z)", text, re.M | re.S):
        assert m.group(1) not in out, f"two sections for {m.group(1)}"
        out[m.group(1)] = m.group(0)
    return out


def sections_of(command: str) -> dict[str, str]:
    """Every page's section about ``command`` (README first), by page."""
    return {page: secs[command] for page, text in pages().items()
            if command in (secs := command_sections(text))}


def test_readme_has_a_short_section_with_one_example_per_command():
    sections = command_sections(README.read_text("utf-8"))
    assert sorted(sections) == COMMANDS and len(sections) == len(COMMANDS)
    for command, text in sections.items():
        examples = re.findall(rf"^poetry-search {command}\b.*$", text, re.M)
        assert len(examples) == 1, (command, examples)
        assert len(text) <= 1_200, f"README section of {command} is {len(text)} characters: move detail to docs/commands.md"


def help_options(command: str) -> set[str]:
    """The options ``poetry-search COMMAND --help`` prints (long and short names), read from the help text."""
    r = CliRunner().invoke(cli, [command, "--help"], terminal_width=200)
    assert r.exit_code == 0
    listed = r.output.split("Options:", 1)[1]
    return set(re.findall(r"(?:^|[\s,])(--?[a-zA-Z][\w-]*)", listed)) - {"-h", "--help"}


def test_help_options_are_read_from_the_help_text():
    # the parser above must see every option: compare it once with click's own list
    for command in COMMANDS:
        declared = {o for p in cli.commands[command].params for o in p.opts if o.startswith("-")} - {"--help"}
        assert help_options(command) == declared, command


def mentions(option: str, text: str) -> bool:
    """``option`` inside a code span of ``text`` (as the docs write options)."""
    return bool(re.search(rf"`[^`]*(?<![\w-]){re.escape(option)}(?![\w-])[^`]*`", text))


@pytest.mark.parametrize("command", COMMANDS)
def test_every_help_option_is_documented_in_a_section_of_its_command(command):
    # an option may be documented in the README's short paragraph or in docs/commands.md, but in
    # a section of its own command
    sections = sections_of(command)
    assert "README.md" in sections, f"README has no section ### `poetry-search {command} …`"
    assert "docs/commands.md" in sections, f"docs/commands.md has no section ### `poetry-search {command} …`"
    options = sorted(help_options(command))
    assert options, command
    missing = [o for o in options if not any(mentions(o, text) for text in sections.values())]
    assert not missing, f"no section of {command} ({', '.join(sections)}) mentions {missing}"


@pytest.mark.parametrize("command", COMMANDS)
def test_every_option_in_a_command_s_section_exists(command):
    sections = sections_of(command)
    assert len(sections) >= 2, sections.keys()
    for page, text in sections.items():
        mentioned = set(re.findall(r"(?<![\w-])(--[a-z][a-z-]*)", text))
        assert mentioned, (page, command)
        unknown = mentioned - help_options(command)
        assert not unknown, f"{page}'s section of {command} mentions {sorted(unknown)}, which `{command} --help` does not list"


def test_every_option_anywhere_in_the_docs_exists():
    every = set().union(*(help_options(c) for c in COMMANDS)) | {"--help", "--version"}
    # the options of the project's own scripts and benchmarks, which the docs run too
    for script in [*ROOT.glob("scripts/*.py"), *ROOT.glob("bench/*.py")]:
        every |= set(re.findall(r"add_argument\(\s*\"(--[a-z][a-z-]*)\"", script.read_text("utf-8")))
    for page, text in pages().items():
        text = re.sub(r"(?m)^\s*(ray|pip) .*$", "", text)  # other tools' command lines (ray start --head)
        mentioned = set(re.findall(r"(?<![\w-])(--[a-z][a-z-]*)", text))
        assert mentioned - every == set(), page


def slug(heading: str) -> str:
    """The anchor GitHub gives a heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_every_link_of_the_docs_resolves():
    checked = 0
    for page, text in pages().items():
        here = (ROOT / page).parent
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"https?://", target):
                continue
            path, _, anchor = target.partition("#")
            file = (here / path).resolve() if path else ROOT / page
            assert file.exists(), f"{page} links to {target}, which does not exist"
            if anchor:
                headings = re.findall(r"^#+ (.*)$", file.read_text("utf-8"), re.M)
                assert anchor in {slug(h) for h in headings}, f"{page} links to {target}: no such heading"
            checked += 1
    assert checked >= 20, checked


def test_the_readme_links_every_docs_page():
    readme = README.read_text("utf-8")
    docs = sorted(DOCS.glob("*.md"))
    assert len(docs) >= 8, docs
    unlinked = [p.name for p in docs if f"](docs/{p.name})" not in readme]
    assert not unlinked, f"README does not link {unlinked}"


def api_routes() -> list[tuple[str, str]]:
    """(method, path) of every route the server documents in its OpenAPI schema, with path
    converters (``{poem_id:path}``) written as the docs write them (``{poem_id}``)."""
    from poetry_search.server import create_app

    app = create_app(ROOT / "no-index-here")  # a missing index answers 503: the routes are all there
    # from the OpenAPI document: FastAPI may keep included routers unexpanded in app.routes
    out = [(m.upper(), path) for path, ops in app.openapi()["paths"].items() for m in ops
           if m in ("get", "post", "put", "delete")]
    return sorted(out)


def table_routes(text: str) -> list[tuple[str, str]]:
    """(method, path) of each row of a Markdown table that starts ``| METHOD | `PATH` |``."""
    return sorted(re.findall(r"^\| (GET|POST|PUT|DELETE) \| `(/[^`]*)` \|", text, re.M))


def test_the_http_api_tables_list_exactly_the_server_s_routes():
    routes = api_routes()
    assert len(routes) >= 7 and ("GET", "/api/search") in routes and ("GET", "/healthz") in routes, routes
    for page in ("README.md", "docs/http-api.md"):
        listed = table_routes(pages()[page])
        assert listed == routes and len(listed) == len(routes), (page, listed)


def test_docs_http_api_names_every_parameter_of_every_route():
    from poetry_search.server import create_app

    schema = create_app(ROOT / "no-index-here").openapi()
    text = pages()["docs/http-api.md"]
    rows = {(m, p): row for m, p, row in re.findall(r"^\| (GET|POST) \| `(/[^`]*)` \|(.*)$", text, re.M)}
    checked = 0
    for path, ops in schema["paths"].items():
        for method, op in ops.items():
            row = rows[(method.upper(), re.sub(r":\w+}", "}", path))]
            for param in op.get("parameters", []):
                name = param["name"]
                assert f"`{name}`" in row or "{" + name + "}" in path, (path, name)
                checked += 1
    assert checked >= 20, checked


def layout_rows(heading: str) -> list[tuple[str, str]]:
    """(path, job) of each row of the table under ``## heading`` in docs/layout.md."""
    text = pages()["docs/layout.md"]
    part = re.search(rf"^## {re.escape(heading)}\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert part, f"docs/layout.md has no section ## {heading}"
    return re.findall(r"^\| `([^`]+)` \| (.*?) \|$", part.group(1), re.M)


def test_the_layout_table_lists_exactly_the_package_s_modules():
    rows = layout_rows("The package")
    paths = [p for p, _ in rows]
    assert len(paths) == len(set(paths)), "a path has two rows"
    assert all(job.strip() for _, job in rows)
    missing = [p for p in paths if not (ROOT / p).exists()]
    assert not missing, f"docs/layout.md lists {missing}, which do not exist"
    modules = sorted(p.relative_to(ROOT).as_posix() for p in PKG.rglob("*.py")
                     if p.name not in ("__init__.py", "__main__.py"))
    folders = sorted({Path(m).parent.as_posix() + "/" for m in modules + [
        p.relative_to(ROOT).as_posix() for p in PKG.rglob("__init__.py")]} - {"poetry_search/"})
    assert len(modules) >= 20 and len(folders) >= 7, (modules, folders)
    unlisted = [m for m in modules + folders if m not in paths]
    assert not unlisted, f"docs/layout.md does not list {unlisted}"
    # every module sits under its folder's row, and a folder's modules are not scattered
    seen: list[str] = []
    for p in paths:
        parent = Path(p.rstrip("/")).parent.as_posix() + "/"
        if parent != "poetry_search/":
            assert parent in seen, f"{p} is listed before its folder {parent}"
            assert seen[-1] == parent or Path(seen[-1].rstrip("/")).parent.as_posix() + "/" == parent, \
                f"{p} is not listed with the rest of {parent}"
        seen.append(p)


def test_the_layout_s_other_paths_exist():
    rows = layout_rows("Beside the package")
    assert len(rows) >= 5, rows
    missing = [p for p, _ in rows if not (ROOT / p).exists()]
    assert not missing, missing


def test_help_texts_state_the_code_s_own_values():
    from poetry_search.options import (
        ENCODE_BATCH_SIZE,
        FLAT_LIMIT,
        INDEX_TYPES,
        LINES_PER_PASS,
        TOKENS_PER_LINE,
    )

    index_help = CliRunner().invoke(cli, ["index", "--help"], terminal_width=200).output
    # --index-type's help is plain text (it also takes factory strings): it must name what the code has
    assert f"{FLAT_LIMIT // 1000}k lines" in index_help
    missing = [t for t in INDEX_TYPES if f"{t}," not in index_help and f"{t} (" not in index_help]
    assert INDEX_TYPES and not missing
    assert f"{TOKENS_PER_LINE} tokens" in index_help and f"{LINES_PER_PASS}x" in index_help
    assert f"{ENCODE_BATCH_SIZE['cpu']} on CPU" in index_help and f"{ENCODE_BATCH_SIZE['cuda']} on CUDA" in index_help
