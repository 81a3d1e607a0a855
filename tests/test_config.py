"""Settings from the environment: defaults, production rules, clear errors."""

from __future__ import annotations

import stat

import pytest

from bulk.config import ConfigError, load_settings
from bulk.factory import create_app


def test_production_is_the_default_and_needs_a_secret_and_a_password(tmp_path):
    with pytest.raises(ConfigError, match="BULK_SECRET_KEY"):
        load_settings({"BULK_DATA_DIR": str(tmp_path)}, environ={})
    with pytest.raises(ConfigError, match="BULK_ADMIN_PASSWORD"):
        load_settings({"BULK_SECRET_KEY": "s" * 32}, environ={})
    settings = load_settings({"BULK_SECRET_KEY": "s" * 32, "BULK_ADMIN_PASSWORD": "pw"}, environ={})
    assert settings.is_production
    assert not (tmp_path / "secret_key").exists()


def test_short_production_secret_is_refused():
    with pytest.raises(ConfigError, match="16"):
        load_settings({"BULK_SECRET_KEY": "short", "BULK_ADMIN_PASSWORD": "pw"}, environ={})


def test_development_generates_and_keeps_a_secret(tmp_path):
    first = load_settings({"BULK_ENV": "development", "BULK_DATA_DIR": str(tmp_path)}, environ={})
    second = load_settings({"BULK_ENV": "development", "BULK_DATA_DIR": str(tmp_path)}, environ={})
    assert first.secret_key == second.secret_key and len(first.secret_key) == 64
    assert stat.S_IMODE((tmp_path / "secret_key").stat().st_mode) == 0o600
    assert first.admin_password == "admin123"
    assert first.database_url == f"sqlite:///{tmp_path / 'bulk.sqlite3'}"
    assert list(tmp_path.iterdir()) == [tmp_path / "secret_key"]


def test_environment_is_read(tmp_path):
    settings = load_settings(environ={"BULK_ENV": "development", "BULK_DATA_DIR": str(tmp_path),
                                      "BULK_MAX_ITEMS": "10", "BULK_WORKER": "off",
                                      "BULK_STORES": "default:1, fr:2"})
    assert (settings.max_items, settings.worker_enabled) == (10, False)
    assert settings.stores == {"default": 1, "fr": 2}


@pytest.mark.parametrize("name, value, message", [
    ("BULK_MAX_ITEMS", "many", "positive integer"),
    ("BULK_MAX_ITEMS", "0", "positive integer"),
    ("BULK_WORKER", "perhaps", "one of"),
    ("BULK_INVALID_ITEMS", "ignore", "fail-request, reject-item"),
    ("BULK_STORES", "default", "default:1"),
    ("BULK_STORES", "all:3", "reserved"),
    ("BULK_LEASE_SECONDS", "-1", "positive number"),
    ("BULK_POLL_SECONDS", "nan", "positive number"),
    ("BULK_LOGIN_MAX_FAILURES", "-2", "integer >= 0"),
])
def test_bad_values_name_the_variable(tmp_path, name, value, message):
    with pytest.raises(ConfigError, match=name) as caught:
        load_settings({"BULK_ENV": "development", "BULK_DATA_DIR": str(tmp_path), name: value}, environ={})
    assert message in str(caught.value)


def test_unknown_override_is_refused():
    with pytest.raises(ConfigError, match="BULK_MAX_ITMES"):
        load_settings({"BULK_MAX_ITMES": "3"}, environ={})


@pytest.mark.parametrize("url", ["sqlite:///:memory:", "sqlite://", "mysql://x/y"])
def test_unusable_database_urls(tmp_path, url):
    with pytest.raises(ConfigError, match="DATABASE_URL"):
        create_app({"BULK_ENV": "development", "BULK_DATA_DIR": str(tmp_path), "DATABASE_URL": url})


def test_default_database_is_created_on_first_start(tmp_path):
    app = create_app({"BULK_ENV": "development", "BULK_DATA_DIR": str(tmp_path / "data"), "BULK_WORKER": "0"})
    try:
        assert not (tmp_path / "data" / "bulk.sqlite3").exists()
        assert app.test_client().get("/health").get_json()["status"] == "ok"
        assert (tmp_path / "data" / "bulk.sqlite3").exists()
    finally:
        app.extensions["bulk"].shutdown()


def test_processing_defaults_to_store_locally_and_accept_in_production(tmp_path):
    production = {"BULK_SECRET_KEY": "x" * 16, "BULK_ADMIN_PASSWORD": "secret"}
    assert load_settings(production, environ={}).processing_mode == "accept"
    assert load_settings({**production, "BULK_PROCESSING": "store"}, environ={}).processing_mode == "store"
    assert load_settings({"BULK_ENV": "development", "BULK_DATA_DIR": str(tmp_path)},
                         environ={}).processing_mode == "store"
