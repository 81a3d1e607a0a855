"""Async and bulk submissions: decode, hand to `accept`, answer 202."""

from __future__ import annotations

from flask import Response, request

from bulk.accept import accept, single_async_arguments
from bulk.jsonutil import json_response
from bulk.routes.catalogue import Route
from bulk.service import current_service
from bulk.statuses import UserType
from bulk.urls import Target
from bulk.views.body import as_argument_items, decode_body
from bulk.views.guard import RequestGuard
from bulk.views.responses import async_response


def submit_bulk(route: Route, target: Target, guard: RequestGuard) -> Response:
    body = decode_body(request.get_data(cache=False), request.headers.get("Content-Type"))
    return _accepted(route, as_argument_items(body), target, guard)


def submit_single(route: Route, path_values: dict[str, str], target: Target, guard: RequestGuard) -> Response:
    body = decode_body(request.get_data(cache=False), request.headers.get("Content-Type"))
    return _accepted(route, [(0, single_async_arguments(route, body, path_values))], target, guard)


def _accepted(route: Route, items: list, target: Target, guard: RequestGuard) -> Response:
    service = current_service()
    caller = guard.caller
    # Rate limits and the open-operations bound refuse before any item is looked at.
    guard.before_accept(len(items))
    # A guest's header (absent, forged or expired) is nothing worth passing on.
    keep_credentials = service.settings.passes_submitter_credentials and caller.user_type != UserType.GUEST
    accepted = accept(route, items, target.store_id, caller, service.accept_policy, service.clock.time(),
                      request.headers.get("Authorization") if keep_credentials else None, guard.within)
    service.drainer.notify()
    return json_response(async_response(accepted, service.settings.response_shape), 202)
