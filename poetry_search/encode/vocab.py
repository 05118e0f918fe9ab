"""Queries the model cannot read: every token of them is ``[UNK]``.

Such a query would be encoded as [CLS] [UNK]… [SEP], the same vector for 😀 as for 🌙, and return
the same arbitrary lines for all of them. It is refused instead, naming the characters the model
does not know. The check works on token ids and offsets, so any tokenizer can feed it: the torch
encoder's Hugging Face tokenizer, or the ``tokenizers`` library of a torch-free query path.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..errors import UsageProblem


def unknown_only(ids: Sequence[int], offsets: Sequence[tuple[int, int]], unk_id: int) -> bool:
    """True when every token that covers text (special tokens have empty offsets) is ``unk_id``,
    and there is at least one such token."""
    content = [i for i, (start, end) in zip(ids, offsets) if end > start]
    return bool(content) and all(i == unk_id for i in content)


def unknown_characters(text: str, ids: Sequence[int], offsets: Sequence[tuple[int, int]], unk_id: int) -> list[str]:
    """The characters of ``text`` behind ``[UNK]`` tokens (one token may cover a run, 😀😀), in
    order, without repeats."""
    out: list[str] = []
    for i, (start, end) in zip(ids, offsets):
        if i == unk_id:
            out.extend(c for c in text[start:end] if c not in out and not c.isspace())
    return out


def refuse_unknown(texts: Sequence[str], ids: Sequence[Sequence[int]], offsets: Sequence[Sequence[tuple[int, int]]],
                   unk_id: int | None, originals: Sequence[str] | None = None) -> None:
    """Raise UsageProblem for the first text whose tokens are all ``[UNK]``.

    ``texts`` are what was tokenized (normalised queries), ``ids``/``offsets`` their tokens (with or
    without special tokens), ``originals`` what the user typed, for the message.
    """
    if unk_id is None:
        return
    for n, (text, tid, off) in enumerate(zip(texts, ids, offsets)):
        if unknown_only(tid, off, unk_id):
            chars = " ".join(unknown_characters(text, tid, off, unk_id))
            shown = originals[n] if originals is not None else text
            raise UsageProblem(f"the model does not know any character of the query {shown!r} "
                               f"(unknown to its vocabulary: {chars}): search with Chinese characters")
