import re
import subprocess
import sys

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


def test_readme_shows_the_two_commands():
    readme = (ROOT / "README.md").read_text("utf-8")
    assert "make index" in readme and "make test" in readme
    for command in COMMANDS:
        assert f"poetry-search {command}" in readme, command


def readme_sections() -> dict[str, str]:
    """README text of each command's section: from its ``### `poetry-search CMD`` heading to the next heading."""
    readme = (ROOT / "README.md").read_text("utf-8")
    out = {}
    for m in re.finditer(r"^### `poetry-search (\w+)[^\n]*\n(.*?)(?=^#)", readme, re.M | re.S):
        out[m.group(1)] = m.group(0)
    return out


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


@pytest.mark.parametrize("command", COMMANDS)
def test_every_help_option_is_in_its_readme_section(command):
    sections = readme_sections()
    assert command in sections, f"README has no section ### `poetry-search {command} …`"
    text = sections[command]
    missing = [o for o in sorted(help_options(command)) if not re.search(rf"`[^`]*(?<![\w-]){re.escape(o)}(?![\w-])[^`]*`", text)]
    assert not missing, f"README section of {command} does not mention {missing}"


@pytest.mark.parametrize("command", COMMANDS)
def test_every_readme_option_exists(command):
    text = readme_sections()[command]
    mentioned = set(re.findall(r"(?<![\w-])(--[a-z][a-z-]*)", text))
    assert mentioned, command
    unknown = mentioned - help_options(command)
    assert not unknown, f"README section of {command} mentions {sorted(unknown)}, which `{command} --help` does not list"


def test_every_readme_option_outside_the_sections_exists():
    readme = (ROOT / "README.md").read_text("utf-8")
    every = set().union(*(help_options(c) for c in COMMANDS)) | {"--help", "--version"}
    mentioned = set(re.findall(r"(?<![\w-])(--[a-z][a-z-]*)", readme))
    assert mentioned - every == set()


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
