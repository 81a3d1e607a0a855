"""`POST /V1/integration/admin/token`: credentials in, a bare JSON string out."""

from __future__ import annotations

from flask import Response, request

from bulk.jsonutil import json_response
from bulk.routes.catalogue import ANONYMOUS
from bulk.service import current_service
from bulk.sign_in import sign_in_admin
from bulk.views.body import decode_body, read_body
from bulk.views.endpoints import endpoint
from bulk.views.guard import client_address


def admin_token() -> Response:
    service = current_service()
    body = decode_body(read_body(), request.headers.get("Content-Type"))
    credentials = body if isinstance(body, dict) else {}
    now = service.clock.time()
    caller = sign_in_admin(service.admin_account, credentials.get("username"),
                           credentials.get("password"), now, client_address(service.settings))
    return json_response(service.tokens.issue(caller, now))


ENDPOINTS = (
    endpoint("POST", "/V1/integration/admin/token", (ANONYMOUS,), admin_token),
)
