"""Webhook and idempotency settings: defaults, and clear errors that never echo the secret."""

from __future__ import annotations

import pytest

from bulk.config import ConfigError, load_settings
from tests.webhook_receiver import SECRET

BASE = {"BULK_SECRET_KEY": "s" * 32, "BULK_ADMIN_PASSWORD": "pw"}


def settings(**overrides):
    return load_settings({**BASE, **overrides}, environ={})


def test_defaults_send_nothing_and_remember_keys_a_day():
    loaded = settings()
    assert loaded.webhook_url is None and loaded.webhook_secret is None
    assert loaded.webhook_events == frozenset({"bulk.finished"})
    assert (loaded.webhook_timeout, loaded.webhook_retry_base_seconds, loaded.webhook_max_hours) == (10, 1, 24)
    assert loaded.webhook_allow_private is False
    assert loaded.idempotency_hours == 24


def test_a_url_needs_a_secret():
    with pytest.raises(ConfigError, match="BULK_WEBHOOK_SECRET must be set"):
        settings(BULK_WEBHOOK_URL="https://hooks.example.com/bulk")
    loaded = settings(BULK_WEBHOOK_URL="https://hooks.example.com/bulk?token=x", BULK_WEBHOOK_SECRET=SECRET)
    assert loaded.webhook_url == "https://hooks.example.com/bulk?token=x"


@pytest.mark.parametrize("url", ["ftp://hooks.example.com/x", "hooks.example.com/x", "https://user:pw@h.example.com/",
                                 "https://h.example.com/#frag", "file:///etc/passwd"])
def test_only_plain_http_urls(url):
    with pytest.raises(ConfigError, match="BULK_WEBHOOK_URL must be an http"):
        settings(BULK_WEBHOOK_URL=url, BULK_WEBHOOK_SECRET=SECRET)


@pytest.mark.parametrize("secret", ["plain-text-secret-of-some-length", "whsec_c2hvcnQ=", "whsec_!!!notbase64!!!",
                                    "whsec_" + "QUFB" * 30])
def test_a_malformed_secret_is_refused_without_showing_it(secret):
    with pytest.raises(ConfigError) as raised:
        settings(BULK_WEBHOOK_SECRET=secret)
    assert "BULK_WEBHOOK_SECRET must be whsec_" in str(raised.value)
    assert secret not in str(raised.value)


def test_events_are_known_types():
    assert settings(BULK_WEBHOOK_EVENTS="operation.failed, bulk.finished").webhook_events == frozenset(
        {"bulk.finished", "operation.failed"})
    with pytest.raises(ConfigError, match="unknown event type"):
        settings(BULK_WEBHOOK_EVENTS="bulk.finished,bulk.started")


def test_a_sender_holds_a_delivery_for_three_attempt_timeouts(tmp_path):
    from bulk.factory import create_app

    app = create_app({"BULK_ENV": "development", "BULK_DATA_DIR": str(tmp_path), "BULK_WEBHOOK_TIMEOUT": "7",
                      "BULK_LEASE_SECONDS": "2", "BULK_WORKER": False})
    try:
        assert app.extensions["bulk"].webhooks._settings.lease_seconds == 21
    finally:
        app.extensions["bulk"].shutdown()
