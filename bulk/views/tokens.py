"""`POST /V1/integration/admin/token`: credentials in, a bare JSON string out."""

from __future__ import annotations

from flask import Response, request

from bulk.auth import sign_in_admin
from bulk.jsonutil import json_response
from bulk.routes.catalogue import ANONYMOUS
from bulk.service import current_service
from bulk.views.body import decode_body, read_body
from bulk.views.endpoints import endpoint


def admin_token() -> Response:
    service = current_service()
    body = decode_body(read_body(), request.headers.get("Content-Type"))
    credentials = body if isinstance(body, dict) else {}
    now = service.clock.time()
    caller = sign_in_admin(service.admin_account, credentials.get("username"),
                           credentials.get("password"), now)
    return json_response(service.tokens.issue(caller, now))


ENDPOINTS = (
    endpoint("POST", "/V1/integration/admin/token", (ANONYMOUS,), admin_token),
)
