"""What the queue holds now, for `/metrics` and `/health/ready`: open operations and the oldest one's age."""

from __future__ import annotations

from datetime import UTC, datetime

from bulk import queue
from bulk.models import Bulk, Operation
from bulk.statuses import OperationStatus


def open_operations() -> int:
    return queue.open_count()


def oldest_open_age(now: float) -> float | None:
    """Seconds since the bulk of the oldest open operation was accepted; None when nothing is open."""
    row = (Operation.select(Bulk.start_time)
           .join(Bulk, on=(Operation.bulk == Bulk.uuid))
           .where(Operation.status == OperationStatus.OPEN)
           # The (status, id) index: the first open row is the oldest, without reading the others.
           .order_by(Operation.id).limit(1).tuples().first())
    if row is None:
        return None
    start = row[0] if isinstance(row[0], datetime) else datetime.fromisoformat(str(row[0]))
    return max(0.0, now - start.replace(tzinfo=UTC).timestamp())
