"""Retention and stuck-operation sweeps: run now through a service, and by the background thread."""

from __future__ import annotations

import time

import pytest

from bulk import queue
from bulk.db import database
from bulk.housekeeping import Housekeeper, HousekeepingSettings, Swept
from bulk.models import Bulk

DAY = 86_400


def submit(client, auth, skus) -> str:
    response = client.post("/rest/async/bulk/V1/products", json=[{"product": {"sku": sku}} for sku in skus],
                           headers=auth)
    assert response.status_code == 202
    return response.get_json()["bulk_uuid"]


def serve(make_app, **settings):
    """A service, its client, and an admin token that outlives the years these tests skip."""
    app = make_app(BULK_TOKEN_LIFETIME_HOURS=str(20 * 365 * 24), **settings)
    client = app.test_client()
    token = client.post("/rest/V1/integration/admin/token", json={"username": "admin", "password": "admin123"})
    return client, app.extensions["bulk"], {"Authorization": f"Bearer {token.get_json()}"}


def status_code(client, auth, bulk_uuid) -> int:
    return client.get(f"/rest/V1/bulk/{bulk_uuid}/status", headers=auth).status_code


def test_finished_bulks_are_purged_after_the_retention(make_app, clock):
    client, service, auth = serve(make_app, BULK_RETENTION_DAYS="60", BULK_STUCK_HOURS="0")
    old = submit(client, auth, ["a", "b"])
    service.drainer.drain()
    still_open = submit(client, auth, ["c"])
    with database.connection_context():
        queue.claim("d" * 32, 10, 10 * 365 * DAY, clock.time())  # held by a drainer that never ends
    clock.advance(30 * DAY)
    recent = submit(client, auth, ["d"])
    service.drainer.drain()
    clock.advance(30 * DAY + 1)
    assert service.housekeeper.run_once() == Swept(purged_bulks=1, failed_operations=0)
    assert [status_code(client, auth, uuid) for uuid in (old, still_open, recent)] == [404, 200, 200]
    clock.advance(60 * DAY)
    assert service.housekeeper.run_once().purged_bulks == 1
    assert [status_code(client, auth, uuid) for uuid in (still_open, recent)] == [200, 404]


def test_operations_started_and_never_finished_end_at_unknown_error(make_app, clock):
    client, service, auth = serve(make_app, BULK_STUCK_HOURS="12")
    bulk_uuid = submit(client, auth, ["held", "never-started"])
    with database.connection_context():
        queue.claim("d" * 32, 1, 60, clock.time())  # its process hangs for good
    clock.advance(12 * 3600)
    assert service.housekeeper.run_once().failed_operations == 0
    clock.advance(1)
    assert service.housekeeper.run_once().failed_operations == 1
    body = client.get(f"/rest/V1/bulk/{bulk_uuid}/status", headers=auth).get_json()
    assert body["operations_list"][0] == {"error_code": 0, "id": 0, "result_message": "Unknown Error", "status": 2}
    assert body["operations_list"][1]["status"] == 4


def test_zero_disables_both_sweeps(make_app, clock):
    client, service, auth = serve(make_app, BULK_RETENTION_DAYS="0", BULK_STUCK_HOURS="0")
    bulk_uuid = submit(client, auth, ["a"])
    with database.connection_context():
        queue.claim("d" * 32, 1, 60, clock.time())
    clock.advance(3650 * DAY)
    assert service.housekeeper.run_once() == Swept(0, 0)
    assert status_code(client, auth, bulk_uuid) == 200


def test_the_thread_sweeps_on_its_timer_and_stops(service, clock):
    with database.connection_context():
        queue.enqueue(queue.NewBulk("old-bulk", 1, 2, "Topic t", []), clock.time())
    clock.advance(61 * DAY)
    keeper = Housekeeper(clock, HousekeepingSettings(retention_days=60, interval_seconds=0.02))
    keeper.start()
    keeper.start()
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with database.connection_context():
                if not Bulk.select().exists():
                    break
            time.sleep(0.02)
        else:
            pytest.fail("the background sweep did not purge the old bulk")
    finally:
        assert keeper.stop(5)
    assert keeper.stop(5) and not keeper.running


def test_a_serving_process_starts_and_stops_the_sweeps_with_its_drainer(make_app):
    app = make_app(BULK_WORKER="1")
    service = app.extensions["bulk"]
    assert app.test_client().get("/health").status_code == 200
    assert service.housekeeper.running and service.drainer.running
    service.shutdown(5)
    assert not service.housekeeper.running and not service.drainer.running
