"""平仄 and 韵 for readers and writers: rhyme (a character's 平水韵 groups, the rhyme book) and check
(the 格律 of a 五绝, 七绝, 五律 or 七律)."""

from __future__ import annotations

import click

from ..options import RHYME_BOOK_CHARS
from .format import check_text, dump, rhyme_text
from .params import encoding_option, index_option, text_arg


@click.command()
@click.argument("char")
@index_option
@click.option("--limit", type=int, default=RHYME_BOOK_CHARS, show_default=True,
              help="Characters to show a group, most used first (0: all of them).")
@encoding_option
@click.option("--json", "as_json", is_flag=True,
              help='Print {"char", "form", "groups": [{"name", "full_name", "tone", "characters": [{"char", "lines"}]}]}.')
def rhyme(char, index_dir, limit, encoding, as_json):
    """The 平水韵 rhyme book of CHAR: its group(s), and each group's characters, most used first.

    A character is counted by the lines of the index's corpus that end in it. Either script
    works (霜, 陽 and 阳); a character of two readings (看: 十四寒 and 十五翰) lists both groups.

    \b
    Examples:
        poetry-search rhyme 霜
        poetry-search rhyme 看 --limit 10
        poetry-search rhyme 香 --limit 0 --json
    """
    from ..search.index import Index

    book = Index.open(index_dir).rhyme(text_arg(char, "the character", encoding), limit=limit)
    click.echo(dump(book.to_dict()) if as_json else rhyme_text(book))


@click.command()
@click.argument("text", required=False)
@index_option
@click.option("--poem", "poem_id", default=None, help="Check this corpus poem (the poem_id of a hit) instead of TEXT.")
@click.option("--strict", is_flag=True,
              help="Count 三仄尾 and 特拗 with a 仄 first character as faults (by default they are notes).")
@encoding_option
@click.option("--json", "as_json", is_flag=True,
              help='Print the verdict as JSON: {"verdict", "form", "pattern", "rhyme", "lines", "tones", "marks", "faults"…}.')
def check(text, index_dir, poem_id, strict, encoding, as_json):
    """Check the 格律 of a 五绝, 七绝, 五律 or 七律 against 平水韵.

    TEXT is the poem (punctuation and line breaks as you like, either script); `-` reads it from
    stdin; --poem ID checks a poem of the index's corpus. It prints the form and pattern found
    (平起/仄起, 首句入韵), each line with its tones and a mark under each character, then the
    verdict: 合律, 合律（拗救） (naming the 拗救), 不合 (each fault: line, position, rule) or 非近体
    (with the reason). A verdict of 不合 is a result (exit 0); input that cannot be judged (empty,
    characters the table lacks) is an error (exit 2). TEXT needs no index.

    \b
    Examples:
        poetry-search check 白日依山尽，黄河入海流。欲穷千里目，更上一层楼。
        poetry-search check - < my_poem.txt
        poetry-search check --poem 0167687e-8325-48bf-8da4-3749c9ce0a74 --json
        poetry-search check 昔人已乘黄鹤去，此地空余黄鹤楼。黄鹤一去不复返，白云千载空悠悠。 --strict
    """
    from ..errors import UsageProblem

    if (text is None) == (poem_id is None):
        raise UsageProblem("check one poem: pass its TEXT (or - to read stdin), or --poem ID, not both",
                           code="bad_request")
    if poem_id is not None:
        from ..search.index import Index

        verdict = Index.open(index_dir).check(poem_id=text_arg(poem_id, "--poem", encoding), strict=strict)
    else:
        from ..search.prosody import check as check_poem

        if text == "-":
            from ..corpus.textin import read_text

            stream = click.get_binary_stream("stdin")
            text = read_text(stream.read(), what="stdin", encoding=encoding)
        else:
            text = text_arg(text, "the poem", encoding)
        verdict = check_poem(text, strict=strict)
    click.echo(dump(verdict.as_dict()) if as_json else check_text(verdict))
