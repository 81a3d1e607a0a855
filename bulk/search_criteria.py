"""Magento's `searchCriteria[...]` query syntax: parse it, check it, and echo it back."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from bulk.errors import WebapiError, parse_int
from bulk.phrases import INVALID_TYPE, REQUIRED_FIELD, UNSUPPORTED_FIELD
from schemas.base import normalise_key

CONDITIONS = ("eq", "neq", "gt", "gteq", "lt", "lteq", "like", "nlike", "in", "nin", "null", "notnull")
INVALID_CONDITION = 'Condition type "%conditionType" is not supported. Use one of: %supported.'
INVALID_DIRECTION = 'Sort direction "%direction" is not supported. Use ASC or DESC.'
INVALID_PAGE = 'The "%fieldName" value must be 1 or greater.'

_BRACKETS = re.compile(r"\[([^\]]*)\]")
# The databases' largest OFFSET: a page further on can only be empty.
_MAX_OFFSET = 2**63 - 1


@dataclass(frozen=True)
class Filter:
    field: str
    value: str
    condition_type: str


@dataclass(frozen=True)
class SortOrder:
    field: str
    direction: str


@dataclass(frozen=True)
class SearchCriteria:
    filter_groups: list[list[Filter]] = field(default_factory=list)
    sort_orders: list[SortOrder] = field(default_factory=list)
    page_size: int | None = None
    current_page: int | None = None

    @property
    def offset(self) -> int:
        """How many matches come before the requested page (0 without a page size)."""
        if self.page_size is None:
            return 0
        return min(((self.current_page or 1) - 1) * self.page_size, _MAX_OFFSET)

    def echo(self) -> dict[str, Any]:
        """`search_criteria` as Magento returns it: filter values stay the strings they were sent as."""
        body: dict[str, Any] = {"filter_groups": [
            {"filters": [{"field": f.field, "value": f.value, "condition_type": f.condition_type}
                         for f in group]}
            for group in self.filter_groups]}
        if self.sort_orders:
            body["sort_orders"] = [{"field": s.field, "direction": s.direction} for s in self.sort_orders]
        if self.page_size is not None:
            body["page_size"] = self.page_size
        if self.current_page is not None:
            body["current_page"] = self.current_page
        return body


def parse_search_criteria(pairs: Iterable[tuple[str, str]], fields: Iterable[str] | None) -> SearchCriteria:
    """Build criteria from query pairs like `searchCriteria[filter_groups][0][filters][0][field]=status`.

    `fields` lists the fields that may be filtered and sorted on; None allows any (entity attributes).
    """
    tree: dict[str, Any] = {}
    present = False
    for key, value in pairs:
        name, _, rest = key.partition("[")
        if normalise_key(name) != "searchcriteria":
            continue
        present = True
        path = _BRACKETS.findall("[" + rest) if rest else []
        _put(tree, [normalise_key(part) for part in path], value)
    if not present:
        raise WebapiError(REQUIRED_FIELD, {"fieldName": "searchCriteria"})
    allowed = None if fields is None else set(fields)
    return SearchCriteria(
        filter_groups=[[_filter(entry, allowed) for entry in _entries(group.get("filters"))]
                       for group in _entries(tree.get("filtergroups"))],
        sort_orders=[_sort_order(entry, allowed) for entry in _entries(tree.get("sortorders"))],
        page_size=_positive_int(tree.get("pagesize"), "page_size"),
        current_page=_positive_int(tree.get("currentpage"), "current_page"),
    )


def _put(tree: dict[str, Any], path: list[str], value: str) -> None:
    node = tree
    for part in path[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = node[part] = {}
        node = child
    if path:
        node[path[-1]] = value


def _entries(node: Any) -> list[dict[str, Any]]:
    """PHP arrays arrive as dicts keyed "0", "1", ...: their values in index order, other keys after."""
    if not isinstance(node, dict):
        return []
    return [node[key] for key in sorted(node, key=_index_order) if isinstance(node[key], dict)]


def _index_order(key: str) -> tuple[bool, int, str]:
    # Compared as digit strings, never converted: "²" is a digit to str.isdigit, and int() refuses 5,000 digits.
    number = key.lstrip("0") if key.isascii() and key.isdigit() else None
    return (number is None, 0, key) if number is None else (False, len(number), number)


def _filter(entry: dict[str, Any], allowed: set[str] | None) -> Filter:
    field_name = _field(entry.get("field"), allowed)
    condition = (_scalar(entry.get("conditiontype"), "string") or "eq").lower()
    if condition not in CONDITIONS:
        raise WebapiError(INVALID_CONDITION, {"conditionType": condition, "supported": ", ".join(CONDITIONS)})
    return Filter(field_name, _scalar(entry.get("value"), "string") or "", condition)


def _sort_order(entry: dict[str, Any], allowed: set[str] | None) -> SortOrder:
    field_name = _field(entry.get("field"), allowed)
    given = _scalar(entry.get("direction"), "string")
    direction = (given or "ASC").upper()
    if direction not in ("ASC", "DESC"):
        raise WebapiError(INVALID_DIRECTION, {"direction": given})
    return SortOrder(field_name, direction)


def _field(value: Any, allowed: set[str] | None) -> str:
    name = _scalar(value, "string")
    if not name:
        raise WebapiError(REQUIRED_FIELD, {"fieldName": "field"})
    if allowed is not None and name not in allowed:
        raise WebapiError(UNSUPPORTED_FIELD, {"fieldName": name})
    return name


def _scalar(value: str | dict | None, type_name: str) -> str | None:
    """A query value where Magento wants a scalar; brackets after its name made it a map (PHP array),
    which Magento's TypeProcessor refuses naming the type it got."""
    if isinstance(value, dict):
        raise WebapiError(INVALID_TYPE, {"value": "array", "type": type_name})
    return value


def _positive_int(value: Any, name: str) -> int | None:
    value = _scalar(value, "int")
    if value is None or value == "":
        return None
    number = parse_int(value)
    if number < 1:
        raise WebapiError(INVALID_PAGE, {"fieldName": name})
    return number
