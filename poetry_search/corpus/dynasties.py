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

T = TypeVar("T")


def dynasty_rank(dynasty: str | None) -> int:
    """Position of ``dynasty`` in time; unknown or missing dynasties come after every known one."""
    if not dynasty:
        return len(DYNASTY_ORDER) + 1
    d = fold(dynasty)
    return _RANK.get(d, _RANK.get(d.rstrip("朝代"), len(DYNASTY_ORDER)))


def earliest_first(items: Iterable[T], dynasty=lambda x: x.dynasty) -> list[T]:
    """``items`` sorted by dynasty, earliest first; the sort is stable, so within a dynasty the
    incoming order (usually best score first) is kept."""
    return sorted(items, key=lambda x: dynasty_rank(dynasty(x)))
