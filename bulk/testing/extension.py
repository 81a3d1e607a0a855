"""The test controls as an app extension: the factory calls `init_app` when `BULK_TESTING` is on.

The core names this module in its settings (`Settings.extensions`) and imports it by name, so
nothing in the service imports `bulk.testing`.
"""

from __future__ import annotations

from flask import Flask

from bulk.testing.controls import install_controls
from bulk.testing.views import ENDPOINTS
from bulk.views.endpoints import add_endpoints


def init_app(app: Flask) -> None:
    """Give the app's service its test controls and serve `/V1/testing/...`."""
    install_controls(app)
    add_endpoints(app, ENDPOINTS)
