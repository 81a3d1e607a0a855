"""The route catalogue: which async and bulk routes exist, and everything about each.

`build_catalogue(settings)` is the one way in: the built-in routes (`builtin`), then those of
BULK_ROUTES_FILE (`route_file`) and BULK_WEBAPI_FILES (`webapi_xml`). `catalogue` holds `Route` and
`Catalogue`, `paths` Magento's URL rules, `validation` the accept-time checks of each route's schema.
"""

from __future__ import annotations

from bulk.config import Settings
from bulk.routes.builtin import builtin_catalogue
from bulk.routes.catalogue import Catalogue, Route
from bulk.routes.route_file import load_route_file
from bulk.routes.webapi_xml import load_webapi_files

__all__ = ["Catalogue", "Route", "build_catalogue"]


def build_catalogue(settings: Settings) -> Catalogue:
    """Every route the settings configure; a mistake in a file is a ConfigError naming it."""
    catalogue = builtin_catalogue()
    if settings.routes_file:
        load_route_file(settings.routes_file, catalogue)
    load_webapi_files(settings.webapi_files, catalogue)
    return catalogue
