"""The running service of one app: settings, catalogue, tokens, database and drainer together."""

from __future__ import annotations

import logging
import threading
from typing import Callable

from flask import current_app

from bulk.accept import AcceptPolicy, DataHasher
from bulk.auth import AdminAccount, TokenService
from bulk.catalogue import Catalogue
from bulk.clock import Clock
from bulk.config import Settings
from bulk.db import database, open_database
from bulk.housekeeping import Housekeeper, HousekeepingSettings
from bulk.migrations import create_schema
from bulk.models import ALL_MODELS
from bulk.plugins import load_plugins
from bulk.processing import MODES, Processing
from bulk.retries import RetryPolicy
from bulk.store.models import STORE_MODELS
from bulk.urls import Stores
from bulk.worker import Drainer, DrainerSettings

log = logging.getLogger(__name__)


class BulkService:
    """Everything a request or the drainer needs; created by the app factory, started lazily."""

    def __init__(self, settings: Settings, catalogue: Catalogue, clock: Clock) -> None:
        self.settings = settings
        self.catalogue = catalogue
        self.clock = clock
        self.stores = Stores(settings.stores)
        self.tokens = TokenService(settings.secret, settings.token_lifetime_hours * 3600)
        self.admin_account = AdminAccount(settings.admin_username, settings.admin_password or "",
                                          settings.login_max_failures, settings.login_lock_minutes * 60)
        self.accept_policy = AcceptPolicy(settings.max_items, settings.invalid_items == "reject-item",
                                          DataHasher(settings.secret))
        self.database = open_database(settings.database_url or "", settings.db_busy_timeout,
                                      settings.db_pool_size)
        self._closers: list[Callable[[], None]] = []
        self.processing = Processing(settings.processing_mode, MODES[settings.processing_mode](self))
        load_plugins(settings.plugins, self.processing, catalogue, self.stores)
        self.drainer = Drainer(catalogue, self.processing.handler_for, clock, DrainerSettings(
            settings.worker_batch, settings.lease_seconds, settings.poll_seconds,
            concurrency=settings.worker_concurrency or 1,
            retry=RetryPolicy(settings.retry_attempts or 1, settings.retry_base_seconds,
                              settings.retry_max_seconds)))
        self.housekeeper = Housekeeper(clock, HousekeepingSettings(
            settings.retention_days, settings.stuck_hours, settings.housekeeping_seconds))
        self._ready = False
        self._schema_ready = False
        self._ready_lock = threading.Lock()

    def bind(self) -> None:
        """Point the shared model database at this service's database (one service per process)."""
        database.initialize(self.database)

    def ensure_ready(self) -> None:
        """Create the schema and start the drainer once per process, on first use (not at import)."""
        if self._ready:
            return
        with self._ready_lock:
            if self._ready:
                return
            self.ensure_ready_without_worker()
            if self.settings.worker_enabled:
                self.drainer.start()
                self.housekeeper.start()
            self._ready = True

    def ensure_ready_without_worker(self) -> None:
        """Create the schema only (commands and tests that drain synchronously)."""
        if not self._schema_ready:
            create_schema([*ALL_MODELS, *STORE_MODELS])
            self._schema_ready = True

    def on_shutdown(self, close: Callable[[], None]) -> None:
        """Run `close` at shutdown, after the drainer stopped (a processing mode's HTTP client, ...)."""
        self._closers.append(close)

    def shutdown(self, timeout: float = 10.0) -> None:
        """Stop the drainer (it releases what it holds) and close pooled connections."""
        self.drainer.stop(timeout)
        self.housekeeper.stop(timeout)
        for close in self._closers:
            close()
        self.database.close_all()


def current_service() -> BulkService:
    return current_app.extensions["bulk"]
