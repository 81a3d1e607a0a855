"""Forward mode against a real upstream on a free port: the calls it makes and every outcome."""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from email.utils import formatdate

import pytest

from bulk import queue
from bulk.config import ConfigError, load_settings
from bulk.db import database
from bulk.models import Bulk, Operation
from tests.live import free_port
from tests.magento import bearer
from tests.upstream import HANG, Reply, Upstream, replies

SAVE_MESSAGE = "Service execution success Magento\\Catalog\\Model\\ProductRepository\\Interceptor::save"
PRODUCTS_BY_SKU = "/rest/default/async/bulk/V1/products/bySku"


class Shop:
    """A forward-mode service, its Flask client with an admin token, and ways to look inside."""

    def __init__(self, app) -> None:
        self.client = app.test_client()
        self.service = app.extensions["bulk"]
        self.service.ensure_ready_without_worker()
        response = self.client.post("/rest/V1/integration/admin/token",
                                    json={"username": "admin", "password": "admin123"})
        self.token = response.get_json()
        self.auth = bearer(self.token)

    def submit(self, items, url=PRODUCTS_BY_SKU, method="PUT", headers=None) -> str:
        response = self.client.open(url, method=method, json=items,
                                    headers=self.auth if headers is None else headers)
        assert response.status_code == 202, response.get_data(as_text=True)
        return response.get_json()["bulk_uuid"]

    def drain(self) -> int:
        return self.service.drainer.drain()

    def operations(self, bulk_uuid: str) -> list[dict]:
        response = self.client.get(f"/rest/V1/bulk/{bulk_uuid}/detailed-status", headers=self.auth)
        assert response.status_code == 200
        return response.get_json()["operations_list"]

    def operation(self, bulk_uuid: str, key: int = 0) -> dict:
        return self.operations(bulk_uuid)[key]

    def row(self, bulk_uuid: str, key: int = 0) -> Operation:
        with database.connection_context():
            return Operation.get(Operation.bulk == bulk_uuid, Operation.operation_key == key)


@pytest.fixture
def upstream():
    with Upstream() as server:
        yield server


@pytest.fixture
def shop(make_app, upstream):
    """Build a forward-mode shop against `upstream`; settings by keyword."""
    def build(**overrides) -> Shop:
        settings = {"BULK_PROCESSING": "forward", "BULK_UPSTREAM_URL": upstream.url,
                    "BULK_UPSTREAM_TOKEN": "upstream-secret", **overrides}
        return Shop(make_app(**settings))

    return build


def product(sku, **fields) -> dict:
    return {"product": {"sku": sku, **fields}}


# -- the call ---------------------------------------------------------------------------------

def test_each_operation_becomes_the_sync_call_and_stores_the_answer(shop, upstream):
    upstream.answer = lambda call: Reply(200, {"id": 42, **call.body["product"]})
    store = shop(BULK_STORES="default:1,fr:2")
    bulk_uuid = store.submit([product("24-MB01", price=30), product("a b/c?d", name="Odd")],
                             url="/rest/fr/async/bulk/V1/products/bySku")
    assert store.drain() == 2
    # Different SKUs go out concurrently, in either order.
    first, second = sorted(upstream.calls, key=lambda call: call.path)
    assert (first.method, first.path) == ("PUT", "/rest/fr/V1/products/24-MB01")
    assert second.path == "/rest/fr/V1/products/a%20b%2Fc%3Fd"
    assert first.body == {"product": {"sku": "24-MB01", "price": 30}}
    assert first.headers["Authorization"] == "Bearer upstream-secret"
    assert first.headers["Content-Type"] == "application/json"
    done = store.operation(bulk_uuid)
    assert (done["status"], done["result_message"], done["error_code"]) == (1, SAVE_MESSAGE, None)
    assert json.loads(done["result_serialized_data"]) == {"id": 42, "sku": "24-MB01", "price": 30}
    assert done["serialized_data"] is None


@pytest.mark.parametrize("url, method, items, expected", [
    ("/rest/async/bulk/V1/categories/byCategoryId/products/bySku", "DELETE",
     [{"categoryId": 3, "sku": "A"}, {"category_id": "4", "sku": "B"}],
     [("DELETE", "/rest/default/V1/categories/3/products/A", None),
      ("DELETE", "/rest/default/V1/categories/4/products/B", None)]),
    ("/rest/all/async/bulk/V1/carts/byQuoteId/items", "POST",
     [{"cartItem": {"quote_id": "q-1", "sku": "A", "qty": 2}}],
     [("POST", "/rest/all/V1/carts/q-1/items", {"cartItem": {"quote_id": "q-1", "sku": "A", "qty": 2}})]),
    ("/rest/default/async/bulk/V1/customers/byCustomerId", "PUT",
     [{"customer": {"id": 7, "email": "a@example.com"}}],
     [("PUT", "/rest/default/V1/customers/7", {"customer": {"id": 7, "email": "a@example.com"}})]),
    ("/rest/default/async/bulk/V1/products/bySku/options/byOptionId", "DELETE",
     [{"sku": "A", "optionId": 5}],
     [("DELETE", "/rest/default/V1/products/A/options/5", None)]),
    ("/rest/default/async/V1/products/24-MB01", "PUT", {"product": {"name": "Bag"}},
     [("PUT", "/rest/default/V1/products/24-MB01", {"product": {"name": "Bag", "sku": "24-MB01"}})]),
    ("/rest/default/async/V1/products/24%20MB", "DELETE", None,
     [("DELETE", "/rest/default/V1/products/24%20MB", None)]),
    ("/rest/default/async/bulk/V1/products", "POST", [product("new", price=1)],
     [("POST", "/rest/default/V1/products", {"product": {"sku": "new", "price": 1}})]),
])
def test_path_values_come_from_the_item_or_the_url(shop, upstream, url, method, items, expected):
    store = shop()
    if items is None:
        response = store.client.open(url, method=method, headers=store.auth)
        assert response.status_code == 202
    else:
        store.submit(items, url=url, method=method)
    store.drain()
    # Different entities go out concurrently, in any order.
    assert sorted((call.method, call.path, call.body) for call in upstream.calls) == expected


def test_an_item_without_its_path_value_fails_without_a_call(shop, upstream):
    store = shop()
    bulk_uuid = store.submit([{"product": {"name": "no sku"}}])
    store.drain()
    failed = store.operation(bulk_uuid)
    assert (failed["status"], failed["result_message"]) == (3, '"sku" is required. Enter and try again.')
    assert upstream.calls == []


# -- outcomes ---------------------------------------------------------------------------------

@pytest.mark.parametrize("reply, message", [
    (Reply(400, {"message": 'The "%1" attribute value is empty. Set the attribute and try again.',
                 "parameters": ["sku"]}),
     'The "sku" attribute value is empty. Set the attribute and try again.'),
    (Reply(404, {"message": "The product that was requested doesn't exist. Verify the product and try again."}),
     "The product that was requested doesn't exist. Verify the product and try again."),
    (Reply(400, {"message": "One or more input exceptions have occurred.", "errors": [
        {"message": '"%fieldName" is required. Enter and try again.', "parameters": {"fieldName": "name"}},
        {"message": "Invalid value %value", "parameters": {"value": "x"}}]}),
     '"name" is required. Enter and try again.; Invalid value x'),
    (Reply(401, raw=b"<html>Unauthorized</html>"), "The upstream answered HTTP 401."),
    (Reply(302, raw=b"", headers={"Location": "https://elsewhere.example/"}), "The upstream answered HTTP 302."),
])
def test_client_errors_end_at_status_3_with_the_upstreams_message(shop, upstream, reply, message):
    upstream.answer = lambda call: reply
    store = shop()
    bulk_uuid = store.submit([product("A")])
    store.drain()
    failed = store.operation(bulk_uuid)
    assert (failed["status"], failed["result_message"], failed["error_code"]) == (3, message, reply.status)
    assert failed["serialized_data"] is not None  # kept for a retry
    assert len(upstream.calls) == 1


def test_a_success_that_is_not_json_is_stored_as_text(shop, upstream):
    upstream.answer = lambda call: Reply(200, raw=b"saved")
    store = shop()
    bulk_uuid = store.submit([product("A")])
    store.drain()
    assert store.operation(bulk_uuid)["result_serialized_data"] == '"saved"'


def test_backoff_schedule_then_status_2_with_the_last_reason(shop, upstream, clock):
    upstream.answer = lambda call: Reply(503, {"message": "Service Unavailable"})
    store = shop(BULK_RETRY_ATTEMPTS="4", BULK_RETRY_BASE_SECONDS="2")
    bulk_uuid = store.submit([product("A")])
    # Try n fails; before try n+1 the wait is between 2**(n-1) and 2**n seconds (base 2, equal jitter).
    for attempt, (low, high) in enumerate([(1, 2), (2, 4), (4, 8)], start=1):
        failed_at = clock.time()
        assert store.drain() == 1
        assert len(upstream.calls) == attempt
        row = store.row(bulk_uuid)
        assert (row.status, row.result_message, row.error_code, row.claim_token) == \
            (4, "Service Unavailable", 503, None)
        assert failed_at + low <= row.available_at <= failed_at + high
        clock.advance(low - 0.001)
        assert store.drain() == 0  # not due yet: nothing is sent
        assert len(upstream.calls) == attempt
        clock.advance(row.available_at - clock.time())
    assert store.drain() == 1
    assert len(upstream.calls) == 4
    final = store.operation(bulk_uuid)
    assert (final["status"], final["result_message"], final["error_code"]) == (2, "Service Unavailable", 503)
    assert store.drain() == 0


@pytest.mark.parametrize("status, retry_after", [(503, "7"), (429, "date")])
def test_retry_after_is_honoured(shop, upstream, clock, status, retry_after):
    if retry_after == "date":
        retry_after, wait = formatdate(clock.time() + 30, usegmt=True), 30
    else:
        wait = int(retry_after)
    upstream.answer = replies(Reply(status, {"message": "Slow down"}, {"Retry-After": retry_after}))
    store = shop()
    bulk_uuid = store.submit([product("A")])
    store.drain()
    assert store.row(bulk_uuid).available_at == clock.time() + wait
    clock.advance(wait - 1)
    assert store.drain() == 0
    clock.advance(1)
    assert store.drain() == 1
    done = store.operation(bulk_uuid)
    assert (done["status"], done["error_code"]) == (1, None)
    assert len(upstream.calls) == 2


def test_a_hanging_upstream_times_out_retriably(shop, upstream):
    upstream.answer = lambda call: HANG
    store = shop(BULK_UPSTREAM_TIMEOUT="0.3", BULK_RETRY_ATTEMPTS="1")
    bulk_uuid = store.submit([product("A")])
    store.drain()
    failed = store.operation(bulk_uuid)
    assert (failed["status"], failed["error_code"]) == (2, 0)
    assert failed["result_message"] == "The upstream did not answer within 0.3 seconds."


def test_an_unreachable_upstream_fails_retriably(make_app):
    store = Shop(make_app(BULK_PROCESSING="forward", BULK_UPSTREAM_URL=f"http://127.0.0.1:{free_port()}",
                          BULK_RETRY_ATTEMPTS="1"))
    bulk_uuid = store.submit([product("A")])
    store.drain()
    failed = store.operation(bulk_uuid)
    assert (failed["status"], failed["error_code"]) == (2, 0)
    assert failed["result_message"] == \
        "The upstream could not be reached: Failed to establish a new connection: [Errno 111] Connection refused"


def test_a_connection_dropped_without_an_answer_fails_retriably(make_app):
    with socket.create_server(("127.0.0.1", 0)) as listener:
        def drop_one() -> None:
            connection, _ = listener.accept()
            with connection:
                # Read the whole request first: closing with unread bytes would send a reset instead.
                received = b""
                while b"\r\n\r\n" not in received:
                    received += connection.recv(65536)
                head, body = received.split(b"\r\n\r\n", 1)
                length = re.search(rb"(?i)content-length:\s*(\d+)", head)
                while length is not None and len(body) < int(length.group(1)):
                    body += connection.recv(65536)

        dropper = threading.Thread(target=drop_one)
        dropper.start()
        store = Shop(make_app(BULK_PROCESSING="forward", BULK_RETRY_ATTEMPTS="1",
                              BULK_UPSTREAM_URL=f"http://127.0.0.1:{listener.getsockname()[1]}"))
        bulk_uuid = store.submit([product("A")])
        store.drain()
        dropper.join(10)
    failed = store.operation(bulk_uuid)
    assert (failed["status"], failed["error_code"]) == (2, 0)
    assert failed["result_message"] == \
        "The upstream could not be reached: Connection aborted. Remote end closed connection without response"


# -- ordering and concurrency -----------------------------------------------------------------

def test_one_entitys_calls_go_out_one_at_a_time_in_submission_order(shop, upstream):
    def slow_echo(call):
        time.sleep(0.02)  # gives calls the chance to overlap, were they sent together
        return Reply(200, call.body)

    upstream.answer = slow_echo
    store = shop(BULK_WORKER_CONCURRENCY="4")
    skus = ["A", "B", "A", "C", "A", "B", "C", "A"]
    bulk_uuid = store.submit([product(sku, price=index) for index, sku in enumerate(skus)])
    assert store.drain() == len(skus)
    assert upstream.max_in_flight_per_path == 1
    sent = [(call.path.rsplit("/", 1)[1], call.body["product"]["price"]) for call in upstream.calls]
    for sku in set(skus):
        assert [price for name, price in sent if name == sku] == \
            [index for index, name in enumerate(skus) if name == sku]
    assert {op["status"] for op in store.operations(bulk_uuid)} == {1}


def test_a_waiting_retry_holds_back_later_calls_for_the_same_entity(shop, upstream, clock):
    first_a = threading.Event()

    def a_fails_once(call):
        if call.path.endswith("/A") and not first_a.is_set():
            first_a.set()
            return Reply(503, {"message": "busy"})
        return Reply(200, call.body)

    upstream.answer = a_fails_once
    store = shop(BULK_WORKER_CONCURRENCY="4", BULK_RETRY_BASE_SECONDS="10")
    store.submit([product("A", price=1), product("B", price=2), product("A", price=3)])

    def sent() -> list[tuple[str, int]]:
        return sorted((call.path[-1], call.body["product"]["price"]) for call in upstream.calls)

    store.drain()
    assert sent() == [("A", 1), ("B", 2)]  # A's second update waits behind the first one's retry
    clock.advance(10)
    store.drain()
    assert sent() == [("A", 1), ("A", 1), ("A", 3), ("B", 2)]
    assert [call.body["product"]["price"] for call in upstream.calls if call.path.endswith("/A")] == [1, 1, 3]


def test_concurrency_towards_the_upstream_is_bounded(shop, upstream):
    gate = threading.Barrier(3, timeout=10)

    def gathered(call):
        gate.wait()  # every call waits until three are in flight together
        return Reply(200, call.body)

    upstream.answer = gathered
    store = shop(BULK_WORKER_CONCURRENCY="3")
    bulk_uuid = store.submit([product(f"SKU-{i}") for i in range(9)])
    assert store.drain() == 9
    assert upstream.max_in_flight == 3
    assert [op["status"] for op in store.operations(bulk_uuid)] == [1] * 9


def test_operations_of_a_dead_holder_are_forwarded_after_its_lease(shop, upstream, clock):
    store = shop(BULK_LEASE_SECONDS="60")
    bulk_uuid = store.submit([product("A"), product("B")])
    with database.connection_context():
        assert len(queue.claim("d" * 32, 10, 60, clock.time())) == 2  # a drainer that then died
    assert store.drain() == 0
    clock.advance(61)
    assert store.drain() == 2
    assert len(upstream.calls) == 2
    assert [op["status"] for op in store.operations(bulk_uuid)] == [1, 1]
    assert store.row(bulk_uuid).attempts == 2


# -- credentials ------------------------------------------------------------------------------

def test_passthrough_sends_the_submitters_token_and_never_shows_it(shop, upstream):
    store = shop(BULK_UPSTREAM_AUTH="passthrough")
    bulk_uuid = store.submit([product("A")])
    guest_bulk = store.submit([{"customer": {"email": "g@example.com", "firstname": "G", "lastname": "H"}}],
                              url="/rest/default/async/bulk/V1/customers", method="POST", headers={})
    store.drain()
    by_path = {call.path: call for call in upstream.calls}
    assert by_path["/rest/default/V1/products/A"].headers["Authorization"] == f"Bearer {store.token}"
    assert "Authorization" not in by_path["/rest/default/V1/customers"].headers
    with database.connection_context():
        stored = dict(Bulk.select(Bulk.uuid, Bulk.submitter_authorization).tuples())
    assert stored == {bulk_uuid: f"Bearer {store.token}", guest_bulk: None}
    for url in (f"/rest/V1/bulk/{bulk_uuid}/status", f"/rest/V1/bulk/{bulk_uuid}/detailed-status",
                "/rest/V1/bulk?searchCriteria[pageSize]=10"):
        assert store.token not in store.client.get(url, headers=store.auth).get_data(as_text=True)


def test_a_retry_forwards_with_the_token_of_whoever_reopened(shop, upstream, clock):
    upstream.answer = replies(Reply(401, {"message": "The consumer isn't authorized to access %resources.",
                                          "parameters": {"resources": "Magento_Catalog::products"}}))
    store = shop(BULK_UPSTREAM_AUTH="passthrough")
    bulk_uuid = store.submit([product("A")])
    store.drain()
    failed = store.operation(bulk_uuid)
    assert (failed["status"], failed["error_code"]) == (3, 401)
    assert failed["result_message"] == "The consumer isn't authorized to access Magento_Catalog::products."
    clock.advance(60)
    fresh = store.client.post("/rest/V1/integration/admin/token",
                              json={"username": "admin", "password": "admin123"}).get_json()
    assert fresh != store.token
    response = store.client.post(f"/rest/V1/bulk/{bulk_uuid}/retry", json={"scope": "failed"}, headers=bearer(fresh))
    assert response.get_json()["reopened_operation_ids"] == [0]
    store.drain()
    assert [call.headers["Authorization"] for call in upstream.calls] == [f"Bearer {store.token}", f"Bearer {fresh}"]
    assert store.operation(bulk_uuid)["status"] == 1


def test_token_mode_keeps_no_submitter_credentials(shop, upstream):
    store = shop()
    bulk_uuid = store.submit([product("A")])
    with database.connection_context():
        assert Bulk.get(Bulk.uuid == bulk_uuid).submitter_authorization is None


# -- settings ---------------------------------------------------------------------------------

def forward_settings(tmp_path, **overrides):
    return load_settings({"BULK_ENV": "development", "BULK_DATA_DIR": str(tmp_path), "BULK_PROCESSING": "forward",
                          **overrides}, environ={})


def test_forward_mode_defaults_and_checks(tmp_path):
    settings = forward_settings(tmp_path, BULK_UPSTREAM_URL="https://shop.example.com/")
    assert (settings.upstream_url, settings.worker_concurrency, settings.retry_attempts) == \
        ("https://shop.example.com", 4, 5)
    accept = load_settings({"BULK_ENV": "development", "BULK_DATA_DIR": str(tmp_path)}, environ={})
    assert (accept.worker_concurrency, accept.retry_attempts) == (1, 1)  # Magento: no automatic retry
    for overrides, message in [
        ({}, "BULK_UPSTREAM_URL must be set"),
        ({"BULK_UPSTREAM_URL": "shop.example.com"}, "http(s) base URL"),
        ({"BULK_UPSTREAM_URL": "ftp://shop.example.com"}, "http(s) base URL"),
        ({"BULK_UPSTREAM_URL": "http://x", "BULK_UPSTREAM_TIMEOUT": "31"}, "at most half of BULK_LEASE_SECONDS"),
        ({"BULK_UPSTREAM_URL": "http://x", "BULK_UPSTREAM_AUTH": "passthrough", "BULK_WORKER_CONCURRENCY": "7"},
         "BULK_DB_POOL_SIZE (8) must be at least BULK_WORKER_CONCURRENCY + 2 (9)"),
        ({"BULK_UPSTREAM_URL": "http://x", "BULK_UPSTREAM_AUTH": "basic"}, "token, passthrough"),
    ]:
        with pytest.raises(ConfigError, match="BULK_") as caught:
            forward_settings(tmp_path, **overrides)
        assert message in str(caught.value)
