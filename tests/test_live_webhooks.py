"""Webhooks and idempotency against real gunicorn processes, on both engines: a real receiver that
verifies with `standardwebhooks`, a receiver that fails then succeeds, kill -9 before the webhook
went out, and concurrent duplicate submits with one Idempotency-Key."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.databases import fetch_all
from tests.live import Gunicorn
from tests.webhook_receiver import SECRET, Receiver, Reply

pytestmark = pytest.mark.live

LONG_SKU = "x" * 70  # the embedded store refuses it: status 3


def webhook_server(tmp_path, database_url, receiver: Receiver, workers: int = 2, **env) -> Gunicorn:
    return Gunicorn(tmp_path, workers=workers, database_url=database_url, BULK_WEBHOOK_URL=receiver.url,
                    BULK_WEBHOOK_SECRET=SECRET, BULK_WEBHOOK_ALLOW_PRIVATE="1",
                    BULK_WEBHOOK_RETRY_BASE_SECONDS="0.2", **env)


def submit(server: Gunicorn, headers: dict, skus: list[str], **extra) -> requests.Response:
    return requests.post(server.base_url + "/rest/async/bulk/V1/products",
                         json=[{"product": {"sku": sku}} for sku in skus], headers={**headers, **extra}, timeout=30)


def wait_until(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    pytest.fail(f"{what} within {timeout}s")


def test_a_live_service_sends_signed_events_and_one_logical_delivery_despite_failures(tmp_path, database_url):
    script = [Reply(500), Reply(503, {"Retry-After": "1"}), Reply(429)]  # the first three requests fail
    with Receiver(script=script) as receiver:
        server = webhook_server(tmp_path, database_url, receiver,
                                BULK_WEBHOOK_EVENTS="bulk.finished,operation.failed")
        with server:
            headers = {"Authorization": f"Bearer {server.token()}"}
            uuids = [submit(server, headers, [f"S{n}-{i}" for i in range(20)] + [LONG_SKU]).json()["bulk_uuid"]
                     for n in range(3)]
            wait_until(lambda: len(receiver.accepted("bulk.finished")) == 3, 60, "three bulk.finished accepted")
            wait_until(lambda: len(receiver.accepted("operation.failed")) == 3, 30, "three operation.failed")
            listing = requests.get(f"{server.base_url}/rest/V1/bulk/{uuids[0]}/webhooks", headers=headers,
                                   timeout=10).json()["deliveries"]
            assert server.stop() == 0, server.log()
        received = list(receiver.received)

    assert all(r.verified for r in received)
    assert [r.answered for r in received[:3]] == [500, 503, 429]
    by_id: dict[str, list] = {}
    for request in received:
        by_id.setdefault(request.headers["webhook-id"], []).append(request)
    # One logical delivery per event: one id, one body, answered 2xx exactly once.
    assert len(by_id) == 6
    for attempts in by_id.values():
        assert len({a.body for a in attempts}) == 1
        assert [a.answered for a in attempts].count(200) == 1 and attempts[-1].answered == 200
    finished = {event["data"]["bulk_uuid"]: event["data"] for event in receiver.accepted("bulk.finished")}
    assert set(finished) == set(uuids)
    for data in finished.values():
        assert data["counts"] == {"complete": 20, "failed_retriably": 0, "failed_not_retriably": 1, "rejected": 0}
        assert data["operation_count"] == 21 and data["finished_with_failures"] is True
        assert (data["user_type"], data["user_id"]) == (2, 1)
    failures = [event["data"] for event in receiver.accepted("operation.failed")]
    assert {(f["id"], f["status"], f["result_message"]) for f in failures} == {
        (20, 3, "SKU length should be 64 characters maximum.")}
    assert {d["type"]: d["status"] for d in listing} == {"operation.failed": "delivered", "bulk.finished": "delivered"}
    rows = fetch_all(database_url, "SELECT status, count(*) FROM bulk_webhook_delivery GROUP BY status")
    assert rows == [("delivered", 6)]
    assert sum(row[0] for row in fetch_all(database_url, "SELECT attempts FROM bulk_webhook_delivery")) == 9
    assert "Traceback" not in server.log()


def test_kill_9_before_the_webhook_went_out_still_delivers_after_restart(tmp_path, database_url):
    release = threading.Event()
    # The first attempt hangs until the sender is dead (its late 500 reaches no one).
    with Receiver(script=[Reply(500, hold=release, hold_seconds=60)]) as receiver:
        first = webhook_server(tmp_path, database_url, receiver, BULK_LEASE_SECONDS="4",
                               BULK_WEBHOOK_TIMEOUT="2").start()
        try:
            token = first.token()
            headers = {"Authorization": f"Bearer {token}"}
            bulk_uuid = submit(first, headers, ["K1", "K2"]).json()["bulk_uuid"]
            [held] = receiver.wait_for(1, timeout=60)  # the attempt is in flight, not answered
            assert fetch_all(database_url, "SELECT bulk_uuid, status FROM bulk_webhook_delivery") == [
                (bulk_uuid, "pending")]
            first.kill()
        finally:
            first.kill()
            release.set()

        restarted = webhook_server(tmp_path, database_url, receiver, BULK_LEASE_SECONDS="4",
                                   BULK_WEBHOOK_TIMEOUT="2").start()
        try:
            wait_until(lambda: receiver.accepted("bulk.finished"), 60, "the webhook sent after the restart")
        finally:
            assert restarted.stop() == 0, restarted.log()
        received = list(receiver.received)

    assert [r.headers["webhook-id"] for r in received] == [held.headers["webhook-id"]] * 2
    assert received[1].body == held.body and received[1].verified
    [event] = receiver.accepted("bulk.finished")
    assert event["data"]["bulk_uuid"] == bulk_uuid
    assert fetch_all(database_url, "SELECT status, attempts FROM bulk_webhook_delivery") == [("delivered", 1)]


def test_concurrent_duplicate_submits_with_one_key_store_exactly_one_bulk(tmp_path, database_url):
    with Gunicorn(tmp_path, workers=4, database_url=database_url, BULK_WORKER="0") as server:
        headers = {"Authorization": f"Bearer {server.token()}"}
        items = [f"D{i}" for i in range(100)]
        for round_number in range(5):
            key = f"import-{round_number}"
            barrier = threading.Barrier(8)

            def send(_: int, key: str = key, barrier: threading.Barrier = barrier) -> requests.Response:
                barrier.wait(30)
                return submit(server, headers, items, **{"Idempotency-Key": key})

            with ThreadPoolExecutor(8) as pool:
                answers = list(pool.map(send, range(8)))
            accepted = [a for a in answers if a.status_code == 202]
            assert accepted and all(a.status_code in (202, 409) for a in answers), [a.text for a in answers]
            assert len({a.content for a in accepted}) == 1
            for conflict in (a for a in answers if a.status_code == 409):
                assert conflict.headers["Retry-After"] == "1"
            # Once stored, every later duplicate is answered the same, and another body is refused.
            assert submit(server, headers, items, **{"Idempotency-Key": key}).content == accepted[0].content
            assert submit(server, headers, ["other"], **{"Idempotency-Key": key}).status_code == 422
        assert server.stop() == 0, server.log()
    assert fetch_all(database_url, "SELECT count(*), sum(operation_count) FROM magento_bulk") == [(5, 500)]
    assert fetch_all(database_url, "SELECT count(*) FROM bulk_idempotency_key") == [(5,)]
