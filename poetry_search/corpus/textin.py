"""Text in, at every entrance: bytes or str from a CLI argument, stdin, a file, a JSON body or a
query string become the text the library accepts, or a ``UsageProblem`` that says what is wrong,
where, and how to fix it.

Decisions, each on purpose:

* Bytes are decoded strictly (never with replacement characters, which would then be searched);
  a bad byte is reported by its offset, with the ``iconv`` command and the ``--encoding`` option
  that fix it.
* A ``str`` holding surrogates is not text. Surrogates U+DC80–U+DCFF are what Python makes of
  undecodable bytes in ``sys.argv`` (``surrogateescape``): those are turned back into the bytes
  the user typed and decoded with ``encoding``, so ``--encoding gb18030`` works for arguments too.
  Any other surrogate (``"\\ud800"`` in JSON) is refused, naming the field.
* ``fold_invisible`` chooses characters by their Unicode category (``unicodedata``), not by a hand
  list: format characters (Cf: BOM, zero-width space and joiners, word joiner, bidi controls, soft
  hyphen, U+180E, tag characters) and control characters (Cc) that are not whitespace are deleted,
  as are variation selectors (they are Mn, so they are found by name); every whitespace or space
  separator (Zs, Zl, Zp: no-break, ideographic, en/em spaces, U+2028…) becomes an ordinary space,
  which the normaliser treats as a separator. Whatever else (letters, marks, private-use glyphs
  that some corpora use for rare characters) is kept.
* An error quotes at most a short prefix of the input, with invisible characters escaped, so a
  100,000-character paste gives a one-line message.
"""

from __future__ import annotations

import codecs
import functools
import unicodedata
from collections.abc import Iterator
from typing import BinaryIO

from poetry_search.errors import UsageProblem

#: Characters of the input quoted in an error message, at most.
QUOTE_CHARS = 20

# Planes that hold format, control, space and variation-selector characters: 0 (BMP), 1 (SMP)
# and 14 (tags, VS17-256). Planes 2-3 are ideographs, 4-13 unassigned, 15-16 private use.
_PLANES = (range(0x0000, 0x20000), range(0xE0000, 0xF0000))


def _is_variation_selector(ch: str) -> bool:
    # VARIATION SELECTOR-1..256 and MONGOLIAN FREE VARIATION SELECTOR ONE..FOUR
    return "VARIATION SELECTOR" in unicodedata.name(ch, "")


@functools.lru_cache(maxsize=1)
def _fold_table() -> dict[int, str | None]:
    """``str.translate`` table: code point -> None (delete) or " " (a separator)."""
    table: dict[int, str | None] = {}
    for plane in _PLANES:
        for cp in plane:
            ch = chr(cp)
            cat = unicodedata.category(ch)
            if ch.isspace() or cat in ("Zs", "Zl", "Zp"):
                if ch != " ":
                    table[cp] = " "
            elif cat in ("Cf", "Cc") or (cat == "Mn" and _is_variation_selector(ch)):
                table[cp] = None
    return table


def fold_invisible(text: str) -> str:
    """Delete invisible characters (format, control, variation selectors, tags) and turn every
    kind of space or line break into an ordinary space. Idempotent; never raises on a ``str``."""
    return text.translate(_fold_table())


def _visible(ch: str) -> bool:
    return not ch.isspace() and unicodedata.category(ch) not in ("Cc", "Cf", "Cs", "Zs", "Zl", "Zp") \
        and not _is_variation_selector(ch)


def quote(text: str, limit: int = QUOTE_CHARS) -> str:
    """A short, printable quotation of ``text`` for an error message: at most ``limit`` characters
    of it, invisible ones escaped (``\\u200b``), then ``…`` when it was cut."""
    head = text[:limit]
    shown = "".join(ch if ch.isprintable() else _escape(ch) for ch in head)
    return f'"{shown}{"…" if len(text) > limit else ""}"'


def _escape(ch: str) -> str:
    cp = ord(ch)
    return f"\\x{cp:02x}" if cp < 0x100 else (f"\\u{cp:04x}" if cp < 0x10000 else f"\\U{cp:08x}")


def describe(ch: str) -> str:
    """``U+200B ZERO WIDTH SPACE``: a character as a message names it."""
    name = unicodedata.name(ch, "")
    if not name and unicodedata.category(ch) == "Cc":
        name = "control character"
    return f"U+{ord(ch):04X} {name}".rstrip()


def check_visible(text: str, what: str = "the query") -> str:
    """``text`` unchanged when something visible is left once invisible characters are folded;
    otherwise a ``UsageProblem`` naming what it held."""
    if any(_visible(ch) for ch in fold_invisible(text)):
        return text
    if not text:
        raise UsageProblem(f"{what} is empty: pass a line of poetry, e.g. 大梦谁先觉", code="empty_query")
    held = sorted({ch for ch in text}, key=text.index)
    names = ", ".join(describe(ch) if ch != " " else "spaces" for ch in held[:3]) + (", …" if len(held) > 3 else "")
    raise UsageProblem(f"{what} is empty after removing invisible characters (it held only {names}): "
                       f"pass a line of poetry, e.g. 大梦谁先觉", code="empty_query")


@functools.lru_cache(maxsize=32)
def _codec(encoding: str) -> codecs.CodecInfo:
    try:
        info = codecs.lookup(encoding)
    except (LookupError, TypeError, ValueError):
        info = None
    if info is None or not getattr(info, "_is_text_encoding", True):
        raise UsageProblem(f"unknown text encoding {quote(str(encoding))}: pass --encoding utf-8, gb18030, big5 "
                           f"or another name Python knows")
    return info


def _guess(raw: bytes, tried: str) -> str | None:
    """An encoding that decodes all of ``raw``, to suggest (GB18030 covers GBK and GB2312)."""
    for candidate in ("gb18030", "big5", "utf-16"):
        if candidate == tried:
            continue
        try:
            raw.decode(candidate)
        except UnicodeDecodeError:
            continue
        if candidate == "utf-16" and not raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            continue  # almost any even-length bytes decode as UTF-16; only trust its BOM
        return candidate
    return None


def _decode(raw: bytes, what: str, encoding: str) -> str:
    name = _codec(encoding).name
    try:
        return raw.decode(name)
    except UnicodeDecodeError as e:
        bad = raw[e.start:e.start + 4].hex(" ")
        guess = _guess(raw, name) or _guess(raw[e.start:], name)  # the whole, or from the bad byte on
        if guess is not None:
            fix = f"re-encode it with `iconv -f {guess.upper()} -t UTF-8`, or pass --encoding {guess}"
            if guess == "gb18030":
                fix += " (big5 for a traditional-script file from Taiwan or Hong Kong)"
        elif name != "utf-8":
            fix = f"it is not {name} either: re-encode it as UTF-8, or pass the --encoding it was written in"
        else:
            fix = "re-encode it as UTF-8 (e.g. `iconv -f GB18030 -t UTF-8`), or pass the --encoding it was written in"
        raise UsageProblem(f"{what} is not valid {name} at byte {e.start} (bytes {bad}): {fix}", code="bad_encoding") from None


def read_text(value: bytes | str, *, what: str, encoding: str = "utf-8") -> str:
    """The text of ``value`` (bytes decoded with ``encoding``; a ``str`` checked), or a
    ``UsageProblem`` naming ``what`` ("the query", "line 3 of stdin", "texts[1]") and the fix.

    The text is not folded: the normaliser folds invisible characters, for queries and corpus
    lines alike; call ``check_visible`` to refuse text with nothing visible in it."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return _decode(bytes(value), what, encoding)
    if not isinstance(value, str):
        raise UsageProblem(f"{what} must be text, not {type(value).__name__}", code="invalid_text")
    try:
        value.encode("utf-8")
        return value
    except UnicodeEncodeError:
        pass
    try:
        raw = value.encode("utf-8", "surrogateescape")  # argv's undecodable bytes, as typed
    except UnicodeEncodeError as e:
        ch = value[e.start]
        raise UsageProblem(f"{what} contains a lone surrogate (U+{ord(ch):04X}) at character {e.start}, which is "
                           f"not text: send valid Unicode (in JSON, a \\u{ord(ch):04x} escape needs its other half)", code="invalid_text") from None
    return _decode(raw, what, encoding)


def iter_lines(stream: BinaryIO, encoding: str = "utf-8", *, source: str = "stdin",
               skip_blank: bool = True) -> Iterator[tuple[int, str | UsageProblem]]:
    """``(line number, text or UsageProblem)`` for each line of a byte stream, so a batch can report
    each bad line and go on with the rest. Line numbers count from 1, blank lines included; blank
    lines are skipped when ``skip_blank``. A text stream (``sys.stdin``) is read through its
    ``buffer``. The text has no line ending and no surrounding whitespace."""
    info = _codec(encoding)
    stream = getattr(stream, "buffer", stream)
    if "\n".encode(info.name) != b"\n":  # UTF-16/32: lines cannot be cut as bytes
        whole = stream.read()
        try:
            lines = [line.encode("utf-8") for line in read_text(whole, what=source, encoding=info.name).splitlines()]
        except UsageProblem as e:
            yield 1, e
            return
        encoding = "utf-8"
        source_lines: Iterator = iter(lines)
    else:
        source_lines = iter(stream)
    for n, raw in enumerate(source_lines, start=1):
        what = f"line {n} of {source}"
        try:
            if isinstance(raw, bytes):
                raw = raw.rstrip(b"\r\n")
            text = read_text(raw, what=what, encoding=encoding).strip()
            if not text and skip_blank:
                continue
            yield n, check_visible(text, what)
        except UsageProblem as e:
            yield n, e
