"""Retrying and deleting a bulk over the API (Magento only has an admin button): whoever may see it.

    POST   /V1/bulk/:bulkUuid/retry  {"scope": "retriable" | "failed", "operation_ids": [0, 3]}
    DELETE /V1/bulk/:bulkUuid
"""

from __future__ import annotations

from typing import Any

from flask import Response, request

from bulk import queue, reports
from bulk.errors import WebapiError, bulk_not_found, parse_int
from bulk.jsonutil import dumps, json_response
from bulk.phrases import INVALID_FIELD_VALUE, INVALID_TYPE, UNSUPPORTED_FIELD
from bulk.service import current_service
from bulk.statuses import OperationStatus
from bulk.views.body import decode_body, read_body
from bulk.views.endpoints import endpoint
from bulk.views.status import RESOURCE, visible_bulk

# Our own: Magento has no API to delete a bulk.
BULK_HAS_OPEN_OPERATIONS = ("Bulk uuid %bulkUuid still has %count open operation(s); "
                            "it can be deleted once they have finished.")

RETRY_SCOPES = {
    "retriable": (OperationStatus.RETRIABLY_FAILED,),
    "failed": (OperationStatus.RETRIABLY_FAILED, OperationStatus.NOT_RETRIABLY_FAILED),
}


def retry_bulk(bulk_uuid: str) -> Response:
    """Re-open the chosen failed operations; answers their ids (operations they were not in are left)."""
    service = current_service()
    visible_bulk(bulk_uuid)
    statuses, operation_ids = _retry_selection(
        decode_body(read_body(), request.headers.get("Content-Type")))
    # Passing credentials through: the operations now go out with the token of whoever re-opened them.
    authorization = request.headers.get("Authorization") if service.settings.passes_submitter_credentials else None
    reopened = reopen_operations(bulk_uuid, statuses, operation_ids, authorization)
    return json_response({"bulk_id": bulk_uuid, "reopened_operation_ids": reopened})


def reopen_operations(bulk_uuid: str, statuses: tuple[OperationStatus, ...], operation_ids: list[int] | None = None,
                      authorization: str | None = None) -> list[int]:
    """Re-open a bulk's failed operations and wake this process's drainer (the API's retry, the dashboard's)."""
    reopened = queue.reopen(bulk_uuid, statuses, operation_ids, authorization)
    if reopened:
        current_service().drainer.notify()
    return reopened


def delete_bulk(bulk_uuid: str) -> Response:
    """Delete a finished bulk with its operations: `true`, or 409 while any operation is open."""
    visible_bulk(bulk_uuid)
    deleted = queue.delete_finished_bulk(bulk_uuid)
    if deleted is None:
        raise bulk_not_found(bulk_uuid)
    if not deleted:
        raise WebapiError(BULK_HAS_OPEN_OPERATIONS, {
            "bulkUuid": bulk_uuid, "count": reports.count_with_status(bulk_uuid, OperationStatus.OPEN)},
            status=409)
    return json_response(True)


def _retry_selection(body: Any) -> tuple[tuple[OperationStatus, ...], list[int] | None]:
    """Which failed operations a retry body asks for; no body means the retriably failed ones."""
    if body == []:  # no body at all (Magento decodes nothing into an empty array)
        body = {}
    if not isinstance(body, dict):
        raise WebapiError(INVALID_TYPE, {"value": dumps(body).decode(), "type": "object"})
    for key in body:
        if key not in ("scope", "operation_ids"):
            raise WebapiError(UNSUPPORTED_FIELD, {"fieldName": key})
    operation_ids = _operation_ids(body.get("operation_ids"))
    scope = body.get("scope")
    if scope is None:  # absent or null, as Magento reads an optional argument
        # Naming operations means "these, whatever their failure"; otherwise only what may pass unchanged.
        scope = "failed" if operation_ids is not None else "retriable"
    if isinstance(scope, (list, dict)):
        # What Magento's TypeProcessor answers for an array where a string belongs.
        raise WebapiError(INVALID_TYPE, {"value": "array", "type": "string"})
    if scope not in RETRY_SCOPES:
        raise WebapiError(INVALID_FIELD_VALUE, {
            "value": scope if isinstance(scope, str) else dumps(scope).decode(), "fieldName": "scope"})
    return RETRY_SCOPES[scope], operation_ids


def _operation_ids(value: Any) -> list[int] | None:
    """A list of integers the databases hold (JSON decodes up to 2^64-1), or Magento's type error."""
    if value is None:
        return None
    if isinstance(value, list) and all(isinstance(number, int) and not isinstance(number, bool) for number in value):
        try:
            return [parse_int(number) for number in value]
        except WebapiError:
            pass  # beyond 64 bits: the error names the whole list, as for any other wrong entry
    raise WebapiError(INVALID_TYPE, {"value": dumps(value).decode(), "type": "int[]"})


ENDPOINTS = (
    endpoint("POST", "/V1/bulk/:bulkUuid/retry", (RESOURCE,), retry_bulk),
    endpoint("DELETE", "/V1/bulk/:bulkUuid", (RESOURCE,), delete_bulk),
)
