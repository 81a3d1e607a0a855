"""Async and bulk submissions: decode, hand to `accept`, answer 202."""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any

from flask import Response, request

from bulk import idempotency
from bulk.accept import Accepted, AcceptPolicy, accept, single_async_arguments
from bulk.idempotency import KeyedRequest, StoredKey
from bulk.jsonutil import JSON_CONTENT_TYPE, dumps, json_response
from bulk.observe import note_accepted
from bulk.routes.catalogue import Route
from bulk.service import current_service
from bulk.statuses import UserType
from bulk.urls import Target
from bulk.views.body import as_argument_items, decode_body, read_body
from bulk.views.guard import RequestGuard
from bulk.views.responses import async_response


def submit_bulk(route: Route, target: Target, guard: RequestGuard) -> Response:
    data = read_body()
    keyed = _keyed(guard, data)
    if keyed is not None and (replay := _replay(keyed, guard)) is not None:
        return replay
    # A large body is decoded a window of items at a time, as `accept` goes through them.
    body = decode_body(data, request.headers.get("Content-Type"), _policy(guard).max_items)
    return _accepted(route, as_argument_items(body), target, guard, keyed)


def submit_single(route: Route, path_values: dict[str, str], target: Target, guard: RequestGuard) -> Response:
    data = read_body()
    keyed = _keyed(guard, data)
    if keyed is not None and (replay := _replay(keyed, guard)) is not None:
        return replay
    body = decode_body(data, request.headers.get("Content-Type"))
    return _accepted(route, [(0, single_async_arguments(route, body, path_values))], target, guard, keyed)


def _policy(guard: RequestGuard) -> AcceptPolicy:
    """Guests (anonymous routes) have their own, lower item bound."""
    service = current_service()
    return service.guest_accept_policy if guard.caller.user_type == UserType.GUEST else service.accept_policy


def _accepted(route: Route, items: Collection[tuple[int | str, Any]], target: Target, guard: RequestGuard,
              keyed: KeyedRequest | None) -> Response:
    service = current_service()
    caller = guard.caller
    # Rate limits and the open-operations bound refuse before any item is looked at.
    guard.before_accept(len(items))
    # A guest's header (absent, forged or expired) is nothing worth passing on.
    keep_credentials = service.settings.passes_submitter_credentials and caller.user_type != UserType.GUEST
    shape = service.settings.response_shape
    try:
        accepted = accept(route, items, target.store_id, caller, _policy(guard), service.clock.time(),
                          request.headers.get("Authorization") if keep_credentials else None,
                          _key_to_store(keyed, shape) if keyed is not None else None, guard.within)
    except idempotency.KeyStoredMeanwhile:
        # A duplicate stored its bulk first: answer as it was answered (or 422 for another request).
        assert keyed is not None
        replay = _replay(keyed, guard)
        if replay is None:
            raise idempotency.key_in_use() from None
        return replay
    service.drainer.notify()
    note_accepted(route.topic_name, accepted)
    if keyed is not None:
        # Exactly the bytes stored with the key, so a replay is the same answer byte for byte.
        return Response(_body(accepted, shape), status=202, content_type=JSON_CONTENT_TYPE)
    return json_response(async_response(accepted, shape), 202)


def _keyed(guard: RequestGuard, data: bytes) -> KeyedRequest | None:
    header = request.headers.get(idempotency.HEADER)
    if header is None:
        return None  # the usual case (Magento clients never send it): nothing else to do
    path = request.path + (f"?{request.query_string.decode('latin-1')}" if request.query_string else "")
    return idempotency.keyed_request(header, guard.caller, request.method, path, data)


def _replay(keyed: KeyedRequest, guard: RequestGuard) -> Response | None:
    """The first answer to this key again (422 if the key came with another request), or None.

    A replay stores no bulk, so the request's nonce and rate count are written as any other view's."""
    settings = current_service().settings
    stored = idempotency.find(keyed, current_service().clock.time(), settings.idempotency_hours)
    if stored is None:
        return None
    guard.before_view()
    return Response(stored, status=202, content_type=JSON_CONTENT_TYPE, headers={"Idempotent-Replayed": "true"})


def _key_to_store(keyed: KeyedRequest, shape: str) -> Callable[[Accepted], StoredKey]:
    hours = current_service().settings.idempotency_hours
    return lambda accepted: StoredKey(keyed, _body(accepted, shape), hours)


def _body(accepted: Accepted, shape: str) -> bytes:
    return dumps(async_response(accepted, shape))
