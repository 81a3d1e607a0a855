"""`GET /health`: liveness, database reachability and backlog, for PaaS checks and operators."""

from __future__ import annotations

from flask import Blueprint, Response

from bulk import queue
from bulk.jsonutil import json_response
from bulk.service import current_service

health = Blueprint("health", __name__)


@health.get("/health")
def health_check() -> Response:
    service = current_service()
    if not service.settings.worker_enabled:
        drainer = "disabled"
    else:
        drainer = "running" if service.drainer.running else "stopped"
    return json_response({"status": "ok", "open_operations": queue.open_count(), "drainer": drainer})
