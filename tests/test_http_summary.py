"""The bulk summary in `extension_attributes` of the status answers: right while operations are open."""

from __future__ import annotations

import pytest

from bulk import queue
from bulk.handlers import Outcome, PermanentError
from bulk.statuses import OperationStatus
from tests.test_http_status import drain_with, submit


def summary(client, auth, bulk_uuid, endpoint="status"):
    response = client.get(f"/rest/V1/bulk/{bulk_uuid}/{endpoint}", headers=auth)
    assert response.status_code == 200
    return response.get_json()["extension_attributes"]


def fail_sku_b(job):
    if job.arguments["product"]["sku"] == "b":
        raise PermanentError("The product can't be saved.")


def counts(complete=0, failed_retriably=0, failed_not_retriably=0, open=0, rejected=0):
    return {"complete": complete, "failed_retriably": failed_retriably,
            "failed_not_retriably": failed_not_retriably, "open": open, "rejected": rejected}


@pytest.mark.parametrize("endpoint", ["status", "detailed-status"])
def test_nothing_processed_yet_is_not_started(client, auth, endpoint):
    bulk_uuid = submit(client, auth, ["a", "b", "c"])
    assert summary(client, auth, bulk_uuid, endpoint) == {
        "status": "not_started", "counts": counts(open=3), "finished_at": None}


@pytest.mark.parametrize("endpoint", ["status", "detailed-status"])
def test_some_operations_open_is_in_progress_not_finished(client, auth, service, clock, endpoint):
    """Magento reports this bulk "finished with failure" (issue #36911)."""
    bulk_uuid = submit(client, auth, ["a", "b", "c"])
    token = "t" * 32
    first, _held = queue.claim(token, 2, 60, clock.time())
    queue.record(token, [Outcome(first.id, OperationStatus.COMPLETE, "ok")], clock.time())
    # The other one is held by a drainer and not finished: still open.
    assert summary(client, auth, bulk_uuid, endpoint) == {
        "status": "in_progress", "counts": counts(complete=1, open=2), "finished_at": None}


def test_all_complete_is_finished_successfully_with_the_finish_time(client, auth, service, clock):
    bulk_uuid = submit(client, auth, ["a", "b"])
    clock.advance(65)
    drain_with(service, lambda job: None)
    assert summary(client, auth, bulk_uuid) == {
        "status": "finished_successfully", "counts": counts(complete=2), "finished_at": "2023-11-14 22:14:25"}


def test_a_failure_makes_it_finished_with_failure_and_a_retry_reopens_it(client, auth, service, clock):
    bulk_uuid = submit(client, auth, ["a", "b", "c"])
    clock.advance(5)
    drain_with(service, fail_sku_b)
    assert summary(client, auth, bulk_uuid) == {
        "status": "finished_with_failure", "counts": counts(complete=2, failed_not_retriably=1),
        "finished_at": "2023-11-14 22:13:25"}

    response = client.post(f"/rest/V1/bulk/{bulk_uuid}/retry", json={"scope": "failed"}, headers=auth)
    assert response.get_json()["reopened_operation_ids"] == [1]
    assert summary(client, auth, bulk_uuid) == {
        "status": "in_progress", "counts": counts(complete=2, open=1), "finished_at": None}
    clock.advance(60)
    drain_with(service, lambda job: None)
    assert summary(client, auth, bulk_uuid) == {
        "status": "finished_successfully", "counts": counts(complete=3), "finished_at": "2023-11-14 22:14:25"}


def test_a_bulk_without_operations_is_not_started(client, auth):
    response = client.post("/rest/async/bulk/V1/products", json=[], headers=auth)
    assert response.status_code == 202
    assert summary(client, auth, response.get_json()["bulk_uuid"]) == {
        "status": "not_started", "counts": counts(), "finished_at": None}


def test_the_rest_of_the_answer_is_magentos(client, auth, service):
    bulk_uuid = submit(client, auth, ["a"])
    drain_with(service, lambda job: None)
    body = client.get(f"/rest/V1/bulk/{bulk_uuid}/detailed-status", headers=auth).get_json()
    del body["extension_attributes"]
    assert list(body) == ["bulk_id", "description", "operation_count", "operations_list", "start_time",
                          "user_id", "user_type"]
    assert [operation["status"] for operation in body["operations_list"]] == [1]
