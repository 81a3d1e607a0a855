"""The running service of one app: settings, catalogue, tokens, database and background loops together.

This is where the parts are wired: the processing modes are named here (`MODES`) and each gets only
what it uses (`bulk.processing.ModeContext`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import replace

import peewee
from flask import current_app

from bulk.accept import AcceptPolicy, DataHasher
from bulk.auth import TokenService
from bulk.backpressure import BACKPRESSURE_MODELS, OpenOperationsBound, RateLimiter
from bulk.callers import CallerResolver
from bulk.checkpoints import SAFETY_NET_PAGES, CheckpointAfterWrite
from bulk.clock import Clock
from bulk.config import WEBHOOK_RETRY_MAX_SECONDS, ConfigError, Settings
from bulk.db import database, open_database
from bulk.drainer import CATCH_UP_SECONDS, COALESCE_SECONDS, Drainer, DrainerSettings
from bulk.forward import forward_mode
from bulk.handlers import is_no_op
from bulk.heartbeats import Heartbeat
from bulk.housekeeping import Housekeeper, HousekeepingSettings
from bulk.integrations import INTEGRATION_MODELS, IntegrationStore
from bulk.loops import Loop
from bulk.migrations import create_schema
from bulk.models import ALL_MODELS
from bulk.oauth import OAUTH_MODELS, OAuthVerifier, sweep_nonces
from bulk.plugins import load_plugins
from bulk.processing import ModeContext, ModeFactory, Processing, accept_mode
from bulk.retries import RetryPolicy
from bulk.revocation import TokenGenerations
from bulk.routes.catalogue import Catalogue, Route
from bulk.secret_fields import SecretFields
from bulk.sign_in import AdminAccount, sweep_failures
from bulk.store.handlers import store_mode
from bulk.store.models import STORE_MODELS
from bulk.urls import Stores
from bulk.webhooks.delivery import DeliverySettings, WebhookSender
from bulk.webhooks.signing import Signer
from bulk.webhooks.subscriptions import Subscriptions

# Processing modes by the name BULK_PROCESSING uses.
MODES: dict[str, ModeFactory] = {
    "accept": accept_mode,
    "store": store_mode,
    "forward": forward_mode,
}


def _mode(name: str) -> ModeFactory:
    try:
        return MODES[name]
    except KeyError:
        raise ConfigError(f"BULK_PROCESSING must be one of {', '.join(MODES)}, got {name!r}") from None


class BulkService:
    """Everything a request or a background loop needs; created by the app factory, started lazily."""

    def __init__(self, settings: Settings, catalogue: Catalogue, clock: Clock) -> None:
        self.settings = settings
        self.catalogue = catalogue
        self.clock = clock
        self.stores = Stores(settings.stores)
        self.tokens = TokenService(settings.secret, settings.token_lifetime_hours * 3600,
                                   TokenGenerations(settings.token_check_seconds))
        lock_seconds = settings.login_lock_minutes * 60
        self.admin_account = AdminAccount(settings.admin_username, settings.admin_password or "",
                                          settings.login_max_failures, lock_seconds,
                                          settings.login_account_max_failures)
        # Who may call (bulk.callers), and how much (bulk.backpressure).
        self.integrations = IntegrationStore(settings.secret)
        nonce_seconds = settings.oauth_nonce_hours * 3600
        self.callers = CallerResolver(
            self.tokens, self.integrations,
            OAuthVerifier(self.integrations, settings.oauth_signature_methods, nonce_seconds),
            settings.integration_as_bearer)
        self.rate_limiter = RateLimiter(settings.rate_limit)
        self.open_operations = OpenOperationsBound(settings.max_open_operations)
        self.secret_fields = SecretFields(settings.secret, catalogue)
        self.accept_policy = AcceptPolicy(settings.max_items, settings.invalid_items == "reject-item",
                                          DataHasher(settings.secret), self.secret_fields.sealer_for,
                                          self._known_outcome)
        # Guests (anonymous routes) get their own, lower bounds: a sign-up form needs few items.
        self.guest_accept_policy = replace(self.accept_policy,
                                           max_items=min(settings.guest_max_items, settings.max_items))
        # SQLite: the writers checkpoint the log, outside the write turn (`bulk.checkpoints`).
        checkpoints = settings.sqlite_checkpoint_seconds > 0
        self.database = open_database(
            settings.database_url or "", settings.db_busy_timeout, settings.db_pool_size,
            SAFETY_NET_PAGES if checkpoints else 1000,
            after_write=CheckpointAfterWrite(settings.sqlite_checkpoint_seconds) if checkpoints else None)
        self._closers: list[Callable[[], None]] = []
        mode = _mode(settings.processing_mode)
        self.processing = Processing(settings.processing_mode,
                                     mode(ModeContext(settings, self.stores, clock, self.on_shutdown)))
        # Innermost wrapper: handlers (plug-ins too) get sealed secret fields in clear.
        self.processing.add_wrapper(self.secret_fields.wrap)
        load_plugins(settings.plugins, self.processing, catalogue, self.stores)
        self.subscriptions = Subscriptions(settings.webhook_url, settings.webhook_events)
        sqlite = isinstance(self.database, peewee.SqliteDatabase)
        self.drainer = Drainer(catalogue, self.processing.handler_for, clock, DrainerSettings(
            settings.worker_batch, settings.lease_seconds, settings.poll_seconds,
            concurrency=settings.worker_concurrency or 1,
            retry=RetryPolicy(settings.retry_attempts or 1, settings.retry_base_seconds,
                              settings.retry_max_seconds),
            coalesce_seconds=(settings.claim_coalesce_seconds if settings.claim_coalesce_seconds is not None
                              else COALESCE_SECONDS["sqlite" if sqlite else "postgresql"]),
            max_batch_size=settings.worker_batch_max,
            # A batch holds SQLite's one write lock, which every submit waits for: there its growth
            # is bounded in time. PostgreSQL's claims lock their own rows only.
            catch_up_seconds=CATCH_UP_SECONDS if sqlite else None),
            self.subscriptions)
        self.housekeeper = Housekeeper(clock, HousekeepingSettings(
            settings.retention_days, settings.stuck_hours, settings.housekeeping_seconds,
            settings.idempotency_hours), self.subscriptions,
            sweeps=(lambda now: sweep_nonces(now - nonce_seconds), self.rate_limiter.sweep,
                    lambda now: sweep_failures(now, lock_seconds)))
        self.webhooks = WebhookSender(
            Signer(settings.webhook_secret) if settings.webhook_secret else None, clock, DeliverySettings(
                settings.webhook_timeout, settings.webhook_max_hours, settings.webhook_concurrency,
                3 * settings.webhook_timeout, settings.poll_seconds, settings.webhook_allow_private,
                RetryPolicy(2**31, settings.webhook_retry_base_seconds, WEBHOOK_RETRY_MAX_SECONDS)),
            endpoints=self.integrations.webhook_endpoints)
        self.on_shutdown(self.webhooks.close)
        # Each process's row in the workers table the dashboard shows.
        self.heartbeat = Heartbeat(self.drainer, clock)
        # Started in this order, stopped in reverse: the drainer releases its claims before the rest stop,
        # and the heartbeat removes this process's row last, when no drainer of its own writes any more.
        self.loops: list[Loop] = [self.heartbeat, self.housekeeper, self.webhooks, self.drainer]
        self._ready = False
        self._schema_ready = False
        self._ready_lock = threading.Lock()

    def _known_outcome(self, route: Route) -> str | None:
        """The success message of a route whose handler (plug-ins and wrappers included) is `no_op`:
        its operations' outcome, known when they are accepted. Asked per request, so a wrapper added
        later (the test controls') counts from then on."""
        return route.success_message if is_no_op(self.processing.handler_for(route)) else None

    def bind(self) -> None:
        """Point the shared model database at this service's database (one service per process)."""
        database.initialize(self.database)

    def ensure_ready(self) -> None:
        """Create the schema and start the background loops once per process, on first use (not at import)."""
        if self._ready:
            return
        with self._ready_lock:
            if self._ready:
                return
            self.ensure_ready_without_worker()
            if self.settings.worker_enabled:
                for loop in self.loops:
                    loop.start()
            self._ready = True

    def ensure_ready_without_worker(self) -> None:
        """Create the schema only (commands and tests that drain synchronously)."""
        if not self._schema_ready:
            create_schema([*ALL_MODELS, *STORE_MODELS, *INTEGRATION_MODELS, *OAUTH_MODELS, *BACKPRESSURE_MODELS])
            self._schema_ready = True

    def on_shutdown(self, close: Callable[[], None]) -> None:
        """Run `close` at shutdown, after the loops stopped (a processing mode's HTTP client, ...)."""
        self._closers.append(close)

    def shutdown(self, timeout: float = 10.0) -> None:
        """Stop the loops (the drainer releases what it holds) and close pooled connections."""
        for loop in reversed(self.loops):
            loop.stop(timeout)
        for close in self._closers:
            close()
        self.database.close_all()


def current_service() -> BulkService:
    return current_app.extensions["bulk"]
