"""pytest plugin: the bulk service as a fixture (registered as `bulk.testing.plugin`, or `-p bulk.testing.plugin`).

Fixtures (each test gets a fresh service on its own temporary SQLite database):
- `bulk`: a `BulkFixture`: `.app`, `.client` (Flask test client), `.token`, `.headers`, `.username`,
  `.password`, `.drain()`, `.wait_for(bulk_uuid)`, `.operations(...)`, `.faults`, `.clock`, `.reset()`;
- `bulk_server`: the same object, also served over real HTTP on a free port with its drainer thread
  running (`.base_url`, `.url(path)`); any HTTP client or Magento client library can call it;
- `bulk_app`, `bulk_client`, `bulk_token`: shortcuts to the parts of `bulk`;
- `bulk_integration`: an integration with every resource (`.consumer_key`, ..., `.headers(method, url)`
  gives a signed `Authorization: OAuth ...`);
- `bulk_clock`: the service's `ManualClock` (time moves only when the test moves it);
- `bulk_config`: setting overrides, `{}` by default; override this fixture (or parametrize it) to
  change settings: `{"BULK_MAX_ITEMS": 10}`.

Without `bulk_server`, no thread drains: operations stay open until the test calls `drain()` or
`wait_for()`. One service runs per process at a time (the models share one database proxy), so a
test uses one `bulk` at most; run tests in parallel with processes (pytest-xdist), not threads.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

from bulk.clock import ManualClock

if TYPE_CHECKING:
    # Annotations only: pytest loads this plugin into every run wherever the project is installed,
    # so the service (and its database drivers) is imported when a test first asks for `bulk`.
    from bulk.testing.fixture import BulkFixture
    from bulk.testing.signing import TestIntegration


@pytest.fixture
def bulk_config() -> dict[str, Any]:
    """Setting overrides for the `bulk` service (override this fixture to change them)."""
    return {}


@pytest.fixture
def bulk_clock() -> ManualClock:
    """The service clock: starts at a fixed time and moves only by `advance()` / `set()`."""
    return ManualClock()


@pytest.fixture
def bulk(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
         bulk_config: dict[str, Any], bulk_clock: ManualClock) -> Iterator[BulkFixture]:
    """A fresh service with a test client, admin token and test controls; closed after the test."""
    from bulk.testing.fixture import BulkFixture

    # A test that also asks for the live server gets the real drainer thread; others drain by hand.
    live = "bulk_server" in request.fixturenames
    fixture = BulkFixture(tmp_path_factory.mktemp("bulk"), bulk_config, bulk_clock, drainer_thread=live)
    try:
        yield fixture
    finally:
        fixture.close()


@pytest.fixture
def bulk_server(bulk: BulkFixture) -> BulkFixture:
    """`bulk`, served over real HTTP on a free port (`.base_url`) with its drainer thread running."""
    bulk.serve()
    return bulk


@pytest.fixture
def bulk_integration(bulk: BulkFixture) -> TestIntegration:
    """An active integration of the `bulk` service with every resource: `.headers(method, url)` signs."""
    return bulk.create_integration()


@pytest.fixture
def bulk_app(bulk: BulkFixture):
    """The Flask app of the `bulk` service."""
    return bulk.app


@pytest.fixture
def bulk_client(bulk: BulkFixture):
    """A Flask test client of the `bulk` service."""
    return bulk.client


@pytest.fixture
def bulk_token(bulk: BulkFixture) -> str:
    """An admin bearer token for the `bulk` service."""
    return bulk.token
