"""What the dashboard's overview reads: operations' finish times and the workers' heartbeat rows."""

from __future__ import annotations

import time
import uuid
from datetime import datetime

from bulk import heartbeats, queue
from bulk.clock import ManualClock, utc_datetime
from bulk.drainer import Drainer, holder
from bulk.handlers import Outcome
from bulk.heartbeats import Heartbeat
from bulk.loops import Loop
from bulk.models import Operation, WorkerHeartbeat
from bulk.statuses import OperationStatus
from tests.test_queue_lifecycle import NOW, enqueue, row


def finished_at(bulk_uuid: str, key: int) -> datetime | None:
    return row(bulk_uuid, key).finished_at


def test_recording_an_outcome_stores_when_it_finished(db):
    bulk_uuid = enqueue([None, None, None])
    token = uuid.uuid4().hex
    first, second, third = queue.claim(token, 10, 60, NOW)
    queue.record(token, [Outcome(first.id, OperationStatus.COMPLETE, "ok"),
                         Outcome(second.id, OperationStatus.NOT_RETRIABLY_FAILED, "no", 400)], NOW + 5)
    assert finished_at(bulk_uuid, 0) == finished_at(bulk_uuid, 1) == utc_datetime(NOW + 5)
    assert finished_at(bulk_uuid, 2) is None  # still held, not finished
    queue.defer(token, [queue.Deferral(third.id, NOW + 60, "busy", 0)])
    assert finished_at(bulk_uuid, 2) is None  # waiting for a retry is not finished either


def test_reopening_clears_the_finish_time_and_failing_stuck_ones_sets_it(db):
    bulk_uuid = enqueue([None, None])
    token = uuid.uuid4().hex
    [first] = queue.claim(token, 1, 60, NOW)
    queue.record(token, [Outcome(first.id, OperationStatus.RETRIABLY_FAILED, "lock", 1205)], NOW)
    assert queue.reopen(bulk_uuid, (OperationStatus.RETRIABLY_FAILED,)) == [0]
    assert finished_at(bulk_uuid, 0) is None
    queue.claim(uuid.uuid4().hex, 10, 60, NOW)
    assert queue.fail_stuck(NOW + 1, NOW + 3600) == 2
    assert finished_at(bulk_uuid, 0) == finished_at(bulk_uuid, 1) == utc_datetime(NOW + 3600)


def test_the_drainer_records_the_service_clocks_time(db):
    clock = ManualClock(NOW + 42)
    bulk_uuid = enqueue([None])

    class Route:
        success_message = "Service execution success Thing::save"

    class Catalogue:
        def get(self, key):
            return Route()

    drainer = Drainer(Catalogue(), lambda route: lambda job: None, clock)
    assert drainer.drain() == 1
    assert (row(bulk_uuid, 0).status, finished_at(bulk_uuid, 0)) == (1, utc_datetime(NOW + 42))
    assert Operation.select().where(Operation.finished_at.is_null()).count() == 0


class IdleLoop(Loop):
    def __init__(self) -> None:
        super().__init__("idle", 0.05, min_backoff=0.05, max_backoff=0.05)

    def tick(self) -> bool:
        return False


def test_each_process_beats_while_it_runs_and_leaves_when_it_stops(db):
    clock = ManualClock(NOW)
    drainer = IdleLoop()
    beating = Heartbeat(drainer, clock, interval=0.05)
    drainer.start()
    beating.start()
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            found = WorkerHeartbeat.get_or_none(WorkerHeartbeat.worker == holder())
            if found is not None and found.drainer_tick_age is not None:
                break
            time.sleep(0.02)
        assert found is not None
        assert (found.drainer, found.started_at, found.beat_at) == (heartbeats.RUNNING, NOW, NOW)
        assert found.drainer_tick_age < 10
    finally:
        drainer.stop()
        beating.stop()
    assert WorkerHeartbeat.select().count() == 0


def test_silent_workers_are_forgotten(db):
    heartbeats.write_beat(heartbeats.Beat("gone:1", NOW, heartbeats.RUNNING, 0.1), NOW)
    heartbeats.write_beat(heartbeats.Beat("here:2", NOW, heartbeats.STOPPED, None), NOW + 500)
    assert heartbeats.forget_silent(NOW + heartbeats.FORGET_AFTER_SECONDS) == 0
    assert heartbeats.forget_silent(NOW + heartbeats.FORGET_AFTER_SECONDS + 1) == 1
    assert [(w.worker, w.drainer) for w in heartbeats.workers()] == [("here:2", "stopped")]
    heartbeats.write_beat(heartbeats.Beat("here:2", NOW, heartbeats.RUNNING, 0.2), NOW + 501)
    [again] = heartbeats.workers()
    assert (again.drainer, again.beat_at, again.drainer_tick_age) == ("running", NOW + 501, 0.2)
