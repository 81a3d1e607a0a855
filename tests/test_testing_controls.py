"""The test controls: drain, wait, recorded operations, clock, reset; in Python and over HTTP."""

from __future__ import annotations

import pytest
import requests

from bulk import finished_tally, queue
from bulk.clock import Clock
from bulk.db import database
from bulk.factory import create_app
from bulk.statuses import OperationStatus
from bulk.testing.controls import BulkNotFinished, UnknownBulk
from bulk.testing.fixture import AnotherServiceIsOpen, BulkFixture
from bulk.testing.views import ENDPOINTS
from tests.fixture_helpers import products, reported, submit
from tests.magento import assert_magento_error, bearer

LEASE = 60.0


def hold_like_a_dead_drainer(bulk) -> None:
    """Claim every open operation for a drainer that never finishes (its lease must run out)."""
    with database.connection_context():
        assert queue.claim("dead-drainer", 100, LEASE, bulk.clock.time())


def test_drain_processes_everything_now_and_says_what_it_did(bulk):
    first = submit(bulk, products("A", "B"))
    second = submit(bulk, [{"sku": "A"}], "/rest/all/async/bulk/V1/products/bySku", "DELETE")
    assert [op.status for op in bulk.operations()] == [4, 4, 4]
    processed = bulk.drain()
    assert [(op.bulk_uuid, op.id, op.route, op.status) for op in processed] == [
        (first, 0, "POST /V1/products", OperationStatus.COMPLETE),
        (first, 1, "POST /V1/products", OperationStatus.COMPLETE),
        (second, 0, "DELETE /V1/products/:sku", OperationStatus.COMPLETE)]
    assert bulk.drain() == []


def test_recorded_operations_keep_what_was_submitted_after_magento_clears_it(bulk):
    bulk_uuid = submit(bulk, {"product": {"sku": "A", "price": 3}}, "/rest/default/async/V1/products/A", "PUT")
    sent = {"product": {"sku": "A", "price": 3}, "sku": "A"}  # the URL's value joins the body's
    [waiting] = bulk.operations(bulk_uuid=bulk_uuid)
    assert (waiting.status, waiting.arguments, waiting.store_id) == (4, sent, 1)
    assert bulk.wait_for(bulk_uuid) == [1]
    detailed = bulk.client.get(f"/rest/V1/bulk/{bulk_uuid}/detailed-status", headers=bulk.headers).get_json()
    assert detailed["operations_list"][0]["serialized_data"] is None
    [done] = bulk.operations(bulk_uuid=bulk_uuid)
    assert (done.status, done.arguments, done.attempts, done.topic_name) == (
        1, sent, 1, "async.magento.catalog.api.productrepositoryinterface.save.put")


# Updates and deletes of entities that do not exist: only the injected fault may fail them.
@pytest.mark.parametrize("bulk_config", [{"BULK_PROCESSING": "accept"}])
def test_operations_filters(bulk):
    bulk.faults.fail(entity={"sku": "B"})
    posted = submit(bulk, products("A", "B"))
    deleted = submit(bulk, [{"sku": "C"}], "/rest/async/bulk/V1/products/bySku", "DELETE")
    bulk.drain()
    assert [op.id for op in bulk.operations(bulk_uuid=posted)] == [0, 1]
    assert [op.arguments for op in bulk.operations(status=3)] == [{"product": {"sku": "B"}}]
    assert [op.bulk_uuid for op in bulk.operations(route="DELETE /V1/products/:sku")] == [deleted]
    assert len(bulk.operations(topic="async.magento.catalog.api.productrepositoryinterface.save.post")) == 2


def test_wait_for_unknown_and_unfinished_bulks(bulk):
    with pytest.raises(UnknownBulk):
        bulk.wait_for("no-such-bulk")
    bulk_uuid = submit(bulk, products("A"))
    hold_like_a_dead_drainer(bulk)
    with pytest.raises(BulkNotFinished) as unfinished:
        bulk.wait_for(bulk_uuid, timeout=0)
    assert unfinished.value.statuses == [OperationStatus.OPEN]
    assert isinstance(unfinished.value, TimeoutError)


def test_a_dead_drainers_lease_expires_when_the_clock_moves(bulk, bulk_clock):
    bulk_uuid = submit(bulk, products("A", "B"))
    hold_like_a_dead_drainer(bulk)
    assert bulk.drain() == []
    bulk_clock.advance(LEASE - 1)
    assert bulk.drain() == []
    bulk_clock.advance(1)
    assert [op.attempts for op in bulk.drain()] == [2, 2]
    assert bulk.wait_for(bulk_uuid) == [1, 1]


def test_tokens_expire_with_the_clock_and_sign_in_gives_a_new_one(bulk, bulk_clock):
    search = "/rest/V1/bulk?searchCriteria[pageSize]=1"
    bulk_clock.advance(4 * 3600 - 1)
    assert bulk.client.get(search, headers=bulk.headers).status_code == 200
    bulk_clock.advance(1)
    assert bulk.client.get(search, headers=bulk.headers).status_code == 401
    bulk.sign_in()
    assert bulk.client.get(search, headers=bulk.headers).status_code == 200


@pytest.mark.parametrize("bulk_config", [{"BULK_MAX_ITEMS": 1, "BULK_TOKEN_LIFETIME_HOURS": 1}])
def test_settings_come_from_bulk_config(bulk, bulk_clock):
    response = bulk.client.post("/rest/async/bulk/V1/products", json=products("A", "B"), headers=bulk.headers)
    assert response.status_code == 400
    bulk_clock.advance(3600)
    assert bulk.client.get("/rest/V1/bulk?searchCriteria[pageSize]=1", headers=bulk.headers).status_code == 401


def test_the_fixture_ignores_the_shells_settings(bulk, monkeypatch, tmp_path):
    bulk.close()
    monkeypatch.setenv("BULK_MAX_ITEMS", "1")
    monkeypatch.setenv("BULK_ADMIN_PASSWORD", "from-the-shell")
    with BulkFixture(tmp_path) as isolated:
        assert (isolated.service.settings.max_items, isolated.password) == (5000, "admin123")
    with BulkFixture(tmp_path / "env", isolated=False) as from_environment:
        assert (from_environment.service.settings.max_items, from_environment.password) == (1, "from-the-shell")


def test_one_service_per_process_at_a_time(bulk, tmp_path):
    with pytest.raises(AnotherServiceIsOpen, match="one process-wide database"):
        BulkFixture(tmp_path / "second")
    bulk.close()
    with BulkFixture(tmp_path / "third") as third:
        assert third.drain() == []


def finished_last_hour(bulk) -> dict[int, int]:
    with database.connection_context():
        return finished_tally.last_hour(bulk.clock.time())


def test_reset_forgets_bulks_operations_rules_and_locks(bulk):
    bulk.faults.fail()
    bulk_uuid = submit(bulk, products("A"))
    bulk.drain()
    assert finished_last_hour(bulk) == {int(OperationStatus.NOT_RETRIABLY_FAILED): 1}
    for _ in range(6):
        bulk.client.post("/rest/V1/integration/admin/token", json={"username": "admin", "password": "wrong"})
    assert bulk.client.post("/rest/V1/integration/admin/token",
                            json={"username": "admin", "password": "admin123"}).status_code == 401
    assert bulk.client.post("/rest/V1/testing/reset", headers=bulk.headers).get_json() is True
    assert bulk.operations() == [] and bulk.faults.faults() == []
    assert bulk.client.get(f"/rest/V1/bulk/{bulk_uuid}/status", headers=bulk.headers).status_code == 404
    assert finished_last_hour(bulk) == {}  # the dashboard counts no finish of a removed operation
    assert bulk.sign_in()
    assert bulk.wait_for(submit(bulk, products("A"))) == [1]


# -- over HTTP -------------------------------------------------------------------------------


def test_drain_and_operations_over_http(bulk):
    bulk.faults.fail(entity={"sku": "B"}, message="bad", code=9)
    bulk_uuid = submit(bulk, products("A", "B"))
    drained = bulk.client.post("/rest/V1/testing/drain", headers=bulk.headers).get_json()
    assert [(op["id"], op["status"], op["result_message"], op["error_code"]) for op in drained["operations"]] == [
        (0, 1, "Service execution success Magento\\Catalog\\Model\\ProductRepository\\Interceptor::save", None),
        (1, 3, "bad", 9)]
    listed = bulk.client.get(f"/rest/V1/testing/operations?bulk_uuid={bulk_uuid}&status=3",
                             headers=bulk.headers).get_json()
    assert listed == [{
        "bulk_uuid": bulk_uuid, "id": 1, "topic_name": "async.magento.catalog.api.productrepositoryinterface.save.post",
        "route": "POST /V1/products", "store_id": 1, "arguments": {"product": {"sku": "B"}}, "status": 3,
        "result_message": "bad", "error_code": 9, "result": None, "attempts": 1}]
    assert bulk.client.get("/rest/V1/testing/operations?route=nothing", headers=bulk.headers).get_json() == []
    assert_magento_error(bulk.client.get("/rest/V1/testing/operations?status=done", headers=bulk.headers), 400,
                         INVALID_TYPE, {"value": "done", "type": "int"})


INVALID_TYPE = 'The "%value" value\'s type is invalid. The "%type" type was expected. Verify and try again.'


def test_wait_over_http(bulk, bulk_clock):
    bulk_uuid = submit(bulk, products("A"))
    hold_like_a_dead_drainer(bulk)
    wait = f"/rest/V1/testing/bulk/{bulk_uuid}/wait"
    assert bulk.client.post(wait, headers=bulk.headers, json={"timeout": 0}).get_json() == \
        {"bulk_uuid": bulk_uuid, "done": False, "statuses": [4]}
    bulk_clock.advance(LEASE)
    assert bulk.client.post(wait, headers=bulk.headers).get_json() == \
        {"bulk_uuid": bulk_uuid, "done": True, "statuses": [1]}
    assert_magento_error(bulk.client.post("/rest/V1/testing/bulk/nope/wait", headers=bulk.headers), 404,
                         "Bulk uuid %bulkUuid not exist", {"bulkUuid": "nope"})
    for timeout in (-1, 301, "5", None):
        assert_magento_error(bulk.client.post(wait, headers=bulk.headers, json={"timeout": timeout}), 400,
                             'The "timeout" must be a number of seconds from 0 to %max.', {"max": 300})


def test_clock_over_http(bulk, bulk_clock):
    clock = "/rest/V1/testing/clock"
    assert bulk.client.get(clock, headers=bulk.headers).get_json() == \
        {"now": 1_700_000_000.0, "time": "2023-11-14 22:13:20"}
    assert bulk.client.post(clock, headers=bulk.headers, json={"advance": 90}).get_json()["now"] == 1_700_000_090
    assert bulk_clock.time() == 1_700_000_090
    moved = bulk.client.post(clock, headers=bulk.headers, json={"set": 1_800_000_000})
    assert moved.get_json() == {"now": 1_800_000_000, "time": "2027-01-15 08:00:00"}
    # Years later the token has expired, as it would in Magento: sign in again.
    assert bulk.client.get(clock, headers=bulk.headers).status_code == 401
    bulk.sign_in()
    for body in ({}, {"advance": "1"}, {"advance": 1, "set": 2}, {"advance": True}, [1]):
        assert_magento_error(bulk.client.post(clock, headers=bulk.headers, json=body), 400,
                             'Send {"advance": seconds} or {"set": epoch seconds}.')
    assert bulk_clock.time() == 1_800_000_000


def test_a_service_on_the_system_clock_refuses_to_move_it(tmp_path):
    app = create_app({"BULK_ENV": "development", "BULK_DATA_DIR": str(tmp_path), "BULK_WORKER": False,
                      "BULK_TESTING": True}, clock=Clock())
    try:
        client = app.test_client()
        token = client.post("/rest/V1/integration/admin/token",
                            json={"username": "admin", "password": "admin123"}).get_json()
        for response in (client.get("/rest/V1/testing/clock", headers=bearer(token)),
                         client.post("/rest/V1/testing/clock", headers=bearer(token), json={"advance": 1})):
            assert_magento_error(response, 400, "The service clock follows the system time and cannot be moved.")
    finally:
        app.extensions["bulk"].shutdown()


def _every_testing_request():
    for testing_endpoint in ENDPOINTS:
        yield testing_endpoint.method, "/rest" + testing_endpoint.template.path.replace(":bulkUuid", "some-uuid")


def test_testing_endpoints_do_not_exist_unless_enabled(client, auth):
    for method, path in _every_testing_request():
        for headers in (auth, {}):
            assert_magento_error(client.open(path, method=method, headers=headers), 404,
                                 "Request does not match any route.")


def test_testing_endpoints_are_for_the_admin_only(bulk):
    for method, path in _every_testing_request():
        assert_magento_error(bulk.client.open(path, method=method), 401,
                             "The consumer isn't authorized to access %resources.",
                             {"resources": "Magento_Backend::admin"})


def test_the_live_server_serves_the_same_service_with_its_drainer(bulk_server):
    health = requests.get(bulk_server.url("/health"), timeout=10).json()
    assert health["drainer"] == "running"
    response = requests.post(bulk_server.url("/rest/async/bulk/V1/products"), json=products("A"),
                             headers=bulk_server.headers, timeout=10)
    assert response.status_code == 202
    bulk_uuid = response.json()["bulk_uuid"]
    assert bulk_server.wait_for(bulk_uuid) == [1]
    assert reported(bulk_server, bulk_uuid)[0][0] == 1
    assert bulk_server.base_url.startswith("http://127.0.0.1:")


@pytest.mark.parametrize("status", ["99999999999999999999", "12345678901234567890", "-99999999999999999999"])
def test_a_status_filter_beyond_64_bits_is_a_400_on_both_engines(make_app, status):
    client = make_app(BULK_TESTING=True).test_client()
    auth = bearer(client.post("/rest/V1/integration/admin/token",
                              json={"username": "admin", "password": "admin123"}).get_json())
    response = client.get(f"/rest/V1/testing/operations?status={status}", headers=auth)
    assert_magento_error(response, 400,
                         'The "%value" value\'s type is invalid. The "%type" type was expected. Verify and try again.',
                         {"value": status, "type": "int"})
    assert client.get("/rest/V1/testing/operations?status=99999999999", headers=auth).get_json() == []
