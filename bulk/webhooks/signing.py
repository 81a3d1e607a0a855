"""Standard Webhooks signatures: `v1,<base64 HMAC-SHA256>` over `<webhook-id>.<timestamp>.<body>`."""

from __future__ import annotations

import base64
import hashlib
import hmac

from bulk.config import WEBHOOK_SECRET_PREFIX


class Signer:
    """Signs each attempt with the `whsec_` secret; holds the key, never shows it."""

    def __init__(self, secret: str) -> None:
        self._key = base64.b64decode(secret.removeprefix(WEBHOOK_SECRET_PREFIX))

    def __repr__(self) -> str:
        return "Signer(<secret>)"

    def signature(self, webhook_id: str, timestamp: int, body: bytes) -> str:
        """The `webhook-signature` value for one attempt."""
        signed = b"%s.%d.%s" % (webhook_id.encode(), timestamp, body)
        return "v1," + base64.b64encode(hmac.new(self._key, signed, hashlib.sha256).digest()).decode()

    def headers(self, webhook_id: str, timestamp: int, body: bytes) -> dict[str, str]:
        """The three headers a receiver verifies (the timestamp is the attempt's, so retries stay fresh)."""
        return {
            "webhook-id": webhook_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": self.signature(webhook_id, timestamp, body),
        }
