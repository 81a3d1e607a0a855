"""Reading bulks and operations back for the status endpoints (never writes)."""

from __future__ import annotations

import operator
from datetime import UTC, datetime
from functools import reduce
from typing import Any

import peewee

from bulk.clock import TIME_FORMAT
from bulk.db import is_postgresql, tuples
from bulk.errors import parse_int
from bulk.like import LikePattern, sql_like
from bulk.models import Bulk, Operation
from bulk.search_criteria import Filter, SearchCriteria
from bulk.unpublished import shown, shown_status, with_bulk

# The fields Magento's operation search filters and sorts on, and what each one reads (the status as
# readers show it: open until an `accept` mode bulk is published, `bulk.unpublished`).
SEARCH_FIELDS: dict[str, peewee.ColumnBase] = {
    "bulk_uuid": Operation.bulk,
    "status": shown_status(),
    "topic_name": Operation.topic_name,
    "start_time": Bulk.start_time,
}
_INTEGER_FIELDS = {"status"}


def find_bulk(bulk_uuid: str) -> Bulk | None:
    return Bulk.get_or_none(Bulk.uuid == bulk_uuid)


def operation_rows(bulk_uuid: str, columns: tuple[str, ...]) -> list[tuple]:
    """The bulk's operations as tuples of `columns` (as readers show them), in request order."""
    selected = [_column(name) for name in columns]
    return tuples(with_bulk(Operation.select(*selected)).where(Operation.bulk == bulk_uuid)
                  .order_by(Operation.operation_key))


def _column(name: str) -> peewee.ColumnBase:
    return Operation.bulk if name == "bulk_uuid" else shown(getattr(Operation, name))


def status_counts(bulk_uuid: str) -> dict[int, int]:
    """How many of the bulk's operations have each status (as shown), in one aggregate query."""
    status = shown_status()
    return dict(tuples(with_bulk(Operation.select(status, peewee.fn.COUNT(peewee.SQL("*"))))
                       .where(Operation.bulk == bulk_uuid).group_by(status)))


def count_with_status(bulk_uuid: str, status: int) -> int:
    return with_bulk(Operation.select()).where(Operation.bulk == bulk_uuid, shown_status() == status).count()


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
        query = query.limit(criteria.page_size).offset(criteria.offset)
    return tuples(query), total


def _condition(item: Filter) -> peewee.Expression:
    column = SEARCH_FIELDS[item.field]
    condition = item.condition_type
    if condition == "null":
        return column.is_null()
    if condition == "notnull":
        return column.is_null(False)
    if condition in ("like", "nlike"):
        expression = sql_like(_as_text(item.field), LikePattern(item.value))
        return expression if condition == "like" else ~expression
    if condition in ("in", "nin"):
        texts = [part.strip() for part in item.value.split(",") if part.strip()]
        compared, values = _comparable(item.field, texts)
        return compared.in_(values) if condition == "in" else compared.not_in(values)
    compared, (value,) = _comparable(item.field, [item.value])
    return {
        "eq": compared == value, "neq": compared != value, "gt": compared > value,
        "gteq": compared >= value, "lt": compared < value, "lteq": compared <= value,
    }[condition]


def _as_text(field_name: str) -> peewee.ColumnBase:
    """The field as MySQL would compare it with text: numbers as digits, times as Magento renders them."""
    column = SEARCH_FIELDS[field_name]
    if field_name in _INTEGER_FIELDS:
        return peewee.Cast(column, "TEXT")
    if field_name == "start_time":
        # PostgreSQL holds a timestamp; SQLite holds this very text, which stays comparable with its index.
        return peewee.fn.to_char(column, "YYYY-MM-DD HH24:MI:SS") if is_postgresql() else column
    return column


def _comparable(field_name: str, texts: list[str]) -> tuple[peewee.ColumnBase, list[Any]]:
    """The column and the filter values in a form both engines compare alike, or Magento's 400."""
    column = SEARCH_FIELDS[field_name]
    if field_name in _INTEGER_FIELDS:
        return column, [parse_int(text) for text in texts]
    if field_name == "start_time":
        times = [_timestamp(text) for text in texts]
        if None in times:
            # Not a time (MySQL would still compare): compare the text, never hand PostgreSQL a bad timestamp.
            return _as_text(field_name), [text if time is None else time.strftime(TIME_FORMAT)
                                          for text, time in zip(texts, times, strict=True)]
        return column, times
    return column, texts


def _timestamp(text: str) -> datetime | None:
    """A filter value as a UTC time (`2023-11-14`, `2023-11-14 22:13:20`, ISO 8601), if it is one."""
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    return value if value.tzinfo is None else value.astimezone(UTC).replace(tzinfo=None)
