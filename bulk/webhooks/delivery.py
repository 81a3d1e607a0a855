"""The webhook sender: a background loop that claims due deliveries, signs and sends them, and
records each attempt. At least once: a sender that dies mid-attempt leaves the delivery to be sent
again (same `webhook-id`) once its lease runs out.

Retries: 5xx, 429, 408, timeouts and failed connections are tried again after an exponential
backoff with jitter (bulk.retries), never sooner than the receiver's `Retry-After`; any other answer
(a redirect is not followed, 4xx) and refused addresses fail the delivery at once. A delivery not
accepted within BULK_WEBHOOK_MAX_HOURS of its event is given up: `failed`.
"""

from __future__ import annotations

import logging
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from bulk.clock import Clock
from bulk.db import database
from bulk.loops import Loop
from bulk.retries import RetryPolicy, parse_retry_after
from bulk.webhooks import outbox
from bulk.webhooks.outbox import DELIVERED, FAILED, PENDING, DueDelivery, Settlement
from bulk.webhooks.signing import Signer
from bulk.webhooks.transport import Answer, Transport

log = logging.getLogger(__name__)

HOUR = 3600
# Answers that say "not now" rather than "no".
RETRIABLE_STATUSES = frozenset({408, 429})
USER_AGENT = "magento-bulk-api-webhooks"


@dataclass(frozen=True)
class DeliverySettings:
    timeout: float = 10.0
    max_hours: float = 24.0
    # Deliveries sent at the same time, each in its own thread.
    concurrency: int = 4
    # How long a sender holds a claimed delivery: well past an attempt's timeouts.
    lease_seconds: float = 30.0
    poll_seconds: float = 0.5
    allow_private: bool = False
    # Unlimited tries; the age limit (`max_hours`) ends them.
    retry: RetryPolicy = field(default_factory=lambda: RetryPolicy(max_attempts=2**31, max_seconds=300.0))


def settlement(delivery: DueDelivery, answer: Answer, now: float, settings: DeliverySettings) -> Settlement:
    """What one attempt means for its delivery: delivered, failed for good, or another try later."""
    attempts = delivery.attempts + 1
    if answer.status is not None and 200 <= answer.status < 300:
        return Settlement(delivery.id, DELIVERED, now, answer.status, None, now, delivered_at=now)
    error = answer.error or _answer_text(answer)
    retriable = answer.transient or answer.status in RETRIABLE_STATUSES or (answer.status or 0) >= 500
    deadline = delivery.created_at + settings.max_hours * HOUR
    if retriable and now < deadline:
        delay = settings.retry.delay(attempts, parse_retry_after(answer.retry_after, now))
        if delay is not None:
            # The last try falls at the deadline rather than after it.
            return Settlement(delivery.id, PENDING, now, answer.status, error, min(now + delay, deadline))
    if retriable:
        error = f"given up after {settings.max_hours:g} hour(s): {error}"
    return Settlement(delivery.id, FAILED, now, answer.status, error, now)


def _answer_text(answer: Answer) -> str:
    excerpt = " ".join(answer.excerpt.split())[:200]
    return f"HTTP {answer.status}" + (f": {excerpt}" if excerpt else "")


class WebhookSender(Loop):
    """Sends due deliveries in its own thread (`start`/`stop`) or now (`run_once`/`send_due`)."""

    def __init__(self, signer: Signer | None, clock: Clock, settings: DeliverySettings = DeliverySettings()) -> None:
        super().__init__("bulk-webhooks", settings.poll_seconds, min_backoff=0.5, max_backoff=30.0)
        self._signer = signer
        self._clock = clock
        self._settings = settings
        self.transport = Transport(settings.timeout, settings.allow_private, settings.concurrency)

    def tick(self) -> bool:
        return self.run_once() > 0

    def run_once(self) -> int:
        """Claim due deliveries, make one attempt each, record them; returns how many were attempted."""
        token = uuid.uuid4().hex
        now = self._clock.time()
        with database.connection_context():
            if not outbox.has_due(now):
                return 0
            due = outbox.claim_due(token, self._settings.concurrency, self._settings.lease_seconds, now)
        if not due:
            return 0
        if len(due) == 1:
            answers = [self._attempt(due[0])]
        else:
            with ThreadPoolExecutor(len(due), thread_name_prefix="bulk-webhook") as pool:
                answers = list(pool.map(self._attempt, due))
        now = self._clock.time()
        results = [settlement(delivery, answer, now, self._settings)
                   for delivery, answer in zip(due, answers, strict=True)]
        with database.connection_context():
            outbox.settle(token, results)
        for delivery, result in zip(due, results, strict=True):
            if result.status == FAILED:
                log.warning("webhook %s to %s failed: %s", delivery.webhook_id, outbox.shown_url(delivery.url),
                            result.error)
        return len(due)

    def send_due(self) -> int:
        """Attempt every delivery due now, once each; returns how many attempts were made."""
        total = 0
        while done := self.run_once():
            total += done
        return total

    def _attempt(self, delivery: DueDelivery) -> Answer:
        if self._signer is None:
            return Answer(error="BULK_WEBHOOK_SECRET is not set: deliveries cannot be signed")
        body = delivery.payload.encode()
        headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT,
                   **self._signer.headers(delivery.webhook_id, int(self._clock.time()), body)}
        return self.transport.post(delivery.url, body, headers)

    def close(self) -> None:
        self.transport.close()
