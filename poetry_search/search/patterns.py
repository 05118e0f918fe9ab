"""What users type into ``find``: a fragment (谁先觉) or a pattern with ``?`` (one character) and
``*`` (any run), parsed into the ``Pattern`` the lexicon answers."""

from __future__ import annotations

from collections.abc import Callable

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
    s = raw.strip()
    for c in WILD_ONE[1:]:
        s = s.replace(c, "?")
    for c in WILD_ANY[1:]:
        s = s.replace(c, "*")
    if "*" not in s and "?" not in s:
        lit = fold_literal(s)
        if not lit:
            raise UsageProblem(f"the {what} {raw!r} has no characters to search once punctuation is removed: pass some characters")
        return Pattern(raw, (lit,), False, False)
    segments = []
    for part in s.split("*"):
        # literal runs are folded one by one; the wildcards between them stay where they are
        seg = "?".join(fold_literal(run) if run else "" for run in part.split("?"))
        if seg:
            segments.append(seg)
    if not any(c != "?" for seg in segments for c in seg):
        raise UsageProblem(f"the {what} {raw!r} has no literal character: add at least one, e.g. '?花*' "
                           "(matching on wildcards alone would list every line)")
    return Pattern(raw, tuple(segments), not s.startswith("*"), not s.endswith("*"))
