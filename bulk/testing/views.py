"""`/V1/testing/...`: the test controls over HTTP, for test suites in any language.

Admin-only, and absent (404, like any unknown route) unless `BULK_TESTING` is on (`bulk.testing.extension`
adds them).
"""

from __future__ import annotations

import math
from typing import Any

from flask import Response, current_app, request
from marshmallow import ValidationError

from bulk.clock import ManualClock, magento_time
from bulk.errors import WebapiError, bulk_not_found, parse_int
from bulk.integrations import IntegrationError
from bulk.jsonutil import json_response
from bulk.testing.controls import BulkNotFinished, ClockNotControllable, Controls, UnknownBulk, controls_of
from bulk.testing.faults import FaultSchema
from bulk.views.body import decode_body, read_body
from bulk.views.endpoints import endpoint

# Magento's root admin resource: only the administrator's token passes.
RESOURCE = "Magento_Backend::admin"
MAX_WAIT_SECONDS = 300.0

INVALID_FAULT = "The fault is invalid: %reason"
INVALID_CLOCK_MOVE = 'Send {"advance": seconds} or {"set": epoch seconds}.'
INVALID_WAIT = 'The "timeout" must be a number of seconds from 0 to %max.'
INVALID_INTEGRATION = "The integration is invalid: %reason"
CLOCK_NOT_CONTROLLABLE = "The service clock follows the system time and cannot be moved."


def _controls() -> Controls:
    return controls_of(current_app)


def _json_body() -> Any:
    """The decoded body; an empty one (which Magento decodes to []) is an object without fields."""
    body = decode_body(read_body(), request.headers.get("Content-Type"))
    return {} if body == [] else body


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def add_fault() -> Response:
    body = _json_body()
    if not isinstance(body, dict):
        raise WebapiError(INVALID_FAULT, {"reason": "the body must be a JSON object"})
    try:
        fault = FaultSchema().load(body)
    except ValidationError as error:
        raise WebapiError(INVALID_FAULT, {"reason": _describe(error.messages)}) from None
    return json_response(_controls().faults.add(fault).to_json())


def _describe(messages: Any) -> str:
    if isinstance(messages, dict):
        return "; ".join(f"{name}: {_describe(problem)}" if name != "_schema" else _describe(problem)
                         for name, problem in messages.items())
    if isinstance(messages, list):
        return " ".join(_describe(problem) for problem in messages)
    return str(messages)


def list_faults() -> Response:
    return json_response([fault.to_json() for fault in _controls().faults.faults()])


def remove_faults() -> Response:
    _controls().faults.reset()
    return json_response(True)


def release_held() -> Response:
    _controls().faults.release()
    return json_response(True)


def drain() -> Response:
    return json_response({"operations": [operation.to_json() for operation in _controls().drain()]})


def wait_for_bulk(bulk_uuid: str) -> Response:
    body = _json_body()
    timeout = body.get("timeout", 10) if isinstance(body, dict) else None
    if not isinstance(timeout, (int, float)) or not _is_number(timeout) or not 0 <= timeout <= MAX_WAIT_SECONDS:
        raise WebapiError(INVALID_WAIT, {"max": int(MAX_WAIT_SECONDS)})
    try:
        statuses, done = _controls().wait_for(bulk_uuid, timeout), True
    except UnknownBulk:
        raise bulk_not_found(bulk_uuid) from None
    except BulkNotFinished as unfinished:
        statuses, done = unfinished.statuses, False
    return json_response({"bulk_uuid": bulk_uuid, "done": done, "statuses": [int(s) for s in statuses]})


def list_operations() -> Response:
    filters: dict[str, Any] = {name: request.args[name] for name in ("bulk_uuid", "topic", "route")
                               if name in request.args}
    if "status" in request.args:
        filters["status"] = parse_int(request.args["status"])
    return json_response([operation.to_json() for operation in _controls().operations(**filters)])


def read_clock() -> Response:
    return _clock_answer(_clock_or_error().time())


def move_clock() -> Response:
    body = _json_body()
    clock = _clock_or_error()
    if isinstance(body, dict) and len(body) == 1 and _is_number(body.get("advance")):
        clock.advance(body["advance"])
    elif isinstance(body, dict) and len(body) == 1 and _is_number(body.get("set")):
        clock.set(body["set"])
    else:
        raise WebapiError(INVALID_CLOCK_MOVE)
    return _clock_answer(clock.time())


def _clock_or_error() -> ManualClock:
    try:
        return _controls().clock
    except ClockNotControllable:
        raise WebapiError(CLOCK_NOT_CONTROLLABLE) from None


def _clock_answer(now: float) -> Response:
    return json_response({"now": now, "time": magento_time(now)})


def create_integration() -> Response:
    body = _json_body()
    name = body.get("name") if isinstance(body, dict) else None
    resources = body.get("resources", "all") if isinstance(body, dict) else None
    if not isinstance(name, str) or not (resources == "all" or (
            isinstance(resources, list) and all(isinstance(resource, str) for resource in resources))):
        raise WebapiError(INVALID_INTEGRATION, {"reason": 'send {"name": "...", "resources": [...] or "all"}'})
    try:
        created = _controls().create_integration(name, None if resources == "all" else resources)
    except IntegrationError as error:
        raise WebapiError(INVALID_INTEGRATION, {"reason": str(error)}) from None
    return json_response(created)


def reset() -> Response:
    _controls().reset()
    return json_response(True)


ENDPOINTS = tuple(endpoint(method, url, (RESOURCE,), view) for method, url, view in (
    ("POST", "/V1/testing/faults", add_fault),
    ("GET", "/V1/testing/faults", list_faults),
    ("DELETE", "/V1/testing/faults", remove_faults),
    ("POST", "/V1/testing/faults/release", release_held),
    ("POST", "/V1/testing/drain", drain),
    ("POST", "/V1/testing/bulk/:bulkUuid/wait", wait_for_bulk),
    ("GET", "/V1/testing/operations", list_operations),
    ("GET", "/V1/testing/clock", read_clock),
    ("POST", "/V1/testing/clock", move_clock),
    ("POST", "/V1/testing/reset", reset),
    ("POST", "/V1/testing/integrations", create_integration),
))
