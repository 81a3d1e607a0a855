"""Running one operation: the job a handler receives, the errors it may raise, and the outcome."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Callable

import peewee

from bulk.catalogue import Route
from bulk.jsonutil import dumps, loads
from bulk.phrases import Parameters, Phrase, render
from bulk.queue import ClaimedOperation, Outcome
from bulk.statuses import OperationStatus
from schemas.base import ArgumentsError, load_arguments

log = logging.getLogger(__name__)


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


@dataclass
class Job:
    """One claimed operation as a handler sees it."""

    operation: ClaimedOperation
    route: Route

    @property
    def bulk_uuid(self) -> str:
        return self.operation.bulk_uuid

    @property
    def operation_key(self) -> int:
        return self.operation.operation_key

    @cached_property
    def envelope(self) -> dict[str, Any]:
        return loads(self.operation.serialized_data or "{}")

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


Handler = Callable[[Job], Any]


def transactional(handler: Handler) -> Handler:
    """Mark a handler whose effects are writes to this service's database.

    The drainer runs it inside the transaction that records its outcome (with a savepoint that
    undoes a failed operation's writes), so its effects happen exactly once, even across a kill.
    Handlers with outside effects (an upstream call) are not marked: they run at least once.
    """
    handler.transactional = True
    return handler


def pure(handler: Handler) -> Handler:
    """Mark a handler without side effects: it runs in the recording transaction, no savepoint needed."""
    handler.pure = True
    return transactional(handler)


@pure
def accept_handler(job: Job) -> Any:
    """Mark the operation complete without side effects (the service in `accept` mode)."""
    return None


def run_job(job: Job, handler: Handler) -> Outcome:
    """Run a handler and translate whatever happens into Magento's outcome (spec 7.2)."""
    operation_id = job.operation.id
    try:
        result = handler(job)
    except OperationError as error:
        return Outcome(operation_id, error.status, str(error), error.code, retry_after=error.retry_after)
    except ArgumentsError as error:
        return Outcome(operation_id, OperationStatus.NOT_RETRIABLY_FAILED, _describe(error.phrases), 0)
    except (peewee.OperationalError, peewee.InterfaceError) as error:
        # Magento treats lock waits, deadlocks and lost connections as worth retrying.
        return Outcome(operation_id, OperationStatus.RETRIABLY_FAILED, str(error) or type(error).__name__,
                       _code_of(error))
    except Exception as error:  # noqa: BLE001 - any handler failure is recorded, never raised
        log.warning("operation %s of bulk %s failed: %r", job.operation_key, job.bulk_uuid, error)
        return Outcome(operation_id, OperationStatus.NOT_RETRIABLY_FAILED,
                       str(error) or type(error).__name__, _code_of(error))
    message = f"Service execution success {job.route.concrete_class}::{job.route.service_method}"
    return Outcome(operation_id, OperationStatus.COMPLETE, message, None,
                   None if result is None else dumps(result).decode())


def _describe(phrases: list[Phrase]) -> str:
    return "; ".join(phrase.render() for phrase in phrases)


def _code_of(error: Exception) -> int:
    code = getattr(error, "code", 0)
    return code if isinstance(code, int) and not isinstance(code, bool) else 0


def missing_route_outcome(operation: ClaimedOperation) -> Outcome:
    """The route that accepted this operation is no longer configured (routes file changed)."""
    return Outcome(operation.id, OperationStatus.NOT_RETRIABLY_FAILED,
                   f"No configured route processes {operation.route_key} "
                   f"(topic {operation.topic_name}).", 0)
