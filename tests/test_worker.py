"""The drainer with fake handlers, driven synchronously (and a few real-thread checks)."""

from __future__ import annotations

import re
import threading
import time
import uuid

import peewee
import pytest

from bulk import queue
from bulk.accept import serialize_operation
from bulk.clock import ManualClock
from bulk.db import database
from bulk.drainer import Drainer, DrainerSettings
from bulk.handlers import PermanentError, RetriableError, transactional
from bulk.models import BaseModel, Operation
from bulk.queue import NewBulk, NewOperation
from bulk.routes.builtin import builtin_catalogue
from bulk.statuses import OperationStatus

PRODUCT_SAVE = "POST /V1/products"


def submit(items: list[dict], route_key: str = PRODUCT_SAVE, bulk_uuid: str = "b-1", now: float = 0) -> None:
    route = builtin_catalogue().get(route_key)
    topic = route.topic_name if route else "async.unknown.post"
    operations = [NewOperation(i, topic, route_key, serialize_operation(item, 1)) for i, item in enumerate(items)]
    queue.enqueue(NewBulk(bulk_uuid, 1, 2, f"Topic {topic}", operations), now)


def drainer_with(handler, clock=None, **settings) -> Drainer:
    return Drainer(builtin_catalogue(), lambda route: handler, clock or ManualClock(),
                   DrainerSettings(**settings))


def rows() -> list[Operation]:
    return list(Operation.select().order_by(Operation.operation_key))


def product(sku: str) -> dict:
    return {"product": {"sku": sku}}


def test_success_is_recorded_like_magentos_consumer(db):
    submit([product("a"), product("b")])
    seen = []

    def handler(job):
        seen.append((job.operation_key, job.arguments["product"]["sku"], job.store_id))
        return {"sku": job.arguments["product"]["sku"], "id": job.operation_key + 10}

    assert drainer_with(handler).drain() == 2
    assert seen == [(0, "a", 1), (1, "b", 1)]
    first = rows()[0]
    assert first.status == OperationStatus.COMPLETE
    assert first.result_message == \
        "Service execution success Magento\\Catalog\\Model\\ProductRepository\\Interceptor::save"
    assert first.result_serialized_data == '{"sku":"a","id":10}'
    assert first.serialized_data is None
    assert first.error_code is None


def test_handler_failures_map_to_magento_statuses(db, caplog):
    submit([product("retry"), product("permanent"), product("crash"), product("db"), product("ok")])

    def handler(job):
        sku = job.arguments["product"]["sku"]
        if sku == "retry":
            raise RetriableError("Upstream busy, try in %1 seconds", [5], code=503)
        if sku == "permanent":
            raise PermanentError('The "%attribute" attribute value is empty.', {"attribute": "sku"})
        if sku == "crash":
            raise KeyError("boom")
        if sku == "db":
            raise peewee.OperationalError("database is locked")
        return None

    assert drainer_with(handler).drain() == 5
    retry, permanent, crash, locked, ok = rows()
    assert (retry.status, retry.result_message, retry.error_code) == (2, "Upstream busy, try in 5 seconds", 503)
    assert (permanent.status, permanent.result_message) == (3, 'The "sku" attribute value is empty.')
    # Python's and the database's own texts stay in the log; the operation says it in Magento's words
    # and names the log record.
    assert (crash.status, crash.error_code) == (3, 0)
    report = re.fullmatch(r"Internal Error\. Details are available in Magento log file\. Report ID: (webapi-\w+)",
                          crash.result_message)
    assert report is not None, crash.result_message
    assert any(report.group(1) in record.getMessage() and "boom" in (record.exc_text or "")
               for record in caplog.records)
    assert (locked.status, locked.result_message) == \
        (2, "The database was busy or could not be reached. Retry the operation.")
    assert any("database is locked" in record.getMessage() for record in caplog.records)
    assert ok.status == 1
    assert permanent.serialized_data is not None  # failures keep their payload for a retry


def test_arguments_that_fail_conversion_end_at_status_3(db):
    submit([{"product": {"price": "not a number"}}])
    drainer_with(lambda job: job.arguments).drain()
    [row] = rows()
    assert row.status == 3
    assert row.result_message == 'The "not a number" value\'s type is invalid. The "float" type was expected. Verify and try again.'


def test_operation_of_a_route_no_longer_configured_fails_clearly(db):
    submit([{"anything": 1}], route_key="POST /V1/gone")
    drainer_with(lambda job: None).drain()
    [row] = rows()
    assert row.status == 3
    assert "POST /V1/gone" in row.result_message


def test_batches_follow_the_batch_size(db):
    submit([product(str(i)) for i in range(7)])
    drainer = drainer_with(lambda job: None, batch_size=3)
    assert [drainer.run_once(), drainer.run_once(), drainer.run_once(), drainer.run_once()] == [3, 3, 1, 0]


def test_stopping_mid_batch_releases_the_rest(db):
    submit([product(str(i)) for i in range(5)])
    drainer = None

    def handler(job):
        if job.operation_key == 1:
            drainer._stopping.set()

    drainer = drainer_with(handler)
    assert drainer.run_once() == 2
    statuses = [row.status for row in rows()]
    assert statuses == [1, 1, 4, 4, 4]
    assert {row.claim_token for row in rows()[2:]} == {None}


def test_thread_start_and_stop_are_idempotent_and_drain_in_background(db):
    submit([product(str(i)) for i in range(20)])
    drainer = Drainer(builtin_catalogue(), lambda route: (lambda job: None), ManualClock(),
                      DrainerSettings(poll_seconds=0.05))
    drainer.start()
    drainer.start()
    assert drainer.running
    _wait_until(lambda: queue.open_count() == 0)
    assert drainer.stop(5)
    assert drainer.stop(5)
    assert not drainer.running


def test_thread_survives_a_failing_batch(db, monkeypatch):
    calls = {"n": 0}
    real_claim = queue.select_planned

    def flaky_claim(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 1:
            raise peewee.OperationalError("disk I/O error")
        return real_claim(*args, **kwargs)

    monkeypatch.setattr(queue, "select_planned", flaky_claim)
    monkeypatch.setattr("bulk.drainer.MAX_BACKOFF_SECONDS", 0.05)
    submit([product("a")])
    drainer = drainer_with(lambda job: None, poll_seconds=0.05)
    drainer.start()
    try:
        _wait_until(lambda: queue.open_count() == 0)
    finally:
        drainer.stop(5)
    assert calls["n"] >= 2


def test_notify_wakes_an_idle_thread(db):
    drainer = Drainer(builtin_catalogue(), lambda route: (lambda job: None), ManualClock(),
                      DrainerSettings(poll_seconds=30))
    drainer.start()
    try:
        time.sleep(0.1)  # let it go idle on its 30 s poll
        submit([product("a")])
        drainer.notify()
        _wait_until(lambda: queue.open_count() == 0, timeout=5)
    finally:
        drainer.stop(5)


def test_stop_waits_for_the_operation_in_hand(db):
    submit([product("slow"), product("next")])
    started = threading.Event()

    def slow(job):
        started.set()
        time.sleep(0.3)

    drainer = drainer_with(slow, poll_seconds=0.05)
    drainer.start()
    assert started.wait(5)
    assert drainer.stop(5)
    statuses = [row.status for row in rows()]
    assert statuses == [1, 4]
    assert rows()[1].claim_token is None


def _wait_until(predicate, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with database.connection_context():
            if predicate():
                return
        time.sleep(0.02)
    pytest.fail("condition not reached in time")


class Effect(BaseModel):
    """What a transactional test handler writes: one row per call."""

    sku = peewee.CharField()

    class Meta:
        table_name = "test_effect"


@pytest.fixture
def effects(db):
    Effect.create_table()
    return Effect


def test_transactional_effects_commit_with_the_outcome_and_failures_leave_none(effects):
    submit([product("a"), product("bad"), product("b")])

    @transactional
    def handler(job):
        sku = job.arguments["product"]["sku"]
        Effect.create(sku=sku)
        if sku == "bad":
            raise PermanentError("bad product")
        return sku

    assert drainer_with(handler).drain() == 3
    assert sorted(effect.sku for effect in Effect.select()) == ["a", "b"]
    assert [row.status for row in rows()] == [1, 3, 1]


def test_database_local_handlers_are_claimed_run_and_recorded_in_one_transaction(effects, monkeypatch):
    submit([product("a")])

    @transactional
    def handler(job):
        Effect.create(sku=job.arguments["product"]["sku"])

    def failing_record(token, outcomes, *when_and_subscriptions):
        raise peewee.OperationalError("disk I/O error")

    monkeypatch.setattr(queue, "record", failing_record)
    with pytest.raises(peewee.OperationalError):
        drainer_with(handler).run_once()
    # Nothing of the batch committed: no effect, and no claim either (claimable at once, not after a lease).
    assert Effect.select().count() == 0
    [operation] = rows()
    assert (operation.status, operation.claim_token, operation.attempts) == (4, None, 0)
    monkeypatch.undo()
    assert drainer_with(handler).run_once() == 1
    assert [effect.sku for effect in Effect.select()] == ["a"]


def test_a_long_batch_renews_its_lease(db):
    submit([product(str(i)) for i in range(4)])
    clock = ManualClock()
    others = []

    def slow(job):
        clock.advance(40)  # each operation takes 40 s of a 60 s lease
        with database.connection_context():
            others.append(len(queue.claim(uuid.uuid4().hex, 10, 60, clock.time())))

    drainer_with(slow, clock=clock, lease_seconds=60).run_once()
    assert others == [0, 0, 0, 0]
    assert [row.status for row in rows()] == [1, 1, 1, 1]


@pytest.mark.parametrize("setting, expected", [(None, {"sqlite": 0.02, "postgresql": 0.1}),
                                               ("0.5", {"sqlite": 0.5, "postgresql": 0.5})])
def test_the_claim_coalescing_defaults_by_engine_and_the_setting_wins(make_app, engine, setting, expected):
    overrides = {} if setting is None else {"BULK_CLAIM_COALESCE_SECONDS": setting}
    service = make_app(**overrides).extensions["bulk"]
    assert service.drainer._settings.coalesce_seconds == expected[engine]
