"""Orders as `OrderRepositoryInterface::save` keeps them: create, or update the entity by id."""

from __future__ import annotations

from typing import Any

import peewee

from bulk.db import write_transaction
from bulk.handlers import PermanentError
from bulk.phrases import UNIQUE_CONSTRAINT
from bulk.store.models import SalesOrder
from bulk.store.values import column_text, merge_values, without

NEW_ORDER_VALUES = {"state": "new", "status": "pending"}
_NOT_VALUES = ("entity_id", "increment_id", "created_at", "updated_at")


def save(entity: dict[str, Any], now: str) -> dict[str, Any]:
    """Merge into the order with this `entity_id`, or create one (increment id `000000001` style)."""
    changes = without(entity, _NOT_VALUES)
    if entity.get("increment_id"):
        column_text(entity["increment_id"], "increment_id", SalesOrder.increment_id.max_length)
    with write_transaction():
        row = SalesOrder.get_or_none(SalesOrder.id == entity.get("entity_id")) if entity.get("entity_id") else None
        if row is None:
            next_id = (SalesOrder.select(peewee.fn.MAX(SalesOrder.id)).scalar() or 0) + 1
            row = SalesOrder(increment_id=entity.get("increment_id") or f"{next_id:09d}", created_at=now,
                             values=merge_values(NEW_ORDER_VALUES, changes))
        else:
            row.values = merge_values(row.values, changes)
            row.increment_id = entity.get("increment_id") or row.increment_id
        _check_unique(row)
        row.updated_at = now
        row.save()
        if row.values.get("items"):
            # Items belong to the order: they learn its id (known once a new order is saved).
            row.values = {**row.values, "items": [
                {**item, "item_id": item.get("item_id") or index + 1, "order_id": row.id}
                for index, item in enumerate(row.values["items"])]}
            row.save()
    return output(row)


def _check_unique(row: SalesOrder) -> None:
    """The increment id is unique, as `sales_order`'s key makes it (AlreadyExistsException)."""
    taken = SalesOrder.select().where(SalesOrder.increment_id == row.increment_id)
    if row.id is not None:
        taken = taken.where(SalesOrder.id != row.id)
    if taken.exists():
        raise PermanentError(UNIQUE_CONSTRAINT)


def output(row: SalesOrder) -> dict[str, Any]:
    return {"entity_id": row.id, "increment_id": row.increment_id, "created_at": row.created_at,
            "updated_at": row.updated_at, **row.values}
