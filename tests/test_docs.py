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
