"""Completion webhooks: events written to an outbox in the transaction that causes them, then signed
(Standard Webhooks) and delivered with retries by a background loop."""
