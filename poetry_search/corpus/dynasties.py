"""Dynasties in time order: the page lists a line's echoes earliest first, and its dynasty menu
follows history rather than the alphabet."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeVar

from .normalize import fold

# Folded (simplified) names as the index stores them; 五代 covers 南唐 and 后蜀's poets.
DYNASTY_ORDER: tuple[str, ...] = (
    "先秦", "秦", "汉", "魏", "三国", "晋", "南北朝", "南朝", "北朝", "隋", "唐", "五代", "南唐", "宋", "辽", "金",
    "元", "明", "清", "近现代", "现代", "当代",
)
_RANK = {name: i for i, name in enumerate(DYNASTY_ORDER)}
# What people type for a dynasty besides its Chinese name.
_ALIASES = {
    "tang": "唐", "song": "宋", "yuan": "元", "ming": "明", "qing": "清", "han": "汉", "wudai": "五代",
    "five dynasties": "五代", "xianqin": "先秦", "pre-qin": "先秦", "zhou": "先秦",
}

T = TypeVar("T")


def fold_dynasty(value: str | None) -> str | None:
    """A dynasty as the index stores it: simplified, its one name (tang, 唐朝, 唐代 → 唐; 五代 and
    南北朝 stay whole); None for no dynasty."""
    if not value or not value.strip():
        return None
    v = fold(_ALIASES.get(value.strip().lower(), value))
    if v in _RANK:
        return v
    return v[:-1] if len(v) > 1 and v.endswith(("朝", "代")) else v


def dynasty_rank(dynasty: str | None) -> int:
    """Position of ``dynasty`` in time; unknown or missing dynasties come after every known one."""
    d = fold_dynasty(dynasty)
    if d is None:
        return len(DYNASTY_ORDER) + 1
    return _RANK.get(d, len(DYNASTY_ORDER))


def earliest_first(items: Iterable[T], dynasty=lambda x: x.dynasty) -> list[T]:
    """``items`` sorted by dynasty, earliest first; the sort is stable, so within a dynasty the
    incoming order (usually best score first) is kept."""
    return sorted(items, key=lambda x: dynasty_rank(dynasty(x)))
