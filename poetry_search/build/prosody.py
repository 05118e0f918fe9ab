"""The build's prosody stage: every distinct line's 平水韵 tone string and rhyme, the rhyme book's
counts and the table's coverage, written into the store (migration ``005_prosody``).

A line's tones are read from the corpus's own script (Tang and Song shi are traditional, and
``prosody.rhymes`` looks a character up as written first: s2t would turn 征 into 徵). The
embedded text is simplified, so the original is brought to one character per character of the
text first (``written_form``); a character unknown as written takes the tone of its simplified
form. A distinct line keeps the tones of its first occurrence.
"""

from __future__ import annotations

import logging
import re
import sys
import time
import unicodedata
from collections import Counter
from collections.abc import Sequence

import numpy as np

from ..corpus.normalize import (
    _ANNOTATION,
    _ANY_PUNCT,
    _DROP,
    _SPACE,
    _STRUCTURE,
    _SUPPLIED_CHAR,
    UNKNOWN_CHAR,
    Normalizer,
)
from ..corpus.textin import fold_invisible
from ..prosody import rhymes
from ..prosody.rhymes import BOTH, PING, UNKNOWN, ZE

log = logging.getLogger("poetry_search")

SCHEME = "平水韵"
#: A tone mark's code in the stored arrays (``prosody_arrays``, name ``tones``).
TONE_CODES = {UNKNOWN: 0, PING: 1, ZE: 2, BOTH: 3}
_HAN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff\U00020000-\U0003ffff]")
_CODE_OF = str.maketrans({UNKNOWN: "\x00", PING: "\x01", ZE: "\x02", BOTH: "\x03"})
TOP_MISSING = 20


def written_form(original: str, text: str, normalizer: Normalizer) -> str:
    """The line as the corpus writes it, one character for each character of ``text`` (its
    embedded form): the original itself when it is as long, else the original cleaned the way the
    normaliser cleans it but left in its own script, else (when even that differs in length)
    ``text``."""
    if len(original) == len(text):
        return original
    s = _STRUCTURE.sub(lambda m: normalizer.structures.get(m.group(0), UNKNOWN_CHAR), fold_invisible(original))
    s = unicodedata.normalize("NFKC", s)
    s = _ANNOTATION.sub("", s)
    s = _SUPPLIED_CHAR.sub(r"\1", s)
    s = _ANY_PUNCT.sub("", _DROP.sub("", _SPACE.sub("", s)))
    return s if len(s) == len(text) else text


def line_prosody(text: str, written: str) -> tuple[str, tuple[int, ...]]:
    """(tone string, rhyme group numbers of the last character) of one line: one mark per
    character of ``text`` (平, 仄, 中, ？) read from ``written`` (``written_form``), a mark ？ as
    written replaced by that of the simplified character when it has one."""
    tones = rhymes.line_tones(written)
    if UNKNOWN in tones and written != text:
        plain = rhymes.line_tones(text)
        tones = "".join(p if m == UNKNOWN else m for m, p in zip(tones, plain))
    groups = rhymes.readings(written[-1]) if written else ()
    if not groups and text and text[-1] != written[-1:]:
        groups = rhymes.readings(text[-1])
    return tones, tuple(g.number for g in groups)


def rhyme_form(text: str, written: str) -> str:
    """The form the table lists of the line's last character (as written, else simplified), the
    character whose groups are the line's rhyme; '' when the table has neither."""
    form = rhymes.lookup(written[-1])[0] if written else ""
    if not form and text and text[-1] != written[-1:]:
        form = rhymes.lookup(text[-1])[0]
    return form


def group_names(numbers: Sequence[int]) -> list[str]:
    """Group numbers (1..106) to their names (一东, 七阳...)."""
    return [rhymes.group(int(n)).name for n in numbers]


def build_prosody(store, texts: Sequence[str], normalizer: Normalizer, progress: bool = False) -> dict:
    """Fill the prosody tables of a freshly loaded store from its lines (in ``lines.id`` order):
    each text's tone string and rhyme (table ``prosody`` and the arrays lookups use), each rhyme
    character's count of lines ending in it (``rhyme_chars``, by the form the table lists). Returns
    the manifest's record: the scheme, the table's coverage by occurrence, the time taken."""
    t0 = time.perf_counter()
    n = len(texts)
    tones: list[str | None] = [None] * n
    groups: list[tuple[int, ...]] = [()] * n
    finals: Counter[str] = Counter()
    missing: Counter[str] = Counter()
    known = unknown = 0
    from tqdm import tqdm

    bar = tqdm(total=n, desc="tones and rhymes", unit="line", unit_scale=True, file=sys.stderr, disable=not progress,
               dynamic_ncols=True, mininterval=0.5)
    for rows in store.line_originals():
        for text_id, original in rows:
            text = texts[text_id]
            written = written_form(original, text, normalizer)
            t, g = line_prosody(text, written)
            if tones[text_id] is None:
                tones[text_id], groups[text_id] = t, g
                bar.update(1)
            form = rhyme_form(text, written)
            if form:
                finals[form] += 1
            holes = t.count(UNKNOWN)
            known += len(t) - holes
            if holes:
                for c, m in zip(written, t):
                    if m == UNKNOWN and _HAN.match(c):
                        missing[c] += 1
                        unknown += 1
    bar.close()
    if any(t is None for t in tones):
        raise ValueError("a text without any line: the store is inconsistent")
    store.insert_prosody((i, tones[i], " ".join(group_names(groups[i]))) for i in range(n))
    lengths = np.fromiter((len(t) for t in tones), np.int32, n)
    codes = np.frombuffer("".join(tones).translate(_CODE_OF).encode("ascii"), np.uint8)
    counts = np.fromiter((len(g) for g in groups), np.uint8, n)
    flat = np.fromiter((x for g in groups for x in g), np.uint8, int(counts.sum()))
    for name, arr in (("tones", codes), ("tone_lengths", lengths), ("rhyme_counts", counts), ("rhyme_groups", flat)):
        store.set_prosody_array(name, arr.dtype.str, arr.tobytes())
    store.insert_rhyme_chars(finals.items())
    total = known + unknown
    record = {
        "scheme": SCHEME,
        "characters": total,
        "covered": known,
        "coverage": round(known / total, 6) if total else None,
        "missing": [[c, k] for c, k in missing.most_common(TOP_MISSING)],
        "distinct_missing": len(missing),
        "lines_with_rhyme": int((counts > 0).sum()),
        "build_seconds": round(time.perf_counter() - t0, 2),
    }
    log.info(f"tones and rhymes of {n:,} lines in {record['build_seconds']}s; the 平水韵 table covers "
             f"{100 * (record['coverage'] or 0):.3f}% of {total:,} characters")
    return record


__all__ = ["SCHEME", "TONE_CODES", "build_prosody", "group_names", "line_prosody", "rhyme_form", "written_form"]
