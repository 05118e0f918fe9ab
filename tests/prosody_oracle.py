"""The stored tones and rhymes of an index, read straight from its SQLite file, and tone patterns
as regular expressions written independently of search/prosody.py: the oracle of the tests of
find by 平仄 and 韵 (CLI and HTTP)."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path


def db(index: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{index / 'poetry.db'}?mode=ro", uri=True)


def stored_lines(index: Path) -> list[tuple[int, str, str, list[str]]]:
    """(text id, text, stored tones, stored rhyme groups) of every distinct line, by id."""
    with db(index) as conn:
        rows = conn.execute("SELECT texts.id, texts.text, prosody.tones, prosody.rhyme FROM texts "
                            "JOIN prosody ON prosody.text_id = texts.id ORDER BY texts.id").fetchall()
        (n,) = conn.execute("SELECT count(*) FROM texts").fetchone()
    assert len(rows) == n > 10_000
    return [(i, t, tones, rhyme.split()) for i, t, tones, rhyme in rows]


def tones_regex(pattern: str) -> re.Pattern:
    """A tones pattern as a regular expression over stored tone strings (match it whole)."""
    table = {"平": "[平中]", "仄": "[仄中]", "中": "[平仄中]", "?": ".", "*": ".*"}
    return re.compile("".join(table[c] for c in pattern))
