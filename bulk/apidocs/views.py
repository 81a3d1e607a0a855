"""`GET /rest[/<store>][/async[/bulk]]/schema?services=all` and the Swagger UI at `/swagger`.

The UI's files come from the pinned `flask-swagger-ui` package (Swagger UI's own distribution), so
the page works without the internet. Neither needs the database.
"""

from __future__ import annotations

import os

import flask_swagger_ui
from flask import Blueprint, Flask, Response, render_template, request, send_from_directory

from bulk.apidocs.openapi import ASYNC, BULK, REST, Request, build_document
from bulk.errors import cannot_process
from bulk.jsonutil import json_response
from bulk.service import current_service
from bulk.views.endpoints import current_endpoints

docs = Blueprint("apidocs", __name__, template_folder="templates")

SWAGGER_UI_FILES = os.path.join(os.path.dirname(flask_swagger_ui.__file__), "dist")
# Endpoints that need no database connection (see the app factory's before_request).
DOCS_ENDPOINTS = frozenset(("apidocs.schema", "apidocs.swagger_ui", "apidocs.swagger_file"))
_SUFFIX = {REST: "/schema", ASYNC: "/async/schema", BULK: "/async/bulk/schema"}


def register_api_docs(app: Flask) -> None:
    app.register_blueprint(docs)


def _rules() -> list[tuple[str, str]]:
    rules = []
    for kind, suffix in _SUFFIX.items():
        rules.append((f"/rest{suffix}", kind))
        rules.append((f"/rest/<store>{suffix}", kind))
    return rules


def schema(kind: str, store: str | None = None) -> Response:
    """The document of `kind` for the caller's token (Magento lists only what the caller may use)."""
    service = current_service()
    if store is not None and service.stores.id_of(store) is None:
        raise cannot_process()  # as any path under an unknown store code
    requested = request.args.get("services", "all")
    services = None if requested.strip() in ("", "all") else {name.strip() for name in requested.split(",")}
    caller = service.tokens.caller(request.headers.get("Authorization"), service.clock.time())
    base_path = request.path[: -len("/schema")]
    document = build_document(kind, Request(request.host, base_path, request.scheme), caller, service.catalogue,
                              current_endpoints(), lambda route: service.processing.sync_handler(route) is not None,
                              services)
    return json_response(document)


for _rule, _kind in _rules():
    docs.add_url_rule(_rule, "schema", schema, methods=["GET"], defaults={"kind": _kind})


@docs.get("/swagger")
def swagger_ui() -> str:
    """Swagger UI over the three documents of the default store."""
    store = current_service().stores.default_code
    urls = [{"name": f"{label} (/rest/{store}{suffix})", "url": f"/rest/{store}{suffix}?services=all"}
            for label, suffix in (("REST", _SUFFIX[REST]), ("Async", _SUFFIX[ASYNC]), ("Bulk", _SUFFIX[BULK]))]
    return render_template("swagger.html", urls=urls)


@docs.get("/swagger/<path:filename>")
def swagger_file(filename: str) -> Response:
    """Swagger UI's own files (scripts, styles, icons), from the installed package."""
    return send_from_directory(SWAGGER_UI_FILES, filename, max_age=3600)
