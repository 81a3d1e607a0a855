"""Test controls of one service: failure injection, recorded operations, draining now, waiting, clock.

Given to an app by `bulk.testing.extension` when `BULK_TESTING` is on; the pytest plugin and the
`/V1/testing/...` endpoints both work through it. The state lives in the serving process, so it controls one process:
the fixture server and the plugin run exactly one.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from flask import Flask

from bulk.backpressure import RateCounter
from bulk.clock import ManualClock
from bulk.db import database, tuples, write_transaction
from bulk.models import AdminSignInFailures, Bulk, FinishedTally, IdempotencyKey, Operation, WebhookDelivery
from bulk.service import BulkService
from bulk.statuses import OperationStatus
from bulk.store.models import STORE_MODELS
from bulk.testing.faults import FaultInjector
from bulk.testing.recorder import RecordedOperation, Recorder
from bulk.unpublished import shown_status, with_bulk

EXTENSION = "bulk.testing"
# How often `wait_for` looks again while another thread (the drainer) holds the bulk's operations.
_WAIT_STEP_SECONDS = 0.02


class UnknownBulk(LookupError):
    """No bulk has this uuid."""


class BulkNotFinished(TimeoutError):
    """A bulk still had open operations when the wait ran out; `statuses` is what it had."""

    def __init__(self, bulk_uuid: str, statuses: list[OperationStatus], timeout: float) -> None:
        open_ids = [index for index, status in enumerate(statuses) if status == OperationStatus.OPEN]
        super().__init__(f"bulk {bulk_uuid} still has open operation(s) {open_ids} after {timeout:g}s")
        self.statuses = statuses


class ClockNotControllable(RuntimeError):
    """The service reads the system clock (only a ManualClock can be moved)."""


class Controls:
    """What a test can do to one running service besides calling its API."""

    def __init__(self, service: BulkService) -> None:
        self.service = service
        self.faults = FaultInjector()
        self.recorder = Recorder()
        # Added last, the recorder wraps outermost: it sees every operation, failed ones included.
        service.processing.add_wrapper(self.faults.wrap)
        service.processing.add_wrapper(self.recorder.wrap)

    @property
    def clock(self) -> ManualClock:
        clock = self.service.clock
        if not isinstance(clock, ManualClock):
            raise ClockNotControllable("the service follows the system clock; start it with a ManualClock "
                                       "(the pytest plugin and the fixture server do)")
        return clock

    def drain(self) -> list[RecordedOperation]:
        """Process every claimable open operation now, in this thread; returns those it processed."""
        self.service.ensure_ready_without_worker()
        mark = self.recorder.mark()
        self.service.drainer.drain()
        return self.recorder.operations(ids=self.recorder.ran_since(mark, threading.get_ident()))

    def wait_for(self, bulk_uuid: str, timeout: float = 10.0) -> list[OperationStatus]:
        """Drain, then wait until no operation of the bulk is open; its statuses in operation order.

        Without a drainer thread the first drain finishes everything and nothing waits. Raises
        `UnknownBulk`, or `BulkNotFinished` when operations are still open after `timeout` seconds
        (held by a slow fault, or waiting for a retry time the manual clock has not reached).
        """
        deadline = time.monotonic() + timeout
        while True:
            self.drain()
            statuses = self.statuses(bulk_uuid)
            if OperationStatus.OPEN not in statuses:
                return statuses
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise BulkNotFinished(bulk_uuid, statuses, timeout)
            time.sleep(min(_WAIT_STEP_SECONDS, remaining))

    def statuses(self, bulk_uuid: str) -> list[OperationStatus]:
        """The bulk's operation statuses in operation order."""
        self.service.ensure_ready_without_worker()
        with database.connection_context():
            if not Bulk.select().where(Bulk.uuid == bulk_uuid).exists():
                raise UnknownBulk(bulk_uuid)
            rows = tuples(with_bulk(Operation.select(shown_status())).where(Operation.bulk == bulk_uuid)
                          .order_by(Operation.operation_key))
            return [OperationStatus(status) for (status,) in rows]

    def operations(self, **filters) -> list[RecordedOperation]:
        """Recorded operations (see `Recorder.operations` for the filters)."""
        self.service.ensure_ready_without_worker()
        return self.recorder.operations(**filters)

    def create_integration(self, name: str, resources: list[str] | None) -> dict[str, Any]:
        """A new active integration (`resources` None: all); its credentials as the CLI prints them."""
        self.service.ensure_ready_without_worker()
        with database.connection_context():
            return self.service.integrations.create(name, resources, self.service.clock.time()).to_json()

    def reset(self) -> None:
        """Remove every fault (releasing held operations), every bulk and operation (and the dashboard's
        count of finished ones), sign-in locks, webhook deliveries, idempotency keys, rate counters and
        the embedded store's entities (integrations stay, like tokens)."""
        self.faults.reset()
        self.service.ensure_ready_without_worker()
        with database.connection_context(), write_transaction():
            Operation.delete().execute()
            FinishedTally.delete().execute()
            Bulk.delete().execute()
            AdminSignInFailures.delete().execute()
            WebhookDelivery.delete().execute()
            IdempotencyKey.delete().execute()
            RateCounter.delete().execute()
            for model in reversed(STORE_MODELS):  # children before the rows they refer to
                model.delete().execute()
        self.recorder.clear()


def install_controls(app: Flask) -> Controls:
    """Give the app's service test controls."""
    controls = Controls(app.extensions["bulk"])
    app.extensions[EXTENSION] = controls
    return controls


def controls_of(app: Flask) -> Controls:
    return app.extensions[EXTENSION]
