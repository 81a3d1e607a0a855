"""The operators' dashboard: server-rendered pages (Flask's Jinja templates) over the queue's tables.

`register_dashboard(app)` is all the app factory calls: session cookie and CSRF settings, and the
blueprint (`GET /` redirects to `/dashboard`; the API's own paths never redirect).
"""

from __future__ import annotations

from flask import Flask

from bulk.dashboard.session import configure_sessions
from bulk.dashboard.views import dashboard


def register_dashboard(app: Flask) -> None:
    """Serve the dashboard; registered before the API so that `GET /` is the dashboard's."""
    configure_sessions(app, app.extensions["bulk"])
    app.register_blueprint(dashboard)
