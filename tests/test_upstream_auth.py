"""The admin token of forward mode: one sign-in at a time, renewed before expiry, a refusal not repeated."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from bulk.clock import ManualClock
from bulk.handlers import RetriableError
from bulk.upstream_auth import ADMIN_TOKEN_PATH, AdminToken


class FakeUpstream:
    """Answers sign-ins slowly with numbered tokens (or refuses them), counting them."""

    def __init__(self, status=200):
        self.status = status
        self.calls = 0
        self._lock = threading.Lock()

    def __call__(self, path, body):
        assert path == ADMIN_TOKEN_PATH and body == {"username": "admin", "password": "secret"}
        time.sleep(0.05)  # long enough for the other threads to arrive while this one signs in
        with self._lock:
            self.calls += 1
            number = self.calls
        if self.status != 200:
            return self.status, b'{"message":"The account sign-in was incorrect."}'
        return 200, f'"token-{number}"'.encode()


def admin_token(upstream, clock):
    return AdminToken(upstream, "admin", "secret", 4 * 3600, clock.time)


def test_concurrent_calls_share_one_sign_in_and_one_refresh():
    upstream, clock = FakeUpstream(), ManualClock()
    token = admin_token(upstream, clock)
    with ThreadPoolExecutor(8) as pool:
        headers = list(pool.map(lambda _: token.authorization("PUT", "http://shop/x"), range(8)))
    assert set(headers) == {"Bearer token-1"} and upstream.calls == 1
    # Eight calls rejected with the same token: one new sign-in, and every caller gets the new token.
    with ThreadPoolExecutor(8) as pool:
        retried = list(pool.map(lambda _: token.refresh("Bearer token-1"), range(8)))
    assert all(retried) and upstream.calls == 2
    assert token.authorization("PUT", "http://shop/x") == "Bearer token-2"


def test_the_token_is_renewed_before_it_expires():
    upstream, clock = FakeUpstream(), ManualClock()
    token = admin_token(upstream, clock)
    assert token.authorization("PUT", "u") == "Bearer token-1"
    clock.advance(0.9 * 4 * 3600 - 1)
    assert token.authorization("PUT", "u") == "Bearer token-1"
    clock.advance(1)
    assert token.authorization("PUT", "u") == "Bearer token-2"


def test_a_refused_sign_in_is_not_repeated_for_a_minute():
    upstream, clock = FakeUpstream(status=401), ManualClock()
    token = admin_token(upstream, clock)
    for _ in range(3):
        with pytest.raises(RetriableError, match=r"refused the admin sign-in \(HTTP 401\): The account sign-in"):
            token.authorization("PUT", "u")
    assert upstream.calls == 1
    clock.advance(61)
    upstream.status = 200
    assert token.authorization("PUT", "u") == "Bearer token-2"
