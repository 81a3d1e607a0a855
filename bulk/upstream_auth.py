"""How forward mode authenticates its calls upstream (BULK_UPSTREAM_AUTH `oauth1` and `admin`).

`oauth1` signs every call as a Magento integration does (oauthlib's client, HMAC-SHA256 by default),
with a fresh nonce and timestamp each time. `admin` signs in with a username and password, sends the
admin token as Bearer, fetches a new one when nine tenths of its lifetime have passed and once after
a 401, never more than one sign-in at a time per process; a refused sign-in is not repeated for a
minute, so a wrong password cannot lock the upstream's admin account out.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any, Protocol, cast

from oauthlib.oauth1 import Client

from bulk.handlers import RetriableError
from bulk.jsonutil import loads
from bulk.phrases import render

log = logging.getLogger(__name__)

ADMIN_TOKEN_PATH = "/rest/V1/integration/admin/token"
SIGN_IN_REFUSED = "The upstream refused the admin sign-in (HTTP %1): %2"
# How long a refused sign-in is remembered before it is tried again.
SIGN_IN_COOLDOWN_SECONDS = 60.0
_REFRESH_SHARE = 0.9

# Sends a JSON body upstream (POST) and answers the HTTP status and body.
PostJson = Callable[[str, dict[str, Any]], tuple[int, bytes]]


class UpstreamAuth(Protocol):
    def authorization(self, method: str, url: str) -> str | None:
        """The Authorization header for one call."""

    def refresh(self, rejected: str | None) -> bool:
        """The upstream answered 401 to `rejected`: True when a new credential is worth one more try."""


class StaticToken:
    """A fixed header (BULK_UPSTREAM_TOKEN as Bearer), or none."""

    def __init__(self, header: str | None) -> None:
        self._header = header

    def authorization(self, method: str, url: str) -> str | None:
        return self._header

    def refresh(self, rejected: str | None) -> bool:
        return False


class OAuth1Signer:
    """Signs each call with an integration's four credentials."""

    def __init__(self, consumer_key: str, consumer_secret: str, access_token: str, access_token_secret: str,
                 signature_method: str) -> None:
        self._credentials = (consumer_key, consumer_secret, access_token, access_token_secret, signature_method)

    def authorization(self, method: str, url: str) -> str | None:
        consumer_key, consumer_secret, access_token, token_secret, signature_method = self._credentials
        # A client per call: oauthlib's Client keeps per-request state (nonce, timestamp) on itself.
        client = Client(consumer_key, client_secret=consumer_secret, resource_owner_key=access_token,
                        resource_owner_secret=token_secret, signature_method=signature_method)
        _, headers, _ = client.sign(url, http_method=cast(Any, method))
        return headers["Authorization"]

    def refresh(self, rejected: str | None) -> bool:
        return False  # a new signature would be refused the same way


class AdminToken:
    """An admin token of the upstream, fetched on first use and renewed before it expires."""

    def __init__(self, post_json: PostJson, username: str, password: str, lifetime_seconds: float,
                 now: Callable[[], float]) -> None:
        self._post_json = post_json
        self._credentials = {"username": username, "password": password}
        self._lifetime = lifetime_seconds
        self._now = now
        self._lock = threading.Lock()
        self._header: str | None = None
        self._renew_at = 0.0
        self._refused: tuple[float, RetriableError] | None = None
        self.sign_ins = 0  # how many times it signed in (for tests and logs)

    def authorization(self, method: str, url: str) -> str | None:
        with self._lock:
            if self._header is None or self._now() >= self._renew_at:
                self._sign_in()
            return self._header

    def refresh(self, rejected: str | None) -> bool:
        with self._lock:
            if self._header != rejected:
                return True  # another call already got a new token while this one waited
            self._sign_in()
            return True

    def _sign_in(self) -> None:
        """Get a new token (the caller holds the lock, so one sign-in at a time)."""
        now = self._now()
        if self._refused is not None and now < self._refused[0]:
            raise self._refused[1]
        status, body = self._post_json(ADMIN_TOKEN_PATH, self._credentials)
        self.sign_ins += 1
        token = _decoded(body)
        if status != 200 or not isinstance(token, str) or not token:
            error = RetriableError(SIGN_IN_REFUSED, [status, _message(token)], code=status)
            self._refused = (now + SIGN_IN_COOLDOWN_SECONDS, error)
            self._header = None
            log.warning("upstream admin sign-in refused with HTTP %s", status)
            raise error
        self._refused = None
        self._header = f"Bearer {token}"
        self._renew_at = now + self._lifetime * _REFRESH_SHARE


def _decoded(body: bytes) -> Any:
    try:
        return loads(body) if body.strip() else None
    except ValueError:
        return None


def _message(body: Any) -> str:
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return render(body["message"], body.get("parameters"))
    return "no Magento error message"
