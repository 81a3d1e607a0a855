"""Reading bulks and operations back for the status endpoints (never writes)."""

from __future__ import annotations

import operator
from functools import reduce
from typing import Any

import peewee

from bulk.db import tuples
from bulk.errors import parse_int
from bulk.models import Bulk, Operation
from bulk.search_criteria import Filter, SearchCriteria

# The fields Magento's operation search filters and sorts on, and the column each one reads.
SEARCH_FIELDS: dict[str, peewee.Field] = {
    "bulk_uuid": Operation.bulk,
    "status": Operation.status,
    "topic_name": Operation.topic_name,
    "start_time": Bulk.start_time,
}
_INTEGER_FIELDS = {"status"}


def find_bulk(bulk_uuid: str) -> Bulk | None:
    return Bulk.get_or_none(Bulk.uuid == bulk_uuid)


def operation_rows(bulk_uuid: str, columns: tuple[str, ...]) -> list[tuple]:
    """The bulk's operations as tuples of `columns`, in request order."""
    selected = [_column(name) for name in columns]
    return tuples(Operation.select(*selected).where(Operation.bulk == bulk_uuid).order_by(Operation.operation_key))


def _column(name: str) -> peewee.Field:
    return Operation.bulk if name == "bulk_uuid" else getattr(Operation, name)


def status_counts(bulk_uuid: str) -> dict[int, int]:
    """How many of the bulk's operations have each status, in one aggregate query."""
    return dict(tuples(Operation.select(Operation.status, peewee.fn.COUNT(peewee.SQL("*")))
                       .where(Operation.bulk == bulk_uuid).group_by(Operation.status)))


def count_with_status(bulk_uuid: str, status: int) -> int:
    return Operation.select().where(Operation.bulk == bulk_uuid, Operation.status == status).count()


def search_operations(criteria: SearchCriteria, columns: tuple[str, ...],
                      visible: peewee.Expression | None = None) -> tuple[list[tuple], int]:
    """Matching operations (each row: `columns` then the bulk's start_time) and the total count,
    among the bulks `visible` selects (all when None)."""
    query = (Operation.select(*[_column(name) for name in columns], Bulk.start_time)
             .join(Bulk, on=(Operation.bulk == Bulk.uuid)))
    if visible is not None:
        query = query.where(visible)
    for group in criteria.filter_groups:
        # Filters in a group are alternatives (OR); groups all apply (AND), as in Magento.
        conditions = [_condition(f) for f in group]
        if conditions:
            query = query.where(reduce(operator.or_, conditions))
    total = query.count()
    order = [(SEARCH_FIELDS[s.field].desc() if s.direction == "DESC" else SEARCH_FIELDS[s.field].asc())
             for s in criteria.sort_orders]
    query = query.order_by(*order, Bulk.id, Operation.operation_key)
    if criteria.page_size is not None:
        page = criteria.current_page or 1
        query = query.limit(criteria.page_size).offset((page - 1) * criteria.page_size)
    return tuples(query), total


def _condition(item: Filter) -> peewee.Expression:
    column = SEARCH_FIELDS[item.field]
    condition = item.condition_type
    if condition == "null":
        return column.is_null()
    if condition == "notnull":
        return column.is_null(False)
    if condition in ("in", "nin"):
        values = [_typed(item.field, part.strip()) for part in item.value.split(",") if part.strip()]
        return column.in_(values) if condition == "in" else column.not_in(values)
    if condition in ("like", "nlike"):
        # Case-insensitive like MySQL's default collation: ILIKE (PostgreSQL) / LIKE (SQLite).
        expression = column ** item.value
        return expression if condition == "like" else ~expression
    value = _typed(item.field, item.value)
    return {
        "eq": column == value, "neq": column != value, "gt": column > value,
        "gteq": column >= value, "lt": column < value, "lteq": column <= value,
    }[condition]


def _typed(field_name: str, value: str) -> Any:
    if field_name not in _INTEGER_FIELDS:
        return value
    return parse_int(value)
