"""Forward mode: each operation becomes the synchronous call Magento would have made, upstream.

The call: the route's method and `/rest/<store>/V1/...` path, its `:params` filled from the item, the
rest of the item as the JSON body. A bulk item is the whole argument map of one call: the values of
the route's `:params` are among its keys (camelCase or snake_case), or, as clients usually send them,
inside the entity object (`PUT /V1/products/:sku` with `{"product": {"sku": ...}}`). Single async
operations store their URL values in the argument map too (`bulk.accept.single_async_arguments`), so
both read alike.

The answer decides the outcome: 2xx completes the operation with the upstream's body as
`result_serialized_data`; 4xx (and 3xx: redirects are not followed) fails it for good with the
upstream's Magento message and its HTTP status as `error_code`; 5xx, 429, timeouts and connection
errors are retriable, so the drainer tries again later (bulk.retries) and ends at status 2 when the
tries run out.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import urllib3
from urllib3.exceptions import HTTPError, NewConnectionError
from urllib3.exceptions import TimeoutError as UpstreamTimeout

from bulk import metrics
from bulk.config import UPSTREAM_ADMIN, UPSTREAM_OAUTH1, Settings
from bulk.db import database
from bulk.handlers import Handler, Job, PermanentError, RetriableError
from bulk.jsonutil import dumps, loads
from bulk.models import Bulk
from bulk.phrases import REQUIRED_FIELD, Parameters, render
from bulk.processing import ModeContext, ModeHandlers
from bulk.retries import parse_retry_after
from bulk.routes.catalogue import Route
from bulk.upstream_auth import AdminToken, OAuth1Signer, PostJson, StaticToken, UpstreamAuth
from bulk.urls import Stores
from schemas.base import find_key, normalise_key

UPSTREAM_STATUS = "The upstream answered HTTP %1."
UPSTREAM_TIMEOUT = "The upstream did not answer within %1 seconds."
UPSTREAM_UNREACHABLE = "The upstream could not be reached: %1"
UNKNOWN_STORE = "The store with id %1 is not configured (BULK_STORES)."


@dataclass(frozen=True)
class SyncCall:
    """The synchronous call an operation stands for."""

    method: str
    path: str
    body: dict | None


def sync_call(route: Route, arguments: dict, store_code: str) -> SyncCall:
    """Fill the route's `:params` from `arguments` (URL-quoted); the rest of the map is the body."""
    values: dict[str, str] = {}
    body = dict(arguments)
    for param in route.template.params:
        value, top_level_key = _path_value(arguments, param)
        values[param] = quote(value, safe="")
        if top_level_key is not None:
            body.pop(top_level_key, None)
    # A DELETE carries its arguments in the URL; send a body only when something is left.
    return SyncCall(route.method, f"/rest/{quote(store_code, safe='')}{route.template.fill(values)}",
                    body if body or route.method != "DELETE" else None)


def _path_value(arguments: dict, param: str) -> tuple[str, str | None]:
    """The value for `:param` and the top-level key it came from (None when read inside an entity)."""
    key = find_key(arguments, param)
    if key is not None and _is_path_value(arguments[key]):
        return _as_text(arguments[key]), key
    wanted = normalise_key(param)
    for name, entity in arguments.items():
        if not isinstance(entity, dict) or not isinstance(name, str):
            continue
        field = find_key(entity, param)
        prefix = normalise_key(name)
        if field is None and wanted.startswith(prefix):
            # `customerId` names the `id` of `customer`.
            field = find_key(entity, wanted[len(prefix):])
        if field is not None and _is_path_value(entity[field]):
            return _as_text(entity[field]), None
    raise PermanentError(REQUIRED_FIELD, {"fieldName": param})


def _is_path_value(value: Any) -> bool:
    if isinstance(value, str):
        return value != ""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _as_text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


class Upstream:
    """The upstream API over one pooled, thread-safe HTTP client; no retries or redirects of its own."""

    def __init__(self, base_url: str, timeout: float, pool_size: int) -> None:
        self.base_url = base_url
        self.timeout = timeout
        # Connections are kept per host up to the drainer's concurrency; `total` bounds connect + answer.
        self._http = urllib3.PoolManager(maxsize=pool_size, timeout=urllib3.Timeout(total=timeout),
                                         retries=False)

    def send(self, call: SyncCall, authorization: str | None) -> urllib3.BaseHTTPResponse:
        """Make the call; raises RetriableError when no HTTP answer came back."""
        headers = {"Accept": "application/json"}
        body = None
        if call.body is not None:
            body = dumps(call.body)
            headers["Content-Type"] = "application/json"
        if authorization:
            headers["Authorization"] = authorization
        started = time.perf_counter()
        try:
            response = self._http.request(call.method, self.base_url + call.path, body=body, headers=headers,
                                          redirect=False)
        except NewConnectionError as error:  # before TimeoutError: urllib3 derives it from that
            metrics.upstream_answered("connection_error", time.perf_counter() - started)
            raise RetriableError(UPSTREAM_UNREACHABLE, [_reason(error)]) from None
        except UpstreamTimeout:
            metrics.upstream_answered("timeout", time.perf_counter() - started)
            raise RetriableError(UPSTREAM_TIMEOUT, [f"{self.timeout:g}"]) from None
        except HTTPError as error:
            metrics.upstream_answered("connection_error", time.perf_counter() - started)
            raise RetriableError(UPSTREAM_UNREACHABLE, [_reason(error)]) from None
        metrics.upstream_answered(metrics.upstream_outcome(response.status), time.perf_counter() - started)
        return response

    def close(self) -> None:
        self._http.clear()


def _reason(error: HTTPError) -> str:
    """The cause without urllib3's connection prefix (the upstream's address is the operator's business)."""
    connection = getattr(error, "conn", None)
    text = str(error)
    if connection is not None and text.startswith(f"{connection}: "):
        return text[len(f"{connection}: "):]  # "Failed to establish a new connection: [Errno 111] ..."
    if len(error.args) == 2 and isinstance(error.args[1], Exception):
        return f"{error.args[0]} {error.args[1]}"  # "Connection aborted. Remote end closed connection ..."
    return text


def outcome_of(response: urllib3.BaseHTTPResponse, now: float) -> Any:
    """The result of a 2xx answer; raises the operation error any other answer means."""
    status = response.status
    if 200 <= status < 300:
        return _decoded(response.data)
    message, parameters = _error_message(response.data, status)
    if status == 429 or status >= 500:
        raise RetriableError(message, parameters, code=status,
                             retry_after=parse_retry_after(response.headers.get("Retry-After"), now))
    raise PermanentError(message, parameters, code=status)


def _decoded(data: bytes) -> Any:
    """The upstream's body as stored in `result_serialized_data` (text that is not JSON stays text)."""
    if not data.strip():
        return None
    try:
        return loads(data)
    except ValueError:
        return data.decode("utf-8", errors="replace")


def _error_message(data: bytes, status: int) -> tuple[str, Parameters]:
    """Magento's error body gives the message (and its placeholders); anything else the status."""
    try:
        body = loads(data) if data.strip() else None
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        details = [entry for entry in body.get("errors") or [] if isinstance(entry, dict)
                   and isinstance(entry.get("message"), str)]
        if details:
            # An aggregate ("One or more input exceptions have occurred."): the details say what.
            return "; ".join(render(d["message"], d.get("parameters")) for d in details), None
        parameters = body.get("parameters")
        return body["message"], parameters if isinstance(parameters, (dict, list)) else None
    return UPSTREAM_STATUS, [status]


class Forwarder:
    """Builds each route's forwarding handler; one per service (it owns the HTTP client)."""

    def __init__(self, settings: Settings, stores: Stores, now: Callable[[], float]) -> None:
        assert settings.upstream_url is not None
        self.upstream = Upstream(settings.upstream_url, settings.upstream_timeout, settings.worker_concurrency or 1)
        self._stores = stores
        self._now = now
        self._passthrough = settings.passes_submitter_credentials
        self.auth = upstream_auth(settings, self._post_json, now)

    def handler_for(self, route: Route) -> Handler:
        def forward(job: Job) -> Any:
            call = sync_call(route, job.meta, self._store_code(job.store_id))
            if self._passthrough:
                return outcome_of(self.upstream.send(call, self._submitter_authorization(job)), self._now())
            url = self.upstream.base_url + call.path
            authorization = self.auth.authorization(call.method, url)
            response = self.upstream.send(call, authorization)
            if response.status == 401 and self.auth.refresh(authorization):
                # An expired or revoked admin token: once more with a new one.
                response = self.upstream.send(call, self.auth.authorization(call.method, url))
            return outcome_of(response, self._now())

        return forward

    def _post_json(self, path: str, body: dict[str, Any]) -> tuple[int, bytes]:
        response = self.upstream.send(SyncCall("POST", path, body), None)
        return response.status, response.data

    def _store_code(self, store_id: int | None) -> str:
        if store_id is None:
            return self._stores.default_code
        code = self._stores.code_of(store_id)
        if code is None:
            raise PermanentError(UNKNOWN_STORE, [store_id])
        return code

    def _submitter_authorization(self, job: Job) -> str | None:
        # Jobs run in the drainer's pool threads: take a pooled connection for the lookup and give it back.
        with database.connection_context():
            return (Bulk.select(Bulk.submitter_authorization)
                    .where(Bulk.uuid == job.bulk_uuid).scalar())


def upstream_auth(settings: Settings, post_json: PostJson, now: Callable[[], float]) -> UpstreamAuth:
    """The way BULK_UPSTREAM_AUTH says forwarded calls authenticate (`passthrough` aside)."""
    if settings.upstream_auth == UPSTREAM_OAUTH1:
        return OAuth1Signer(settings.upstream_consumer_key or "", settings.upstream_consumer_secret or "",
                            settings.upstream_access_token or "", settings.upstream_access_token_secret or "",
                            settings.upstream_signature_method)
    if settings.upstream_auth == UPSTREAM_ADMIN:
        return AdminToken(post_json, settings.upstream_username or "", settings.upstream_password or "",
                          settings.upstream_token_lifetime_hours * 3600, now)
    return StaticToken(f"Bearer {settings.upstream_token}" if settings.upstream_token else None)


def forward_mode(context: ModeContext) -> ModeHandlers:
    """`BULK_PROCESSING=forward`: every route's operations go to BULK_UPSTREAM_URL."""
    forwarder = Forwarder(context.settings, context.stores, context.clock.time)
    context.on_shutdown(forwarder.upstream.close)
    return ModeHandlers(forwarder.handler_for)
