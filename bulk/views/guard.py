"""What a request owes before and after its view: the URL its signature covers, its OAuth nonce,
its rate counters and the open-operations bound.

A submit writes its nonce and counters in the very transaction that stores its bulk (one commit);
any other request writes them in one short transaction before its view, and only when there is
something to write (a signed request, or BULK_RATE_LIMIT set): a Bearer read writes nothing.
"""

from __future__ import annotations

import logging
from ipaddress import ip_address
from urllib.parse import parse_qsl, quote, urlsplit

import peewee
from flask import request

from bulk.auth import Caller
from bulk.backpressure import OpenOperationsBound, RateLimiter
from bulk.config import Settings
from bulk.db import write_transaction
from bulk.errors import WebapiError
from bulk.oauth import SignedRequest, Verified
from bulk.statuses import UserType
from bulk.views.body import read_body

log = logging.getLogger(__name__)

FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"


def _last(value: str | None) -> str | None:
    """The value the nearest proxy added to a comma-separated forwarding header."""
    if not value:
        return None
    last = value.split(",")[-1].strip()
    return last or None


def _peer_is_trusted(settings: Settings) -> bool:
    if not settings.trusted_proxies:
        return False
    try:
        peer = ip_address(request.remote_addr or "")
    except ValueError:
        return False
    return any(peer in network for network in settings.trusted_proxies)


def signed_request(settings: Settings) -> SignedRequest:
    """The request as the client signed it: its scheme and host (a trusted proxy's forwarded ones),
    the path exactly as sent, the query string, and a form body's fields."""
    environ = request.environ
    scheme, host = environ.get("wsgi.url_scheme", "http"), request.host
    if _peer_is_trusted(settings):
        scheme = _last(request.headers.get("X-Forwarded-Proto")) or scheme
        host = _last(request.headers.get("X-Forwarded-Host")) or host
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if raw:
        path = raw.split("?", 1)[0]
        if "://" in path:  # absolute-form request target
            path = urlsplit(path).path
    else:
        path = quote(environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", ""))
    form: list[tuple[str, str]] = []
    if (request.content_type or "").split(";")[0].strip().lower() == FORM_CONTENT_TYPE:
        # Read as raw bytes and kept (not through request.form): the view still reads the same body.
        form = parse_qsl(read_body(keep=True).decode("utf-8", "replace"), keep_blank_values=True)
    return SignedRequest(request.method, f"{scheme}://{host}{path or '/'}",
                         environ.get("QUERY_STRING", ""), request.headers.get("Authorization", ""), form)


def client_address(settings: Settings) -> str:
    """The caller's address: the peer, or behind trusted proxies the nearest untrusted forwarded one."""
    address = request.remote_addr or "unknown"
    if _peer_is_trusted(settings):
        for hop in reversed((request.headers.get("X-Forwarded-For") or "").split(",")):
            hop = hop.strip()
            try:
                if not any(ip_address(hop) in network for network in settings.trusted_proxies):
                    return hop
            except ValueError:
                break
    return address


class RequestGuard:
    """One request's bookkeeping: nonce, rate counters, open-operations bound."""

    def __init__(self, caller: Caller, oauth: Verified | None, rate_key: str, limiter: RateLimiter,
                 open_bound: OpenOperationsBound, now: float) -> None:
        self.caller = caller
        self._oauth = oauth
        self._rate_key = rate_key
        self._limiter = limiter
        self._open_bound = open_bound
        self._now = now
        self._written = False

    def before_view(self) -> None:
        """For any request but a submit: record the nonce and count the request (one transaction)."""
        if self._oauth is None and not self._limiter.enabled:
            return
        with write_transaction():
            self._record(items=0)
        self._written = True

    def before_accept(self, items: int) -> None:
        """For a submit, before its items are validated: cheap refusals (reads only)."""
        if self._limiter.enabled:
            self._limiter.refuse_if_spent(self._rate_key, self._now)
        self._open_bound.check(items)

    def within(self, operations: int) -> None:
        """For a submit, inside the transaction that stores its bulk."""
        self._record(items=operations)
        self._open_bound.accepted(operations)

    def _record(self, items: int) -> None:
        if self._oauth is not None:
            self._oauth.record_nonce()
        if self._limiter.enabled:
            self._limiter.count(self._rate_key, 1, items, self._now)

    def done(self) -> None:
        """The view answered: what it wrote is committed."""
        self._written = True

    def after_failure(self, error: BaseException) -> None:
        """The view failed before committing: still burn the nonce (a refused signed request must not be
        replayable later) and count the request, without refusing anything now. A request refused by
        a rate limit is not counted."""
        if self._written or (self._oauth is None and not self._limiter.enabled):
            return
        counted = not (isinstance(error, WebapiError) and error.status == 429)
        try:
            with write_transaction():
                if self._oauth is not None:
                    self._oauth.record_nonce()
                if self._limiter.enabled and counted:
                    self._limiter.count(self._rate_key, 1, 0, self._now, enforce=False)
        except WebapiError:
            pass  # the nonce was recorded by a concurrent request: nothing left to do
        except peewee.PeeweeException as problem:  # the database is down or busy: the answer matters more
            log.warning("could not record a failed request's nonce and rate count: %s", problem)


def rate_key(caller: Caller, address: str) -> str:
    """Whose counters a request uses: the user (type and id), or a guest's address."""
    if caller.user_type == UserType.GUEST or caller.user_id is None:
        return f"{int(UserType.GUEST)}:{address}"
    return f"{int(caller.user_type)}:{caller.user_id}"
