"""Magento's bulk status endpoints (`BulkStatusInterface`, `OperationRepositoryInterface::getList`)."""

from __future__ import annotations

from collections.abc import Callable

from flask import Response, request

from bulk import reports
from bulk.errors import bulk_not_found, parse_int
from bulk.jsonutil import json_response
from bulk.models import Bulk
from bulk.search_criteria import parse_search_criteria
from bulk.views.endpoints import current_caller, endpoint
from bulk.views.responses import (
    DETAILED_COLUMNS,
    SHORT_COLUMNS,
    bulk_status,
    bulk_summary,
    detailed_operation,
    search_item,
    short_operation,
)
from bulk.visibility import BULK_ACTIONS, may_see, sees_every_bulk, visible_bulks

# The current 2.4 id (older releases named it `Magento_Logging::...`).
RESOURCE = BULK_ACTIONS


def short_status(bulk_uuid: str) -> Response:
    return _bulk_status(bulk_uuid, SHORT_COLUMNS, short_operation)


def detailed_status(bulk_uuid: str) -> Response:
    return _bulk_status(bulk_uuid, DETAILED_COLUMNS, detailed_operation)


def visible_bulk(bulk_uuid: str) -> Bulk:
    """The bulk, if the caller may see it; another owner's bulk it may not see is 404 like an unknown one."""
    bulk = reports.find_bulk(bulk_uuid)
    if bulk is None or not may_see(current_caller(), bulk):
        raise bulk_not_found(bulk_uuid)
    return bulk


def _bulk_status(bulk_uuid: str, columns: tuple[str, ...], shape: Callable[[tuple], dict]) -> Response:
    bulk = visible_bulk(bulk_uuid)
    summary = bulk_summary(reports.status_counts(bulk_uuid), bulk.finished_at)
    return json_response(bulk_status(bulk, map(shape, reports.operation_rows(bulk_uuid, columns)), summary))


def operation_status_count(bulk_uuid: str, status: str) -> Response:
    """A bare integer; an unknown uuid (or a bulk the caller may not see) counts 0, as in Magento."""
    wanted = parse_int(status)
    caller = current_caller()
    if not sees_every_bulk(caller):
        bulk = reports.find_bulk(bulk_uuid)
        if bulk is None or not may_see(caller, bulk):
            return json_response(0)
    return json_response(reports.count_with_status(bulk_uuid, wanted))


def search() -> Response:
    criteria = parse_search_criteria(request.args.items(multi=True), reports.SEARCH_FIELDS)
    rows, total = reports.search_operations(criteria, DETAILED_COLUMNS, visible_bulks(current_caller()))
    return json_response({
        "items": [search_item(row[:-1], row[-1]) for row in rows],
        "search_criteria": criteria.echo(),
        "total_count": total,
    })


ENDPOINTS = (
    endpoint("GET", "/V1/bulk/:bulkUuid/status", (RESOURCE,), short_status),
    endpoint("GET", "/V1/bulk/:bulkUuid/detailed-status", (RESOURCE,), detailed_status),
    endpoint("GET", "/V1/bulk/:bulkUuid/operation-status/:status", (RESOURCE,), operation_status_count),
    endpoint("GET", "/V1/bulk", (RESOURCE,), search),
)
