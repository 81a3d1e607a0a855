"""One throwaway service for a test: its own SQLite file, a manual clock, an admin token, test controls.

The models use one process-wide database proxy (`BulkService.bind`), so a process runs one service at
a time: a second BulkFixture opened while one is open raises instead of silently taking the first's
database. Parallel test runs (pytest-xdist) use processes, which is fine.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bulk.clock import ManualClock
from bulk.config import SETTINGS
from bulk.factory import create_app
from bulk.statuses import OperationStatus
from bulk.testing.controls import controls_of
from bulk.testing.faults import FaultInjector
from bulk.testing.live import LiveServer
from bulk.testing.recorder import RecordedOperation
from bulk.testing.signing import TestIntegration

_open_lock = threading.Lock()
_open_fixture: BulkFixture | None = None


class AnotherServiceIsOpen(RuntimeError):
    """A process serves one bulk service at a time (the models share one database proxy)."""


class BulkFixture:
    """A service on `data_dir`, with an app, a Flask test client, credentials and a bearer token.

    `isolated=True` ignores the process environment's BULK_* variables (the pytest plugin: tests
    must not depend on the developer's shell); `False` reads them (the fixture server command).
    `config` (setting names to values) wins over both.
    """

    def __init__(self, data_dir: Path, config: Mapping[str, Any] | None = None,
                 clock: ManualClock | None = None, *, drainer_thread: bool = False,
                 isolated: bool = True) -> None:
        base: dict[str, Any] = {setting.env: setting.default for setting in SETTINGS} if isolated else {}
        settings = {
            **base,
            "BULK_ENV": "development",
            "BULK_DATA_DIR": str(data_dir),
            "DATABASE_URL": f"sqlite:///{Path(data_dir) / 'bulk.sqlite3'}",
            "BULK_WORKER": drainer_thread,
            "BULK_TESTING": True,
            **(config or {}),
        }
        self.clock = clock if clock is not None else ManualClock()
        _claim_process(self)
        try:
            self.app = create_app(settings, clock=self.clock)
        except BaseException:
            _release_process(self)
            raise
        self.service = self.app.extensions["bulk"]
        self.controls = controls_of(self.app)
        self.client = self.app.test_client()
        self.username = self.service.settings.admin_username
        self.password = self.service.settings.admin_password
        self._server: LiveServer | None = None
        self._integrations = 0
        self.token = ""
        self.sign_in()

    # -- credentials -------------------------------------------------------------------------

    def sign_in(self) -> str:
        """Get a new admin token from the real token endpoint (valid from the clock's time); it becomes `token`."""
        response = self.client.post("/rest/V1/integration/admin/token",
                                    json={"username": self.username, "password": self.password})
        if response.status_code != 200:
            raise RuntimeError(f"the fixture could not sign in: {response.status_code} "
                               f"{response.get_data(as_text=True)}")
        self.token = response.get_json()
        return self.token

    @property
    def headers(self) -> dict[str, str]:
        """`Authorization: Bearer <token>` for the admin."""
        return {"Authorization": f"Bearer {self.token}"}

    # -- test controls -----------------------------------------------------------------------

    @property
    def faults(self) -> FaultInjector:
        return self.controls.faults

    def drain(self) -> list[RecordedOperation]:
        """Process every open operation now; returns the operations processed, with their outcome."""
        return self.controls.drain()

    def wait_for(self, bulk_uuid: str, timeout: float = 10.0) -> list[OperationStatus]:
        """The bulk's final statuses in operation order (drains first; see `Controls.wait_for`)."""
        return self.controls.wait_for(bulk_uuid, timeout)

    def operations(self, **filters: Any) -> list[RecordedOperation]:
        """Recorded operations with decoded arguments; filters: bulk_uuid, topic, route, status."""
        return self.controls.operations(**filters)

    def create_integration(self, name: str | None = None,
                           resources: list[str] | str = "all") -> TestIntegration:
        """A new active integration with `resources` ("all", or ACL ids); sign with its `headers()`."""
        self._integrations += 1
        created = self.controls.create_integration(name or f"test-integration-{self._integrations}",
                                                   None if resources == "all" else list(resources))
        return TestIntegration.from_json(created)

    def reset(self) -> None:
        """Forget faults, bulks and operations (the token stays valid)."""
        self.controls.reset()

    # -- live server -------------------------------------------------------------------------

    def serve(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve over real HTTP (a free port unless given); returns the base URL.

        The drainer thread runs when the fixture was made with `drainer_thread=True`.
        """
        if self._server is None:
            self.service.ensure_ready()
            self._server = LiveServer(self.app, host, port)
        return self._server.base_url

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("not served over HTTP: use the bulk_server fixture or call serve()")
        return self._server.base_url

    def url(self, path: str) -> str:
        return self.base_url + "/" + path.lstrip("/")

    def close(self) -> None:
        """Stop serving, release held operations, stop the drainer, close the database (idempotent)."""
        try:
            if self._server is not None:
                self._server.stop()
                self._server = None
            self.faults.reset()
            self.service.shutdown()
        finally:
            _release_process(self)

    def __enter__(self) -> BulkFixture:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _claim_process(fixture: BulkFixture) -> None:
    global _open_fixture
    with _open_lock:
        if _open_fixture is not None:
            raise AnotherServiceIsOpen(
                "a bulk service fixture is already open in this process; the service binds one "
                "process-wide database, so close it first (or run tests in separate processes)")
        _open_fixture = fixture


def _release_process(fixture: BulkFixture) -> None:
    global _open_fixture
    with _open_lock:
        if _open_fixture is fixture:
            _open_fixture = None
