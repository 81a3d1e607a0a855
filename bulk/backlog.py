"""What the queue holds now, for `/metrics` and `/health/ready`: open operations and the oldest one's age."""

from __future__ import annotations

from datetime import UTC, datetime

from bulk import queue
from bulk.models import Bulk, Operation, unpublished_bulk
from bulk.statuses import OperationStatus


def open_operations() -> int:
    return queue.open_count()


def _oldest_open_start() -> datetime | str | None:
    """When the bulk of the oldest open operation was accepted (an unpublished bulk's operations
    count as open, `bulk.unpublished`); None when nothing is open. As the column holds it: SQLite
    may hand back its text."""
    starts = [row[0] for row in (
        (Operation.select(Bulk.start_time)
         .join(Bulk, on=(Operation.bulk == Bulk.uuid))
         .where(Operation.status == OperationStatus.OPEN)
         # The (status, id) index: the first open row is the oldest, without reading the others.
         .order_by(Operation.id).limit(1).tuples().first()),
        # The index of unpublished bulks is in uuid order, which is submission order (UUID version 7).
        Bulk.select(Bulk.start_time).where(unpublished_bulk()).order_by(Bulk.uuid).limit(1).tuples().first(),
    ) if row is not None]
    return min(starts, key=_as_datetime) if starts else None


def _as_datetime(value: datetime | str) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


def oldest_open_age(now: float) -> float | None:
    """Seconds since the bulk of the oldest open operation was accepted; None when nothing is open."""
    start = _oldest_open_start()
    if start is None:
        return None
    return max(0.0, now - _as_datetime(start).replace(tzinfo=UTC).timestamp())
