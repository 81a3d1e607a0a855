"""What readers show of an operation whose outcome was written when it was accepted.

In `accept` mode every operation completes with its route's success message and nothing runs, so
`bulk.accept` writes that outcome with the operation and marks its bulk `outcome_known`. The
drainer then publishes such bulks in order, stamping `finished_at` (`bulk.queue.publish_known`):
one row per bulk, where completing each operation wrote a new version of every operation's row.

Until a bulk is published its operations are open to every reader: status 4, no result message.
Once published they are complete, and like every completed operation they show no payload (Magento
clears it; here the row keeps it until the bulk is purged). Each expression here reads the bulk's
columns, so a query that uses one joins `Bulk` on the operation's bulk.
"""

from __future__ import annotations

import peewee

from bulk.models import Bulk, Operation, unpublished_bulk
from bulk.statuses import OperationStatus

OPEN = int(OperationStatus.OPEN)
FAILED = (int(OperationStatus.RETRIABLY_FAILED), int(OperationStatus.NOT_RETRIABLY_FAILED))


def shown_status() -> peewee.ColumnBase:
    return peewee.Case(None, [(unpublished_bulk(), OPEN)], Operation.status)


def shown_result_message() -> peewee.ColumnBase:
    return peewee.Case(None, [(unpublished_bulk(), None)], Operation.result_message)


def shown_serialized_data() -> peewee.ColumnBase:
    published = (Bulk.outcome_known == peewee.SQL("TRUE")) & Bulk.finished_at.is_null(False)
    return peewee.Case(None, [(published, None)], Operation.serialized_data)


def shown(column: peewee.Field) -> peewee.ColumnBase:
    """`column` of an operation as readers show it (the column itself when nothing overlays it)."""
    if column is Operation.status:
        return shown_status()
    if column is Operation.result_message:
        return shown_result_message()
    if column is Operation.serialized_data:
        return shown_serialized_data()
    return column


def with_bulk(query: peewee.ModelSelect[Operation]) -> peewee.ModelSelect[Operation]:
    """`query` of operations joined with their bulk, which the expressions above read."""
    return query.join(Bulk, on=(Operation.bulk == Bulk.uuid))


def has_open_operation() -> peewee.ColumnBase:
    """For a query of bulks: the bulk has an operation that readers show open."""
    return unpublished_bulk() | peewee.fn.EXISTS(
        Operation.select(peewee.SQL("1")).where(Operation.bulk == Bulk.uuid, Operation.status == OPEN))


def has_failed_operation() -> peewee.ColumnBase:
    """For a query of bulks: the bulk has a failed operation (status 2 or 3). An unpublished bulk has
    none: its outcomes are all complete."""
    return peewee.fn.EXISTS(Operation.select(peewee.SQL("1")).where(
        Operation.bulk == Bulk.uuid, Operation.status.in_(FAILED)))


def unpublished_operations() -> int:
    """How many operations of unpublished bulks there are: open, to every reader."""
    return int(Bulk.select(peewee.fn.COALESCE(peewee.fn.SUM(Bulk.operation_count), 0))
               .where(unpublished_bulk()).scalar() or 0)
