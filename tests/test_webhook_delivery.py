"""The webhook sender against a real local receiver that verifies with `standardwebhooks`:
signatures, retries with one id, give-up, redirects, and the address guard (DNS rebinding)."""

from __future__ import annotations

import base64
import json
import socket
import threading
import time
import uuid

import pytest
from standardwebhooks import Webhook

from bulk import queue
from bulk.clock import ManualClock
from bulk.config import BULK_FINISHED, OPERATION_FAILED
from bulk.handlers import Outcome
from bulk.models import WebhookDelivery
from bulk.queue import NewBulk, NewOperation
from bulk.retries import RetryPolicy
from bulk.statuses import OperationStatus
from bulk.webhooks.delivery import DeliverySettings, WebhookSender
from bulk.webhooks.signing import Signer
from bulk.webhooks.subscriptions import Subscriptions
from bulk.webhooks.transport import Transport, is_public
from tests.live import free_port
from tests.webhook_receiver import SECRET, Receiver, Reply


@pytest.fixture
def clock():
    # Receivers refuse signatures more than 5 minutes off their own clock: start at the real time.
    return ManualClock(float(int(time.time())))


def finish_bulk(url: str, now: float, statuses=(OperationStatus.COMPLETE,), events=(BULK_FINISHED,)) -> str:
    """Store a bulk and finish it, so its events are in the outbox for `url`."""
    bulk_uuid = str(uuid.uuid4())
    queue.enqueue(NewBulk(bulk_uuid, 1, 2, "Topic async.x", [
        NewOperation(i, "async.x", "POST /V1/x", "{}") for i in range(len(statuses))]), now)
    token = uuid.uuid4().hex
    claimed = queue.claim(token, 100, 60, now)
    queue.record(token, [Outcome(op.id, statuses[op.operation_key], "done", 0) for op in claimed], now,
                 Subscriptions(url, frozenset(events)))
    return bulk_uuid


def sender(clock, allow_private=True, **settings) -> WebhookSender:
    settings.setdefault("retry", RetryPolicy(2**31, 1.0, 300.0, jitter=lambda: 1.0))
    return WebhookSender(Signer(SECRET), clock, DeliverySettings(allow_private=allow_private, **settings))


def delivery() -> WebhookDelivery:
    [row] = WebhookDelivery.select()
    return row


def test_a_delivery_is_signed_as_standard_webhooks_receivers_verify_it(db, clock):
    with Receiver() as receiver:
        bulk_uuid = finish_bulk(receiver.url, clock.time(), (OperationStatus.COMPLETE, OperationStatus.NOT_RETRIABLY_FAILED),
                                (BULK_FINISHED, OPERATION_FAILED))
        webhooks = sender(clock)
        try:
            assert webhooks.send_due() == 2
        finally:
            webhooks.close()
        # Sent side by side: they may arrive in either order.
        [failed, finished] = sorted(receiver.received, key=lambda r: r.event["type"] != "operation.failed")
    assert failed.verified and finished.verified
    assert finished.headers["content-type"] == "application/json"
    assert finished.headers["webhook-signature"].startswith("v1,")
    assert finished.event["type"] == "bulk.finished"
    assert finished.event["data"]["bulk_uuid"] == bulk_uuid
    assert finished.event["data"]["finished_with_failures"] is True
    assert failed.event["type"] == "operation.failed" and failed.event["data"]["id"] == 1
    assert {d.status for d in WebhookDelivery.select()} == {"delivered"}
    # Another secret does not verify: the signature really depends on the key.
    other = "whsec_" + base64.b64encode(b"another secret of thirty-two byt").decode()
    with pytest.raises(Exception, match="signature"):
        Webhook(other).verify(finished.body, finished.headers)


def test_a_receiver_failing_n_times_gets_one_logical_delivery_with_one_id(db, clock):
    script = [Reply(500), Reply(503, {"Retry-After": "7"}), Reply(429), Reply(408)]
    with Receiver(script=script) as receiver:
        finish_bulk(receiver.url, clock.time())
        webhooks = sender(clock)
        try:
            expected_waits = [1, 7, 4, 8]  # doubling from 1 s; 503 said Retry-After: 7
            for wait in expected_waits:
                assert webhooks.run_once() == 1
                row = delivery()
                assert (row.status, row.next_attempt_at - clock.time()) == ("pending", wait)
                clock.advance(wait - 0.5)
                assert webhooks.run_once() == 0  # not due yet
                clock.advance(0.5)
            assert webhooks.run_once() == 1
        finally:
            webhooks.close()
    received = receiver.received
    assert [r.answered for r in received] == [500, 503, 429, 408, 200]
    assert all(r.verified for r in received)
    assert len({r.headers["webhook-id"] for r in received}) == 1
    assert len({r.body for r in received}) == 1  # the same event, signed anew each time
    assert len({r.headers["webhook-timestamp"] for r in received}) == 5
    row = delivery()
    assert (row.status, row.attempts, row.last_status, row.last_error) == ("delivered", 5, 200, None)
    assert row.delivered_at == clock.time()


def test_a_delivery_not_accepted_in_time_is_given_up(db, clock):
    with Receiver(script=[Reply(500)] * 50) as receiver:
        finish_bulk(receiver.url, clock.time())
        webhooks = sender(clock, max_hours=0.01)  # 36 s
        try:
            while delivery().status == "pending":
                assert webhooks.run_once() == 1
                clock.set(delivery().next_attempt_at)
        finally:
            webhooks.close()
    row = delivery()
    assert row.status == "failed"
    assert row.last_error == "given up after 0.01 hour(s): HTTP 500: ok"
    assert row.last_attempt_at == row.created_at + 36  # the last try falls on the deadline


@pytest.mark.parametrize("status", [301, 400, 410])
def test_other_answers_fail_the_delivery_at_once_and_redirects_are_not_followed(db, clock, status):
    with Receiver(script=[Reply(status, {"Location": "http://127.0.0.1:1/elsewhere"})]) as receiver:
        finish_bulk(receiver.url, clock.time())
        webhooks = sender(clock)
        try:
            assert webhooks.send_due() == 1
        finally:
            webhooks.close()
        assert len(receiver.received) == 1
    row = delivery()
    assert (row.status, row.attempts, row.last_status, row.last_error) == ("failed", 1, status, f"HTTP {status}: ok")


def test_no_answer_in_time_and_refused_connections_are_tried_again(db, clock):
    with Receiver(script=[Reply(hold=threading.Event(), hold_seconds=3)]) as receiver:
        finish_bulk(receiver.url, clock.time())
        webhooks = sender(clock, timeout=0.5)
        try:
            webhooks.run_once()
        finally:
            webhooks.close()
    row = delivery()
    assert (row.status, row.last_status, row.last_error) == ("pending", None, "no answer within 0.5 seconds")

    closed = f"http://127.0.0.1:{free_port()}/hooks"
    WebhookDelivery.update(url=closed, next_attempt_at=clock.time()).execute()
    webhooks = sender(clock)
    try:
        webhooks.run_once()
    finally:
        webhooks.close()
    row = delivery()
    assert (row.status, row.attempts, row.last_error) == ("pending", 2, "the connection was refused or failed")


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "[::1]"])
def test_loopback_receivers_are_refused_unless_allowed(db, clock, host):
    with Receiver() as receiver:
        url = receiver.url.replace("127.0.0.1", host)
        finish_bulk(url, clock.time())
        webhooks = sender(clock, allow_private=False)
        try:
            assert webhooks.send_due() == 1
        finally:
            webhooks.close()
        assert receiver.received == []
    row = delivery()
    assert (row.status, row.last_status) == ("failed", None)
    assert row.last_error == "the webhook host's address is not public (BULK_WEBHOOK_ALLOW_PRIVATE is off)"


def test_the_address_is_checked_when_connecting_and_is_the_one_connected_to(db, clock, monkeypatch):
    """A name that resolves to an internal address at send time (DNS rebinding) is refused; when
    private addresses are allowed, the connection goes to exactly the address that was resolved."""
    real_getaddrinfo = socket.getaddrinfo
    lookups = []

    def rebinding_getaddrinfo(host, port, *args, **kwargs):
        if host == "hooks.example.com":
            lookups.append(host)
            return real_getaddrinfo("127.0.0.1", port, *args, **kwargs)
        return real_getaddrinfo(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding_getaddrinfo)
    with Receiver() as receiver:
        url = receiver.url.replace("127.0.0.1", "hooks.example.com")
        finish_bulk(url, clock.time())
        webhooks = sender(clock, allow_private=False)
        try:
            webhooks.send_due()
        finally:
            webhooks.close()
        assert receiver.received == [] and lookups == ["hooks.example.com"]
        assert delivery().status == "failed"

        WebhookDelivery.update(status="pending", next_attempt_at=clock.time()).execute()
        webhooks = sender(clock, allow_private=True)
        try:
            webhooks.send_due()
        finally:
            webhooks.close()
        [request] = receiver.received
    assert request.verified and request.headers["host"].startswith("hooks.example.com")
    assert delivery().status == "delivered"


@pytest.mark.parametrize(("address", "public"), [
    ("93.184.216.34", True), ("2606:2800:220:1:248:1893:25c8:1946", True),
    ("127.0.0.1", False), ("10.1.2.3", False), ("172.16.0.1", False), ("192.168.1.1", False),
    ("169.254.169.254", False), ("100.64.0.1", False), ("0.0.0.0", False), ("224.0.0.1", False),
    ("::1", False), ("fe80::1%eth0", False), ("fc00::1", False), ("::ffff:10.0.0.1", False),
    ("::ffff:127.0.0.1", False),
])
def test_which_addresses_count_as_public(address, public):
    assert is_public(address) is public


def test_only_http_and_https_urls_are_sent_to():
    transport = Transport(1.0, True, 1)
    try:
        answer = transport.post("file:///etc/passwd", b"{}", {})
    finally:
        transport.close()
    assert answer.error == "only http and https URLs are allowed" and not answer.transient


def test_the_body_sent_is_the_stored_event_byte_for_byte(db, clock):
    with Receiver() as receiver:
        finish_bulk(receiver.url, clock.time())
        webhooks = sender(clock)
        try:
            webhooks.send_due()
        finally:
            webhooks.close()
        [request] = receiver.received
    assert request.body == delivery().payload.encode()
    assert json.loads(request.body)["type"] == "bulk.finished"
