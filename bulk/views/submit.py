"""Async and bulk submissions: decode, hand to `accept`, answer 202."""

from __future__ import annotations

from flask import Response, request

from bulk.accept import accept, single_async_arguments
from bulk.auth import Caller
from bulk.jsonutil import json_response
from bulk.observe import note_accepted
from bulk.routes.catalogue import Route
from bulk.service import current_service
from bulk.statuses import UserType
from bulk.urls import Target
from bulk.views.body import as_argument_items, decode_body
from bulk.views.responses import async_response


def submit_bulk(route: Route, target: Target, caller: Caller) -> Response:
    body = decode_body(request.get_data(cache=False), request.headers.get("Content-Type"))
    return _accepted(route, as_argument_items(body), target, caller)


def submit_single(route: Route, path_values: dict[str, str], target: Target, caller: Caller) -> Response:
    body = decode_body(request.get_data(cache=False), request.headers.get("Content-Type"))
    return _accepted(route, [(0, single_async_arguments(route, body, path_values))], target, caller)


def _accepted(route: Route, items: list, target: Target, caller: Caller) -> Response:
    service = current_service()
    # A guest's header (absent, forged or expired) is nothing worth passing on.
    keep_credentials = service.settings.passes_submitter_credentials and caller.user_type != UserType.GUEST
    accepted = accept(route, items, target.store_id, caller, service.accept_policy, service.clock.time(),
                      request.headers.get("Authorization") if keep_credentials else None)
    service.drainer.notify()
    note_accepted(route.topic_name, accepted)
    return json_response(async_response(accepted, service.settings.response_shape), 202)
