"""`searchCriteria` over store entities, evaluated on each entity's flat field view.

Entities keep their attributes in JSON documents and a store view can override them, so filters
run in Python on the values as the requested store sees them: a stand-in's catalogue is small.
Comparisons follow MySQL: numbers compare as numbers, text case-insensitively, NULL matches only
`null`, `like` takes `%` and `_` wildcards (`bulk.like`, linear in the text).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any, TypeVar

from bulk.like import LikePattern
from bulk.search_criteria import Filter, SearchCriteria

T = TypeVar("T")


def search(rows: Sequence[T], fields: Callable[[T], dict[str, Any]],
           criteria: SearchCriteria) -> tuple[list[T], int]:
    """The page of `rows` the criteria select, and how many matched in all."""
    matched = [(row, view) for row, view in ((row, fields(row)) for row in rows)
               if all(any(_matches(view.get(f.field), f) for f in group) for group in criteria.filter_groups if group)]
    # Stable sorts applied last-first give the first sort order priority.
    for order in reversed(criteria.sort_orders):
        matched.sort(key=lambda pair: _sort_key(pair[1].get(order.field)), reverse=order.direction == "DESC")
    total = len(matched)
    if criteria.page_size is not None:
        matched = matched[criteria.offset:criteria.offset + criteria.page_size]
    return [row for row, _ in matched], total


def _matches(value: Any, item: Filter) -> bool:
    condition = item.condition_type
    if condition in ("null", "notnull"):
        return (value is None) == (condition == "null")
    if value is None:
        return False
    if isinstance(value, list):
        # A multi-value attribute (category_ids) matches when one of its values does.
        return any(_matches(entry, item) for entry in value)
    if condition in ("in", "nin"):
        hit = any(_compare(value, part.strip()) == 0 for part in item.value.split(",") if part.strip())
        return hit if condition == "in" else not hit
    if condition in ("like", "nlike"):
        hit = _like(item.value).matches(_text(value))
        return hit if condition == "like" else not hit
    result = _compare(value, item.value)
    return {"eq": result == 0, "neq": result != 0, "gt": result > 0, "gteq": result >= 0,
            "lt": result < 0, "lteq": result <= 0}[condition]


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)):
        return float(value)
    try:
        return float(str(value).strip())
    except ValueError:
        return None


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _compare(value: Any, wanted: str) -> int:
    left, right = _number(value), _number(wanted)
    if left is None or right is None:
        left_text, right_text = _text(value).lower(), wanted.lower()
        return (left_text > right_text) - (left_text < right_text)
    return (left > right) - (left < right)


# Parsed once per search, not once per row.
_like = lru_cache(maxsize=64)(LikePattern)


def _sort_key(value: Any) -> tuple:
    if value is None:
        return (2, 0.0, "")
    number = _number(value)
    return (0, number, "") if number is not None else (1, 0.0, _text(value).lower())
