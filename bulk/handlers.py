"""The handler API: the job a handler receives, the errors it may raise, and the outcome it leads to.

Plug-in authors import this module (`from bulk.handlers import PermanentError, RetriableError`), so it
depends on no database, queue or web code: the drainer (`bulk.drainer`) runs handlers and records
their outcomes through `bulk.queue`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any, NamedTuple, TypeVar

from bulk.jsonutil import loads
from bulk.phrases import Parameters, render
from bulk.routes.catalogue import Route
from bulk.statuses import OperationStatus
from schemas.base import load_arguments


class OperationError(Exception):
    """Base of the failures a handler raises on purpose; `message` may carry %placeholders."""

    status = OperationStatus.NOT_RETRIABLY_FAILED
    # The answer when the same call is made synchronously (Magento: LocalizedException -> 400).
    http_status = 400
    retry_after: float | None = None

    def __init__(self, message: str, parameters: Parameters = None, code: int = 0) -> None:
        super().__init__(render(message, parameters))
        self.code = code
        # Kept raw for a synchronous error body, which carries the placeholders and their values.
        self.message = message
        self.parameters = parameters


class RetriableError(OperationError):
    """The operation may succeed if retried unchanged (status 2, after BULK_RETRY_ATTEMPTS tries).

    `retry_after`: seconds before the next try is worth it (an upstream's `Retry-After`).
    """

    status = OperationStatus.RETRIABLY_FAILED

    def __init__(self, message: str, parameters: Parameters = None, code: int = 0,
                 retry_after: float | None = None) -> None:
        super().__init__(message, parameters, code)
        self.retry_after = retry_after


class PermanentError(OperationError):
    """The data must change before a retry can succeed (status 3)."""


class ClaimedOperation(NamedTuple):
    """An operation handed to a drainer, valid while its claim token is current."""

    id: int
    bulk_uuid: str
    operation_key: int
    topic_name: str
    route_key: str
    serialized_data: str | None
    attempts: int
    # The entity it changes (`bulk.entity_keys`), if any: one claim may hold several operations of
    # one entity, which then run in id order (`bulk.queue.plan_claim`, chains).
    entity_key: str | None = None


@dataclass(slots=True)
class Outcome:
    """What running one operation produced, in Magento's terms."""

    operation_id: int
    status: OperationStatus
    result_message: str | None = None
    error_code: int | None = None
    result_serialized_data: str | None = None
    # A retriable failure's own hint of when to try again, in seconds (an upstream's Retry-After).
    # Read by the drainer's retry policy; never stored.
    retry_after: float | None = None

    def __post_init__(self) -> None:
        if self.status not in (OperationStatus.COMPLETE, OperationStatus.RETRIABLY_FAILED,
                               OperationStatus.NOT_RETRIABLY_FAILED, OperationStatus.REJECTED):
            raise ValueError(f"an outcome cannot leave an operation {self.status!r}")


@dataclass
class Job:
    """One call as a handler sees it: the route, Magento's `serialized_data` envelope (arguments and
    store), the queued operation (None for a synchronous call) and the handler that runs it."""

    route: Route
    serialized_data: str | None
    operation: ClaimedOperation | None = None
    handler: Handler | None = None

    @classmethod
    def of(cls, operation: ClaimedOperation, route: Route, handler: Handler | None = None) -> Job:
        """The job of a claimed operation."""
        return cls(route, operation.serialized_data, operation, handler)

    @property
    def bulk_uuid(self) -> str | None:
        return self.operation.bulk_uuid if self.operation is not None else None

    @property
    def operation_key(self) -> int | None:
        return self.operation.operation_key if self.operation is not None else None

    @cached_property
    def envelope(self) -> dict[str, Any]:
        return loads(self.serialized_data or "{}")

    @property
    def store_id(self) -> int | None:
        store_id = self.envelope.get("store_id")
        return None if store_id is None else int(store_id)

    @cached_property
    def meta(self) -> dict[str, Any]:
        """The argument map as the client sent it (`meta_information`)."""
        return loads(self.envelope.get("meta_information") or "{}")

    @cached_property
    def arguments(self) -> dict[str, Any]:
        """The argument map converted by the route's schema (names decoded, types cast, defaults)."""
        schema = self.route.schema_instance
        return dict(self.meta) if schema is None else load_arguments(schema, self.meta)

    @property
    def transactional(self) -> bool:
        """Its handler's effects are writes to this service's database (see `transactional`)."""
        return is_transactional(self.handler)

    @property
    def pure(self) -> bool:
        return is_pure(self.handler)

    @property
    def no_op(self) -> bool:
        """Its handler does nothing and completes (see `no_op`): the drainer does not call it."""
        return is_no_op(self.handler)


Handler = Callable[[Job], Any]
# A processing mode's (or the plug-ins') choice of handler for each route.
HandlerFor = Callable[[Route], Handler]

H = TypeVar("H", bound=Callable[..., Any])


def transactional(handler: H) -> H:
    """Mark a handler whose effects are writes to this service's database.

    The drainer runs it inside the transaction that records its outcome (with a savepoint that
    undoes a failed operation's writes), so its effects happen exactly once, even across a kill.
    Handlers with outside effects (an upstream call) are not marked: they run at least once.
    """
    setattr(handler, "transactional", True)
    return handler


def pure(handler: H) -> H:
    """Mark a handler without side effects: it runs in the recording transaction, no savepoint needed."""
    setattr(handler, "pure", True)
    return transactional(handler)


def no_op(handler: H) -> H:
    """Mark a handler that does nothing and completes, whatever its job.

    Their outcome is known when they are accepted: `bulk.accept` stores them complete with their
    route's success message and the drainer only publishes their bulk (`bulk.unpublished`). Those
    stored open (accepted while the route's handler was another) the drainer records complete, all
    of a batch in one statement, without calling the handler or making a job and an outcome of each:
    at full speed that per-operation work was most of what draining cost. A wrapper that does
    something of its own (`Processing.add_wrapper`) must not keep this mark.
    """
    setattr(handler, "no_op", True)
    return pure(handler)


def is_transactional(handler: Handler | None) -> bool:
    return getattr(handler, "transactional", False)


def is_pure(handler: Handler | None) -> bool:
    return getattr(handler, "pure", False)


def is_no_op(handler: Handler | None) -> bool:
    return getattr(handler, "no_op", False)


@no_op
def accept_handler(job: Job) -> Any:
    """Mark the operation complete without side effects (the service in `accept` mode)."""
    return None
