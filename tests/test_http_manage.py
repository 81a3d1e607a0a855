"""`POST /V1/bulk/:bulkUuid/retry` and `DELETE /V1/bulk/:bulkUuid` through HTTP."""

from __future__ import annotations

import pytest

from bulk.auth import ADMIN, GUEST, Caller
from bulk.handlers import RetriableError
from bulk.models import Bulk
from bulk.statuses import UserType
from bulk.visibility import may_see
from tests.magento import assert_magento_error, bearer
from tests.test_http_status import drain_with, outcome_by_sku, submit

BULK_RESOURCE = "Magento_AsynchronousOperations::system_magento_logging_bulk_operations"
NOT_AUTHORIZED = "The consumer isn't authorized to access %resources."


@pytest.fixture
def drain(service):
    """Drain now: `retry-*` SKUs fail retriably, `bad-*` for good, the rest complete (or `handler`)."""
    return lambda handler=outcome_by_sku: drain_with(service, handler)


def statuses(client, auth, bulk_uuid) -> list[int]:
    body = client.get(f"/rest/V1/bulk/{bulk_uuid}/status", headers=auth).get_json()
    return [op["status"] for op in body["operations_list"]]


def retry(client, auth, bulk_uuid, body=None):
    return client.post(f"/rest/V1/bulk/{bulk_uuid}/retry", json=body, headers=auth)


def test_retry_reopens_retriable_failures_by_default(client, auth, drain):
    bulk_uuid = submit(client, auth, ["ok", "retry-1", "bad-1", "retry-2"])
    drain()
    assert statuses(client, auth, bulk_uuid) == [1, 2, 3, 2]
    response = retry(client, auth, bulk_uuid)
    assert response.status_code == 200
    assert response.get_json() == {"bulk_id": bulk_uuid, "reopened_operation_ids": [1, 3]}
    assert statuses(client, auth, bulk_uuid) == [1, 4, 3, 4]
    assert drain(lambda job: {"fixed": True}) == 2
    assert statuses(client, auth, bulk_uuid) == [1, 1, 3, 1]
    assert retry(client, auth, bulk_uuid).get_json()["reopened_operation_ids"] == []


@pytest.mark.parametrize("body, reopened, after", [
    ({"scope": "failed"}, [1, 2, 3], [1, 4, 4, 4]),
    ({"scope": "retriable"}, [1, 3], [1, 4, 3, 4]),
    ({"operation_ids": [0, 2, 3, 99]}, [2, 3], [1, 2, 4, 4]),
    ({"operation_ids": [2, 3], "scope": "retriable"}, [3], [1, 2, 3, 4]),
    ({"operation_ids": []}, [], [1, 2, 3, 2]),
    ({"operation_ids": [2, 2**63 - 1]}, [2], [1, 2, 4, 2]),  # the largest id the databases hold
    ({"scope": None}, [1, 3], [1, 4, 3, 4]),                  # null is no scope, as in Magento
])
def test_retry_body_chooses_what_is_reopened(client, auth, drain, body, reopened, after):
    bulk_uuid = submit(client, auth, ["ok", "retry-1", "bad-1", "retry-2"])
    drain()
    response = retry(client, auth, bulk_uuid, body)
    assert response.get_json()["reopened_operation_ids"] == reopened
    assert statuses(client, auth, bulk_uuid) == after


def test_a_reopened_operation_runs_with_its_original_payload(client, auth, drain):
    bulk_uuid = submit(client, auth, ["bad-1"])
    drain()
    retry(client, auth, bulk_uuid, {"scope": "failed"})
    seen = []
    drain(lambda job: seen.append(job.arguments["product"]["sku"]))
    assert seen == ["bad-1"]
    detail = client.get(f"/rest/V1/bulk/{bulk_uuid}/detailed-status", headers=auth).get_json()
    assert detail["operations_list"][0]["status"] == 1


@pytest.mark.parametrize("body, message, parameters", [
    ({"scope": "everything"}, 'Invalid value of "%value" provided for the %fieldName field.',
     {"value": "everything", "fieldName": "scope"}),
    ({"operation_ids": "1,2"}, 'The "%value" value\'s type is invalid. The "%type" type was expected. '
                               'Verify and try again.', {"value": '"1,2"', "type": "int[]"}),
    ({"operation_ids": [1, True]}, 'The "%value" value\'s type is invalid. The "%type" type was expected. '
                                   'Verify and try again.', {"value": "[1,true]", "type": "int[]"}),
    # Beyond 64 bits (orjson reads up to 2^64-1 as an integer): refused alike on both engines.
    ({"operation_ids": [0, 2**63]}, 'The "%value" value\'s type is invalid. The "%type" type was expected. '
                                    'Verify and try again.', {"value": f"[0,{2**63}]", "type": "int[]"}),
    ({"operation_ids": [2**64 - 1]}, 'The "%value" value\'s type is invalid. The "%type" type was expected. '
                                     'Verify and try again.', {"value": f"[{2**64 - 1}]", "type": "int[]"}),
    # A scope that is a list or an object is the type error Magento gives an array where a string belongs.
    ({"scope": []}, 'The "%value" value\'s type is invalid. The "%type" type was expected. Verify and try again.',
     {"value": "array", "type": "string"}),
    ({"scope": {}}, 'The "%value" value\'s type is invalid. The "%type" type was expected. Verify and try again.',
     {"value": "array", "type": "string"}),
    ({"scope": {"a": "failed"}}, 'The "%value" value\'s type is invalid. The "%type" type was expected. '
                                 'Verify and try again.', {"value": "array", "type": "string"}),
    # Other scalars are shown as JSON, never as Python text.
    ({"scope": True}, 'Invalid value of "%value" provided for the %fieldName field.',
     {"value": "true", "fieldName": "scope"}),
    ({"scope": 5}, 'Invalid value of "%value" provided for the %fieldName field.', {"value": "5", "fieldName": "scope"}),
    ({"ids": [1]}, '"%fieldName" is not supported. Correct the field name and try again.', {"fieldName": "ids"}),
    ([1, 2], 'The "%value" value\'s type is invalid. The "%type" type was expected. Verify and try again.',
     {"value": "[1,2]", "type": "object"}),
])
def test_bad_retry_bodies(client, auth, drain, body, message, parameters):
    bulk_uuid = submit(client, auth, ["retry-1"])
    drain()
    assert_magento_error(retry(client, auth, bulk_uuid, body), 400, message, parameters)
    assert statuses(client, auth, bulk_uuid) == [2]


def test_malformed_retry_json(client, auth):
    bulk_uuid = submit(client, auth, ["a"])
    response = client.post(f"/rest/V1/bulk/{bulk_uuid}/retry", data=b"{", headers={
        **auth, "Content-Type": "application/json"})
    assert_magento_error(response, 400, "Decoding error.")


def test_delete_a_finished_bulk(client, auth, drain):
    bulk_uuid = submit(client, auth, ["ok", "bad-1"])
    drain()
    response = client.delete(f"/rest/V1/bulk/{bulk_uuid}", headers=auth)
    assert response.status_code == 200
    assert response.get_json() is True
    assert_magento_error(client.get(f"/rest/V1/bulk/{bulk_uuid}/status", headers=auth), 404,
                         "Bulk uuid %bulkUuid not exist", {"bulkUuid": bulk_uuid})
    assert_magento_error(client.delete(f"/rest/V1/bulk/{bulk_uuid}", headers=auth), 404,
                         "Bulk uuid %bulkUuid not exist", {"bulkUuid": bulk_uuid})


def test_delete_refuses_while_operations_are_open(client, auth, drain):
    bulk_uuid = submit(client, auth, ["a", "b", "c"])
    assert_magento_error(client.delete(f"/rest/V1/bulk/{bulk_uuid}", headers=auth), 409,
                         "Bulk uuid %bulkUuid still has %count open operation(s); "
                         "it can be deleted once they have finished.",
                         {"bulkUuid": bulk_uuid, "count": 3})
    drain()
    assert client.delete(f"/rest/V1/bulk/{bulk_uuid}", headers=auth).status_code == 200


def test_unknown_bulk(client, auth):
    assert_magento_error(retry(client, auth, "nope"), 404, "Bulk uuid %bulkUuid not exist", {"bulkUuid": "nope"})


@pytest.mark.parametrize("headers", [{}, bearer("forged"), {"Authorization": "Basic YWRtaW46YWRtaW4xMjM="}])
def test_both_need_a_token(client, auth, drain, headers):
    bulk_uuid = submit(client, auth, ["retry-1"])
    drain()
    for response in (retry(client, headers, bulk_uuid), client.delete(f"/rest/V1/bulk/{bulk_uuid}", headers=headers)):
        assert_magento_error(response, 401, NOT_AUTHORIZED, {"resources": BULK_RESOURCE})
    assert statuses(client, auth, bulk_uuid) == [2]


def test_an_expired_token_is_refused(client, auth, drain, clock):
    bulk_uuid = submit(client, auth, ["retry-1"])
    drain()
    clock.advance(4 * 3600 + 1)
    assert_magento_error(retry(client, auth, bulk_uuid), 401, NOT_AUTHORIZED, {"resources": BULK_RESOURCE})


def busy(job):
    raise RetriableError("busy")


def test_an_admin_manages_a_guests_bulk(client, auth, drain):
    response = client.post("/rest/async/bulk/V1/customers",
                           json=[{"customer": {"email": "g@example.com", "firstname": "G", "lastname": "H"}}])
    assert response.status_code == 202
    bulk_uuid = response.get_json()["bulk_uuid"]
    drain(busy)
    assert retry(client, {}, bulk_uuid).status_code == 401
    assert retry(client, auth, bulk_uuid).get_json()["reopened_operation_ids"] == [0]


def test_who_may_manage_a_bulk():
    integration_bulk = Bulk(uuid="b", user_type=UserType.INTEGRATION, user_id=7)
    owner = Caller(UserType.INTEGRATION, 7, frozenset({BULK_RESOURCE}))
    same_id_other_type = Caller(UserType.CUSTOMER, 7, frozenset({BULK_RESOURCE}))
    other_integration = Caller(UserType.INTEGRATION, 8, frozenset({BULK_RESOURCE}))
    restricted_admin = Caller(UserType.ADMIN, 2, frozenset({BULK_RESOURCE}))
    integrations_admin = Caller(UserType.ADMIN, 2, frozenset({BULK_RESOURCE, BULK_RESOURCE + "_integrations"}))
    all_resources_integration = Caller(UserType.INTEGRATION, 9, None)
    assert may_see(owner, integration_bulk)
    assert may_see(ADMIN, integration_bulk)
    assert may_see(integrations_admin, integration_bulk)
    assert may_see(all_resources_integration, integration_bulk)
    assert not may_see(same_id_other_type, integration_bulk)
    assert not may_see(other_integration, integration_bulk)
    assert not may_see(restricted_admin, integration_bulk)
    assert not may_see(GUEST, Bulk(uuid="g", user_type=UserType.GUEST, user_id=None))
