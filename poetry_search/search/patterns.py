"""What users type into ``find``: a fragment (谁先觉) or a pattern with ``?`` (one character) and
``*`` (any run), parsed into the ``Pattern`` the lexicon answers."""

from __future__ import annotations

from collections.abc import Callable

from ..corpus.textin import fold_invisible, quote, read_text
from ..errors import UsageProblem
from ..store.lexicon import Pattern

WILD_ONE = "?？"
WILD_ANY = "*＊"


def parse_pattern(raw: str | None, fold_literal: Callable[[str], str], what: str = "pattern") -> Pattern:
    """Parse ``raw``; ``fold_literal`` normalises each literal run exactly like the indexed text
    (script folding, punctuation dropped), so 誰先覺 finds 谁先觉."""
    if raw is None or not raw.strip():
        raise UsageProblem(f"the {what} is empty: pass a fragment such as 谁先觉, or a pattern such as '?花*' "
                           "(? one character, * any run)")
    s = fold_invisible(read_text(raw, what=f"the {what}")).strip()  # pasted zero-width characters must not split or anchor a pattern
    for c in WILD_ONE[1:]:
        s = s.replace(c, "?")
    for c in WILD_ANY[1:]:
        s = s.replace(c, "*")
    if "*" not in s and "?" not in s:
        lit = fold_literal(s)
        if not lit:
            raise UsageProblem(f"the {what} {quote(raw)} has no characters to search once punctuation is removed: pass some characters")
        return Pattern(raw, (lit,), False, False)
    # literal runs are folded one by one; the wildcards between them stay where they are. A run that
    # folds to nothing (punctuation) leaves its '*' in place: the pattern is anchored at an end
    # only when text that is searched stands there.
    parts = ["?".join(fold_literal(run) if run else "" for run in part.split("?")) for part in s.split("*")]
    segments = [seg for seg in parts if seg]
    if not any(c != "?" for seg in segments for c in seg):
        raise UsageProblem(f"the {what} {quote(raw)} has no literal character: add at least one, e.g. '?花*' "
                           "(matching on wildcards alone would list every line)")
    return Pattern(raw, tuple(segments), bool(parts[0]), bool(parts[-1]))
