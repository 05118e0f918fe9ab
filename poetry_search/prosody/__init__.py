"""Prosody of regulated verse: 平水韵 tones and rhymes (``rhymes``) and the 格律 checker (``meter``).

Schemes other than 平水韵 (词林正韵 for ci, 中华新韵 for modern tones) are meant to sit beside
``rhymes`` as modules of the same shape.
"""

from .rhymes import (
    Group,
    all_groups,
    group,
    group_members,
    groups_of,
    line_tones,
    lookup,
    rhyme_group,
    tones_of,
)

__all__ = [
    "Group", "all_groups", "group", "group_members", "groups_of", "line_tones", "lookup",
    "rhyme_group", "tones_of",
]
