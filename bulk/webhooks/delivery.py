"""The webhook sender: a background loop that claims due deliveries, signs and sends them, and
records each attempt. At least once: a sender that dies mid-attempt leaves the delivery to be sent
again (same `webhook-id`) once its lease runs out.

Retries: 5xx, 429, 408, timeouts and failed connections are tried again after an exponential
backoff with jitter (bulk.retries), never sooner than the receiver's `Retry-After`; any other answer
(a redirect is not followed, 4xx) and refused addresses fail the delivery at once. A delivery not
accepted within BULK_WEBHOOK_MAX_HOURS of its event is given up: `failed`.

Signing: a delivery to the global endpoint with BULK_WEBHOOK_SECRET; one to an integration's own
endpoint with that integration's secret, looked up when it is sent (so it goes to the endpoint as it
is then; an integration deleted or without an endpoint any more fails it at once).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Collection, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace

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
NO_GLOBAL_SECRET = "BULK_WEBHOOK_SECRET is not set: deliveries cannot be signed"
NO_ENDPOINT = "the integration has no endpoint any more (deleted, or its endpoint removed)"
UNREADABLE_SECRET = ("the integration endpoint's secret cannot be opened (BULK_SECRET_KEY changed since it was "
                     "set): set the endpoint again")
# Signers kept per secret (one per integration endpoint in use).
_SIGNERS_KEPT = 1024

# Integration ids -> (endpoint URL, `whsec_` secret in clear, None if it cannot be opened) of those
# that have an endpoint; called with a connection open.
EndpointLookup = Callable[[Collection[int]], Mapping[int, tuple[str, str | None]]]
# A delivery ready to attempt with the signer of its subscriber, or the reason it cannot be sent.
Addressed = tuple[DueDelivery, Signer | str]


def _no_endpoints(integration_ids: Collection[int]) -> Mapping[int, tuple[str, str | None]]:
    return {}


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
        return Settlement(delivery.id, DELIVERED, now, answer.status, None, now, delivered_at=now, url=delivery.url)
    error = answer.error or _answer_text(answer)
    retriable = answer.transient or answer.status in RETRIABLE_STATUSES or (answer.status or 0) >= 500
    deadline = delivery.created_at + settings.max_hours * HOUR
    if retriable and now < deadline:
        delay = settings.retry.delay(attempts, parse_retry_after(answer.retry_after, now))
        if delay is not None:
            # The last try falls at the deadline rather than after it.
            return Settlement(delivery.id, PENDING, now, answer.status, error, min(now + delay, deadline),
                              url=delivery.url)
    if retriable:
        error = f"given up after {settings.max_hours:g} hour(s): {error}"
    return Settlement(delivery.id, FAILED, now, answer.status, error, now, url=delivery.url)


def _answer_text(answer: Answer) -> str:
    excerpt = " ".join(answer.excerpt.split())[:200]
    return f"HTTP {answer.status}" + (f": {excerpt}" if excerpt else "")


class WebhookSender(Loop):
    """Sends due deliveries in its own thread (`start`/`stop`) or now (`run_once`/`send_due`)."""

    def __init__(self, signer: Signer | None, clock: Clock, settings: DeliverySettings = DeliverySettings(),
                 endpoints: EndpointLookup = _no_endpoints) -> None:
        super().__init__("bulk-webhooks", settings.poll_seconds, min_backoff=0.5, max_backoff=30.0)
        self._signer = signer
        self._clock = clock
        self._settings = settings
        self._endpoints = endpoints
        self._signers: dict[str, Signer] = {}
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
            integration_ids = {delivery.integration_id for delivery in due if delivery.integration_id is not None}
            endpoints = self._endpoints(integration_ids) if integration_ids else {}
        addressed = [self._address(delivery, endpoints) for delivery in due]
        due = [delivery for delivery, _ in addressed]
        if len(due) == 1:
            answers = [self._attempt(addressed[0])]
        else:
            with ThreadPoolExecutor(len(due), thread_name_prefix="bulk-webhook") as pool:
                answers = list(pool.map(self._attempt, addressed))
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

    def _address(self, delivery: DueDelivery, endpoints: Mapping[int, tuple[str, str | None]]) -> Addressed:
        """Where the attempt goes and who signs it: the global secret, or the integration's own."""
        if delivery.integration_id is None:
            return delivery, self._signer or NO_GLOBAL_SECRET
        endpoint = endpoints.get(delivery.integration_id)
        if endpoint is None:
            return delivery, NO_ENDPOINT
        url, secret = endpoint
        return replace(delivery, url=url), UNREADABLE_SECRET if secret is None else self._signer_of(secret)

    def _signer_of(self, secret: str) -> Signer:
        signer = self._signers.get(secret)
        if signer is None:
            if len(self._signers) >= _SIGNERS_KEPT:
                self._signers.clear()
            signer = self._signers[secret] = Signer(secret)
        return signer

    def _attempt(self, addressed: Addressed) -> Answer:
        delivery, signer = addressed
        if isinstance(signer, str):
            return Answer(error=signer)
        body = delivery.payload.encode()
        headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT,
                   **signer.headers(delivery.webhook_id, int(self._clock.time()), body)}
        return self.transport.post(delivery.url, body, headers)

    def close(self) -> None:
        self.transport.close()
