"""Endpoints for operators' tools: `GET /metrics` (Prometheus) and `GET /health/ready` (readiness).

Both open their own database connection and answer even when the database cannot be reached (the
app's per-request connection is skipped for them, `OWN_CONNECTION`): that is when they matter.
"""

from __future__ import annotations

import hmac
import logging
import time
from typing import Any

import peewee
from flask import Blueprint, Flask, Response, request

from bulk import backlog, metrics
from bulk.config import Settings
from bulk.db import database
from bulk.errors import no_route, not_authorized
from bulk.jsonutil import json_response
from bulk.migrations import LATEST_VERSION, schema_version
from bulk.service import BulkService, current_service

ops = Blueprint("ops", __name__)
log = logging.getLogger(__name__)

# Endpoints that manage their own database connection (see the app factory's before_request).
OWN_CONNECTION = frozenset(("ops.metrics_endpoint", "ops.readiness"))
METRICS_RESOURCE = "bulk::metrics"
_DATABASE_ERRORS = (peewee.DatabaseError, peewee.InterfaceError)


def register_ops(app: Flask) -> None:
    app.register_blueprint(ops)


@ops.get("/metrics")
def metrics_endpoint() -> Response:
    service = current_service()
    collected = metrics.current()
    if collected is None:
        raise no_route()  # BULK_METRICS=0
    _check_metrics_token(service.settings)
    try:
        service.ensure_ready()
        with database.connection_context():
            state: metrics.Backlog | None = metrics.Backlog(
                backlog.open_operations(), backlog.oldest_open_age(service.clock.time()))
    except _DATABASE_ERRORS as error:
        log.warning("metrics: the database could not be read: %s", error)
        state = None
    return Response(collected.render(state), content_type=metrics.CONTENT_TYPE)


def _check_metrics_token(settings: Settings) -> None:
    if not settings.metrics_token:
        return
    given = request.headers.get("Authorization", "").strip().encode()
    if not hmac.compare_digest(given, f"Bearer {settings.metrics_token}".encode()):
        error = not_authorized([METRICS_RESOURCE])
        error.headers["WWW-Authenticate"] = 'Bearer realm="metrics"'
        raise error


def drainer_stale_after(settings: Settings) -> float:
    """How old the drainer's heartbeat may be while work is open: a few polls plus one batch's time.

    A batch of database-local handlers waits at most the busy timeout; one with outside effects
    (forward mode, plug-ins) may run as long as its lease, which the drainer renews meanwhile.
    """
    outside = settings.processing_mode == "forward" or bool(settings.plugins)
    return 5 * settings.poll_seconds + (settings.lease_seconds if outside else settings.db_busy_timeout)


@ops.get("/health/ready")
def readiness() -> Response:
    """200 when this process can take work: database reachable, schema current, drainer alive."""
    service = current_service()
    reasons: list[str] = []
    checks: dict[str, Any] = {"latest_schema_version": LATEST_VERSION}
    open_operations = _database_checks(service, reasons, checks)
    _drainer_checks(service, open_operations, reasons, checks)
    body = {"status": "not ready" if reasons else "ready", "reasons": reasons, "checks": checks}
    return json_response(body, 503 if reasons else 200)


def _database_checks(service: BulkService, reasons: list[str], checks: dict[str, Any]) -> int | None:
    try:
        with database.connection_context():
            database.execute_sql("SELECT 1")
    except _DATABASE_ERRORS as error:
        log.warning("readiness: the database cannot be reached: %s", error)
        checks["database"] = "unreachable"
        reasons.append("The database cannot be reached.")
        return None
    checks["database"] = "ok"
    try:
        # Under `flask run` nothing prepared the process yet; under gunicorn this returns at once.
        service.ensure_ready()
        with database.connection_context():
            version = schema_version()
            open_operations = backlog.open_operations()
    except _DATABASE_ERRORS as error:
        log.warning("readiness: the schema could not be read or brought up to date: %s", error)
        reasons.append("The database schema could not be read or brought up to date.")
        return None
    checks["schema_version"] = version
    checks["open_operations"] = open_operations
    if version is None or version < LATEST_VERSION:
        reasons.append(f"The database schema is at version {version}; this code needs {LATEST_VERSION}.")
    return open_operations


def _drainer_checks(service: BulkService, open_operations: int | None, reasons: list[str],
                    checks: dict[str, Any]) -> None:
    if not service.settings.worker_enabled:
        checks["drainer"] = "disabled"
        return
    drainer = service.drainer
    checks["drainer"] = "running" if drainer.running else "stopped"
    heartbeat = drainer.heartbeat
    age = None if heartbeat is None else round(time.monotonic() - heartbeat, 3)
    limit = drainer_stale_after(service.settings)
    checks["drainer_heartbeat_age_seconds"] = age
    checks["drainer_stale_after_seconds"] = limit
    if not drainer.running:
        reasons.append("The drainer is not running in this process.")
    elif open_operations and (age is None or age > limit):
        reasons.append(f"The drainer has not finished a batch for more than {limit:g} seconds while "
                       f"{open_operations} operation(s) are open.")
