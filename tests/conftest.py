"""Fixtures: a fresh service per test on its own SQLite file, no drainer thread unless asked."""

from __future__ import annotations

import os

import pytest

from bulk.clock import ManualClock
from bulk.db import database, open_database
from bulk.factory import create_app
from bulk.migrations import create_schema
from bulk.models import ALL_MODELS
from tests.databases import ENGINES, database_url_for
from tests.magento import bearer

# pytester tests the plugin; the plugin's own fixtures (`bulk`, `bulk_server`, ...) serve the tests
# of the test controls (also loaded from the entry point when the project is installed).
pytest_plugins = ("pytester", "bulk.testing.plugin")


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch):
    """The developer's own BULK_* settings must not change what the tests see."""
    for name in list(os.environ):
        if name.startswith("BULK_") or name in ("DATABASE_URL", "PORT", "WEB_CONCURRENCY"):
            monkeypatch.delenv(name)


def pytest_generate_tests(metafunc):
    """Every test that uses a database runs on SQLite and on PostgreSQL, unless marked `engines(...)`."""
    if "engine" in metafunc.fixturenames:
        marker = metafunc.definition.get_closest_marker("engines")
        metafunc.parametrize("engine", list(marker.args) if marker else list(ENGINES))


@pytest.fixture
def database_url(engine, tmp_path):
    with database_url_for(engine, tmp_path) as url:
        yield url


@pytest.fixture
def clock():
    return ManualClock()


@pytest.fixture
def make_app(tmp_path, clock, database_url):
    """Build apps on this test's database; each is shut down afterwards."""
    apps = []

    def build(**overrides):
        config = {
            "BULK_ENV": "development",
            "BULK_DATA_DIR": str(tmp_path),
            "DATABASE_URL": database_url,
            "BULK_WORKER": False,
            **overrides,
        }
        app = create_app(config, clock=clock)
        apps.append(app)
        return app

    yield build
    for app in apps:
        app.extensions["bulk"].shutdown()


@pytest.fixture
def app(make_app):
    return make_app()


@pytest.fixture
def service(app):
    service = app.extensions["bulk"]
    service.ensure_ready_without_worker()
    return service


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def token(client):
    response = client.post("/rest/V1/integration/admin/token",
                           json={"username": "admin", "password": "admin123"})
    assert response.status_code == 200
    return response.get_json()


@pytest.fixture
def auth(token):
    return bearer(token)


@pytest.fixture
def db(database_url):
    """The queue's database without Flask: bound, schema created, a connection open."""
    handle = open_database(database_url)
    database.initialize(handle)
    create_schema(ALL_MODELS)
    with database.connection_context():
        yield handle
    handle.close_all()
