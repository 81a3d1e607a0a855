"""`GET /V1/bulk/:bulkUuid/webhooks`: a bulk's webhook deliveries, seen by whoever may see its status."""

from __future__ import annotations

from typing import Any

from flask import Response

from bulk.clock import magento_time
from bulk.jsonutil import json_response
from bulk.models import WebhookDelivery
from bulk.views.endpoints import endpoint
from bulk.views.status import RESOURCE, visible_bulk
from bulk.webhooks import outbox


def bulk_webhooks(bulk_uuid: str) -> Response:
    """`{"bulk_id", "deliveries": [...]}`, oldest first; 404 as the status endpoints answer it."""
    visible_bulk(bulk_uuid)
    return json_response({"bulk_id": bulk_uuid,
                          "deliveries": [_delivery(row) for row in outbox.deliveries_of(bulk_uuid)]})


def _delivery(row: WebhookDelivery) -> dict[str, Any]:
    return {
        "webhook_id": row.webhook_id,
        "type": row.event_type,
        # The subscriber: null, the global endpoint (BULK_WEBHOOK_URL); else the integration whose own it is.
        "integration_id": row.integration_id,
        # Without its query string, which may carry the receiver's token.
        "url": outbox.shown_url(row.url),
        "status": row.status,
        "attempts": row.attempts,
        "last_status": row.last_status,
        "last_error": row.last_error,
        "created_at": _time(row.created_at),
        "last_attempt_at": _time(row.last_attempt_at),
        # While a sender holds it, the end of its lease: the next try if this one comes to nothing.
        "next_attempt_at": _time(row.next_attempt_at) if row.status == outbox.PENDING else None,
        "delivered_at": _time(row.delivered_at),
    }


def _time(value: float | None) -> str | None:
    return None if value is None else magento_time(value)


ENDPOINTS = (
    endpoint("GET", "/V1/bulk/:bulkUuid/webhooks", (RESOURCE,), bulk_webhooks),
)
