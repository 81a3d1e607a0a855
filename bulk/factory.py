"""The application factory: settings -> catalogue -> service -> Flask app. No side effects on import."""

from __future__ import annotations

import importlib
import os
from collections.abc import Mapping
from typing import Any

from flask import Flask, g, request

from bulk import logs, metrics, observe
from bulk.apidocs import DOCS_ENDPOINTS, register_api_docs
from bulk.cli import bulk_cli
from bulk.clock import Clock
from bulk.config import load_settings
from bulk.dashboard import register_dashboard
from bulk.db import database
from bulk.errors import register_error_handlers
from bulk.routes import build_catalogue
from bulk.service import BulkService
from bulk.views.dispatch import register_api
from bulk.views.health import health
from bulk.views.ops import OWN_CONNECTION, register_ops


def create_app(config: Mapping[str, Any] | None = None, *, clock: Clock | None = None) -> Flask:
    """Build an app from the environment; `config` overrides variables by name (tests, embedding)."""
    settings = load_settings(config)
    service = BulkService(settings, build_catalogue(settings), clock or Clock())
    service.bind()

    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    # Real clients refuse redirects: never answer 308 for a trailing or doubled slash.
    app.url_map.strict_slashes = False
    app.url_map.merge_slashes = False
    app.extensions["bulk"] = service
    register_error_handlers(app, settings.busy_retry_after)
    # First of the request hooks: a request that fails in a later one is still timed, counted and logged.
    observe.init_app(app)
    metrics.bind(metrics.Metrics() if settings.metrics_enabled else None)
    app.register_blueprint(health)
    register_ops(app)
    register_api_docs(app)
    # Before the API: its catch-all rule would otherwise answer `GET /`.
    register_dashboard(app)
    register_api(app)
    app.cli.add_command(bulk_cli)
    # Parts outside the core (the test controls) plug in by module name: the core never imports them.
    for name in settings.extensions:
        importlib.import_module(name).init_app(app)
    logs.configure(settings, os.environ)

    @app.before_request
    def open_database_connection() -> None:
        if request.endpoint in OWN_CONNECTION or request.endpoint in DOCS_ENDPOINTS:
            return
        service.ensure_ready()
        g.bulk_connection = database.connection_context()
        g.bulk_connection.__enter__()

    @app.teardown_request
    def close_database_connection(error: BaseException | None) -> None:
        connection = g.pop("bulk_connection", None)
        if connection is not None:
            connection.__exit__(None, None, None)

    return app

