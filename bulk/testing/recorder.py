"""Recorded operations: what each operation was submitted with and how it ended, for assertions.

A completed operation's `serialized_data` is cleared in the database (as Magento does), so the
recorder, a handler wrapper, keeps the payload each operation carried when its handler ran.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from bulk.db import database, tuples
from bulk.handlers import Handler, Job
from bulk.jsonutil import loads
from bulk.models import Operation
from bulk.routes.catalogue import Route
from bulk.secret_fields import mask
from bulk.statuses import OperationStatus
from bulk.unpublished import shown_result_message, shown_serialized_data, shown_status, with_bulk


@dataclass(frozen=True)
class RecordedOperation:
    """One operation: where it came from, its decoded arguments, and its state now."""

    bulk_uuid: str
    id: int
    topic_name: str
    route: str
    store_id: int | None
    # The argument map as the client sent it (decoded from Magento's `serialized_data`).
    arguments: dict[str, Any] | None
    status: OperationStatus
    result_message: str | None
    error_code: int | None
    # The handler's return value (decoded `result_serialized_data`).
    result: Any
    attempts: int

    def to_json(self) -> dict[str, Any]:
        return {"bulk_uuid": self.bulk_uuid, "id": self.id, "topic_name": self.topic_name,
                "route": self.route, "store_id": self.store_id, "arguments": self.arguments,
                "status": int(self.status), "result_message": self.result_message,
                "error_code": self.error_code, "result": self.result, "attempts": self.attempts}


def decode_serialized_data(serialized_data: str | None) -> tuple[int | None, dict[str, Any] | None]:
    """The store id and the argument map inside Magento's `serialized_data` envelope (secrets masked)."""
    if serialized_data is None:
        return None, None
    envelope = loads(mask(serialized_data) or "{}")
    store_id = envelope.get("store_id")
    return (None if store_id is None else int(store_id)), loads(envelope.get("meta_information") or "{}")


# As readers show them (`bulk.unpublished`). The recorder's own wrapper keeps every route from being
# `no_op`, so its service stores no outcome when accepting; the database may hold such bulks all the same.
_COLUMNS = (Operation.id, Operation.bulk, Operation.operation_key, Operation.topic_name, Operation.route_key,
            shown_serialized_data(), shown_status(), shown_result_message(), Operation.error_code,
            Operation.result_serialized_data, Operation.attempts)


class Recorder:
    """Keeps each run operation's payload, and which thread ran which operation in what order."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._payloads: dict[int, str | None] = {}
        self._runs: list[tuple[int, int]] = []

    def wrap(self, route: Route, handler: Handler) -> Handler:
        """The handler wrapper given to `Processing.add_wrapper`."""

        def recorded(job: Job) -> Any:
            if job.operation is not None:  # wrappers only see queued operations
                with self._lock:
                    self._payloads.setdefault(job.operation.id, job.operation.serialized_data)
                    self._runs.append((threading.get_ident(), job.operation.id))
            return handler(job)

        return recorded

    def mark(self) -> int:
        """A position in the run log, for `ran_since`."""
        with self._lock:
            return len(self._runs)

    def ran_since(self, mark: int, thread_id: int) -> list[int]:
        """Operation ids run by `thread_id` after `mark`, in the order they ran (each once)."""
        with self._lock:
            runs = self._runs[mark:]
        return list(dict.fromkeys(operation_id for thread, operation_id in runs if thread == thread_id))

    def clear(self) -> None:
        with self._lock:
            self._payloads.clear()
            self._runs.clear()

    def operations(self, *, bulk_uuid: str | None = None, topic: str | None = None,
                   route: str | None = None, status: int | None = None,
                   ids: Iterable[int] | None = None) -> list[RecordedOperation]:
        """Operations in submission order (or in `ids` order), filtered by what is given."""
        query = with_bulk(Operation.select(*_COLUMNS))
        for column, value in ((Operation.bulk, bulk_uuid), (Operation.topic_name, topic),
                              (Operation.route_key, route), (shown_status(), status)):
            if value is not None:
                query = query.where(column == value)
        wanted = None if ids is None else list(ids)
        if wanted is not None:
            query = query.where(Operation.id.in_(wanted))
        with database.connection_context():
            rows = tuples(query.order_by(Operation.id))
        if wanted is not None:
            position = {operation_id: index for index, operation_id in enumerate(wanted)}
            rows.sort(key=lambda row: position[row[0]])
        with self._lock:
            payloads = [row[5] if row[5] is not None else self._payloads.get(row[0]) for row in rows]
        return [self._recorded(row, payload) for row, payload in zip(rows, payloads, strict=True)]

    @staticmethod
    def _recorded(row: tuple, payload: str | None) -> RecordedOperation:
        (_, bulk_uuid, key, topic, route_key, _, status, message, error_code, result, attempts) = row
        store_id, arguments = decode_serialized_data(payload)
        return RecordedOperation(bulk_uuid, key, topic, route_key, store_id, arguments, OperationStatus(status),
                                 message, error_code, None if result is None else loads(result), attempts)
