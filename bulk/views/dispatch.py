"""The front controller: Magento's path processing, route matching, ACL, then the view.

Magento's URL grammar (optional `/rest`, optional store code, `async`/`async/bulk` prefixes,
`byParam` literals) does not map onto Flask rules, so one catch-all rule hands every path here,
and the order of checks follows Magento's: processor -> route (404) -> ACL (401) -> body (400).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from flask import Blueprint, Flask, Response, g, request

from bulk.errors import cannot_process, no_route
from bulk.observe import note_caller, note_route
from bulk.routes.paths import split_path
from bulk.service import BulkService, current_service
from bulk.statuses import UserType
from bulk.urls import BULK, SYNC, Target, parse_target
from bulk.views import manage, status, store, tokens, webhooks
from bulk.views.endpoints import current_endpoints, install_endpoints
from bulk.views.guard import RequestGuard, client_address, rate_key, signed_request
from bulk.views.nul import refuse_nul_characters
from bulk.views.submit import submit_bulk, submit_single

# Werkzeug answers other methods with 405, rendered as Magento's "Request method is invalid.".
METHODS = ["GET", "POST", "PUT", "DELETE"]

api = Blueprint("api", __name__)
# Before anything reads the request (the dashboard treats a NUL as text that matches nothing).
api.before_request(refuse_nul_characters)


def register_api(app: Flask) -> None:
    """Serve the API: the catch-all rule, and the service's own synchronous endpoints in matching order."""
    install_endpoints(app, (*tokens.ENDPOINTS, *status.ENDPOINTS, *store.ENDPOINTS, *manage.ENDPOINTS,
                            *webhooks.ENDPOINTS))
    app.register_blueprint(api)


@api.route("/", defaults={"path": ""}, methods=METHODS, provide_automatic_options=False)
@api.route("/<path:path>", methods=METHODS, provide_automatic_options=False)
def dispatch(path: str) -> Response:
    service = current_service()
    target = parse_target(path, service.stores, service.catalogue.customize)
    if target is None:
        raise cannot_process()
    if target.kind == SYNC:
        return _dispatch_sync(service, target)
    if request.method == "GET":
        # Neither async processor accepts GET; Magento's processor pool answers 400.
        raise cannot_process()
    if target.kind == BULK:
        route = service.catalogue.match_bulk(request.method, target.path)
        if route is None:
            raise no_route()
        note_route(f"/async/bulk{route.bulk_path}")
        guard = _authorised(service, route.resources)
        return _guarded(guard, partial(submit_bulk, route, target, guard))
    matched = service.catalogue.match_async(request.method, target.path)
    if matched is None:
        raise no_route()
    route, path_values = matched
    note_route(f"/async{route.template.path}")
    guard = _authorised(service, route.resources)
    return _guarded(guard, partial(submit_single, route, path_values, target, guard))


def _dispatch_sync(service: BulkService, target: Target) -> Response:
    matched = current_endpoints().match(request.method, split_path(target.path))
    if matched is not None:
        endpoint, values = matched
        note_route(endpoint.template.path)
        guard = _authorised(service, endpoint.resources)
        g.bulk_caller = guard.caller
        # A read with `all` runs in the admin store (id 0), as Magento 2.4 serves it.
        g.bulk_target = target
        return _guarded(guard, lambda: endpoint.view(*values.values()), before_view=True)
    # A catalogue route called without /async: the mode runs it at once (store mode only).
    write = store.sync_write_route(service, request.method, target.path)
    if write is not None:
        route, path_values, handler = write
        note_route(route.template.path)
        g.bulk_target = target
        guard = _authorised(service, route.resources)
        return _guarded(guard, lambda: store.run_sync_write(route, path_values, handler, guard.caller),
                        before_view=True)
    raise no_route()


def _authorised(service: BulkService, resources: tuple[str, ...]) -> RequestGuard:
    """Who calls (`bulk.callers`), refused unless allowed the resources; the request's guard."""
    now = service.clock.time()
    identified = service.callers.identify(request.headers.get("Authorization"),
                                          lambda: signed_request(service.settings), now)
    note_caller(identified.caller)
    identified.caller.require(resources)
    if identified.caller.user_type == UserType.GUEST:
        # Before any view reads the body: a guest's is refused (413) past its own, lower bound.
        request.max_content_length = min(service.settings.guest_max_body_bytes, service.settings.max_body_bytes)
    key = rate_key(identified.caller, client_address(service.settings)) if service.rate_limiter.enabled else ""
    return RequestGuard(identified.caller, identified.oauth, key, service.rate_limiter, service.open_operations,
                        now)


def _guarded(guard: RequestGuard, view: Callable[[], Response], before_view: bool = False) -> Response:
    """Run the view; a failure still burns a signed request's nonce and counts the request.

    A submit does its bookkeeping in the transaction that stores its bulk; other views before they run.
    """
    try:
        if before_view:
            guard.before_view()
        response = view()
    except BaseException as error:
        guard.after_failure(error)
        raise
    guard.done()
    return response
