from .cli.__init__ import cli

cli(prog_name="poetry-search")
