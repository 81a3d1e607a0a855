"""What every HTTP request leaves behind: a request id, one log line, and its metrics.

The id comes from `X-Request-Id` when the client (or a proxy) sent a usable one, else it is made
here; it goes back in the answer's `X-Request-Id` and on every log line made while serving. Views
tell what they know through the `note_*` hooks (route template, caller, stored bulk): metrics are
labelled by route template, never by the raw path, so clients cannot create series at will.
"""

from __future__ import annotations

import logging
import re
import time
import uuid

from flask import Flask, Response, g, request

from bulk import metrics
from bulk.accept import REJECTED, Accepted
from bulk.auth import Caller

REQUEST_ID_HEADER = "X-Request-Id"
MAX_REQUEST_ID = 128
_UNSAFE = re.compile(r"[^A-Za-z0-9._:/+=@-]")
# Request methods counted by name; any other (a client can send any token) is counted as "other".
_METHODS = frozenset(("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"))
# Answered often (probes, scrapers, the Swagger UI's files): logged at DEBUG unless they fail.
_QUIET_ENDPOINTS = frozenset(("health.health_check", "ops.readiness", "ops.metrics_endpoint", "apidocs.swagger_file"))

log = logging.getLogger("bulk.requests")


def request_id_from(header: str | None) -> str:
    """A client's id, kept to safe characters and bounded; a new one when none is usable."""
    if header:
        cleaned = _UNSAFE.sub("", header)[:MAX_REQUEST_ID]
        if cleaned:
            return cleaned
    return uuid.uuid4().hex


def init_app(app: Flask) -> None:
    """Observe every request of `app` (call before other `before_request` functions are added)."""
    app.before_request(_started)
    app.after_request(_finished)


def note_route(template: str) -> None:
    """The route template that matched (`/async/bulk/V1/products/bySku`, `/V1/bulk/:bulkUuid/status`)."""
    g.bulk_route = template


def note_caller(caller: Caller) -> None:
    g.bulk_observed_caller = caller


def note_accepted(topic: str, accepted: Accepted) -> None:
    """A bulk was stored: count it, and name it on the request's log line."""
    rejected = sum(1 for item in accepted.request_items if item.status == REJECTED)
    metrics.bulk_accepted(topic, len(accepted.request_items) - rejected, rejected)
    g.bulk_uuid = accepted.bulk_uuid
    g.bulk_items = len(accepted.request_items)


def _started() -> None:
    g.request_started = time.perf_counter()
    g.request_id = request_id_from(request.headers.get(REQUEST_ID_HEADER))


def route_label() -> str:
    """What the request is counted under: the matched template, a Flask rule, or `unmatched`."""
    route = g.get("bulk_route")
    if route is not None:
        return route
    rule = request.url_rule
    if rule is None or rule.endpoint == "api.dispatch":
        return metrics.UNMATCHED
    return rule.rule


def _finished(response: Response) -> Response:
    seconds = time.perf_counter() - g.get("request_started", time.perf_counter())
    method = request.method if request.method in _METHODS else "other"
    route = route_label()
    status = response.status_code
    metrics.request_answered(method, route, status, seconds)
    request_id = g.get("request_id") or request_id_from(None)
    response.headers[REQUEST_ID_HEADER] = request_id
    level = logging.WARNING if status >= 500 else logging.INFO
    if status < 400 and request.endpoint in _QUIET_ENDPOINTS:
        level = logging.DEBUG
    if log.isEnabledFor(level):
        _log_request(level, method, route, status, seconds)
    return response


def _log_request(level: int, method: str, route: str, status: int, seconds: float) -> None:
    duration_ms = round(seconds * 1000, 2)
    fields: dict[str, object] = {"method": method, "path": request.path[:512], "route": route, "status": status,
                                 "duration_ms": duration_ms}
    text = f"{method} {fields['path']} {status} {duration_ms}ms"
    caller: Caller | None = g.get("bulk_observed_caller")
    if caller is not None:
        fields["user_type"] = caller.user_type.name.lower()
        fields["user_id"] = caller.user_id
        text += f" {fields['user_type']}" + (f":{caller.user_id}" if caller.user_id is not None else "")
    bulk_uuid = g.get("bulk_uuid")
    if bulk_uuid is not None:
        fields["bulk_uuid"] = bulk_uuid
        fields["items"] = g.get("bulk_items")
        text += f" bulk {bulk_uuid} ({fields['items']} items)"
    log.log(level, text, extra=fields)
