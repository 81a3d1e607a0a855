"""Webhooks through the app: submit, drain, send to a real receiver, list the deliveries over HTTP."""

from __future__ import annotations

import time

import pytest

from bulk.clock import ManualClock
from tests.magento import assert_magento_error
from tests.test_http_status import BULK_RESOURCE, drain_with, submit
from tests.test_http_summary import fail_sku_b
from tests.webhook_receiver import SECRET, Receiver, Reply


@pytest.fixture
def clock():
    # Receivers refuse signatures more than 5 minutes off their own clock: start at the real time.
    return ManualClock(float(int(time.time())))


@pytest.fixture
def receiver():
    with Receiver(script=[Reply(503, {"Retry-After": "30"})]) as receiver:
        yield receiver


@pytest.fixture
def app(make_app, receiver):
    return make_app(BULK_WEBHOOK_URL=receiver.url + "?token=kept-private", BULK_WEBHOOK_SECRET=SECRET,
                    BULK_WEBHOOK_ALLOW_PRIVATE="1", BULK_WEBHOOK_EVENTS="bulk.finished,operation.failed")


def listing(client, auth, bulk_uuid):
    response = client.get(f"/rest/V1/bulk/{bulk_uuid}/webhooks", headers=auth)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def test_a_finished_bulk_is_announced_listed_retried_and_delivered(client, auth, service, clock, receiver):
    bulk_uuid = submit(client, auth, ["a", "b"])
    assert listing(client, auth, bulk_uuid) == {"bulk_id": bulk_uuid, "deliveries": []}
    drain_with(service, lambda job: None)
    created = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(clock.time()))
    [pending] = listing(client, auth, bulk_uuid)["deliveries"]
    assert pending == {"webhook_id": pending["webhook_id"], "type": "bulk.finished", "integration_id": None,
                       "url": receiver.url, "status": "pending", "attempts": 0, "last_status": None,
                       "last_error": None, "created_at": created, "last_attempt_at": None,
                       "next_attempt_at": created, "delivered_at": None}

    assert service.webhooks.send_due() == 1  # the receiver answers 503, Retry-After: 30
    [retrying] = listing(client, auth, bulk_uuid)["deliveries"]
    assert (retrying["status"], retrying["attempts"], retrying["last_status"]) == ("pending", 1, 503)
    assert retrying["last_error"] == "HTTP 503: ok"
    assert retrying["next_attempt_at"] == time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(clock.time() + 30))

    clock.advance(30)
    assert service.webhooks.send_due() == 1
    [delivered] = listing(client, auth, bulk_uuid)["deliveries"]
    assert (delivered["status"], delivered["attempts"], delivered["last_status"]) == ("delivered", 2, 200)
    assert delivered["next_attempt_at"] is None and delivered["delivered_at"] is not None
    assert [r.headers["webhook-id"] for r in receiver.received] == [pending["webhook_id"]] * 2
    [event] = receiver.accepted("bulk.finished")
    assert event["data"]["bulk_uuid"] == bulk_uuid
    assert event["data"]["counts"] == {"complete": 2, "failed_retriably": 0, "failed_not_retriably": 0,
                                       "rejected": 0}
    assert event["data"]["finished_with_failures"] is False


def test_deliveries_are_seen_as_the_status_is(client, auth, service):
    assert_magento_error(client.get("/rest/V1/bulk/nope/webhooks"), 401,
                         "The consumer isn't authorized to access %resources.", {"resources": BULK_RESOURCE})
    assert_magento_error(client.get("/rest/V1/bulk/nope/webhooks", headers=auth), 404,
                         "Bulk uuid %bulkUuid not exist", {"bulkUuid": "nope"})
    bulk_uuid = submit(client, auth, ["a"])
    assert listing(client, auth, bulk_uuid)["deliveries"] == []
    assert client.get(f"/rest/all/V1/bulk/{bulk_uuid}/webhooks", headers=auth).status_code == 200


def test_an_operation_failure_is_announced_before_its_bulk(client, auth, service, receiver):
    bulk_uuid = submit(client, auth, ["a", "b"])
    drain_with(service, fail_sku_b)
    types = [delivery["type"] for delivery in listing(client, auth, bulk_uuid)["deliveries"]]
    assert types == ["operation.failed", "bulk.finished"]
