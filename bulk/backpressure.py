"""Back-pressure: per-caller rate limits (BULK_RATE_LIMIT) and a bound on open operations
(BULK_MAX_OPEN_OPERATIONS), both counted in the database so every worker and instance shares them.

A rate counter is a fixed window per caller, unit and period, incremented in the same transaction
that stores the request's bulk: a request over a limit rolls back, so it is neither stored nor
counted. Expired windows are swept by housekeeping.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Sequence

import peewee

from bulk.config import RateRule
from bulk.db import Prepared, Slot
from bulk.errors import WebapiError
from bulk.models import BaseModel, Operation
from bulk.statuses import OperationStatus
from bulk.unpublished import unpublished_operations

# Magento 2.4.7's back-pressure answer (WebapiException HTTP_TOO_MANY_REQUESTS).
TOO_MANY_REQUESTS = "Too Many Requests"
# Our own: Magento has no such bound.
TOO_MANY_OPEN_OPERATIONS = ("The service has %max operations waiting to be processed. "
                            "Try again in %seconds second(s).")
# A stalled upstream does not recover in a second: callers come back later than after a busy database.
OPEN_OPERATIONS_RETRY_AFTER = 30
# Near the bound the open operations are counted exactly; below it a count up to five seconds old will do.
_EXACT_SHARE = 0.9
_RECOUNT_SECONDS = 5.0

REQUESTS = "requests"
ITEMS = "items"


class RateCounter(BaseModel):
    """How many requests or items one caller sent in one window."""

    caller = peewee.CharField(max_length=255)
    unit = peewee.CharField(max_length=32)
    window_start = peewee.BigIntegerField()
    count = peewee.BigIntegerField()

    class Meta:
        table_name = "bulk_rate_counter"
        indexes = (
            (("caller", "unit", "window_start"), True),
            (("window_start",), False),
        )


# Rendered once: with limits on, every request runs them.
_USED = Prepared(lambda: RateCounter.select(RateCounter.count).where(
    RateCounter.caller == Slot("caller"), RateCounter.unit == Slot("unit"), RateCounter.window_start == Slot("start")))
_ADD = Prepared(lambda: RateCounter.insert(
    caller=Slot("caller"), unit=Slot("unit"), window_start=Slot("start"), count=Slot("amount"))
    .on_conflict(conflict_target=[RateCounter.caller, RateCounter.unit, RateCounter.window_start],
                 update={RateCounter.count: RateCounter.count + Slot("amount")})
    .returning(RateCounter.count))


def too_many_requests(retry_after: int) -> WebapiError:
    return WebapiError(TOO_MANY_REQUESTS, status=429, headers={"Retry-After": str(retry_after)})


class RateLimiter:
    """Fixed-window counters per caller for each rule of BULK_RATE_LIMIT."""

    def __init__(self, rules: Sequence[RateRule]) -> None:
        self.rules = tuple(rules)

    @property
    def enabled(self) -> bool:
        return bool(self.rules)

    def refuse_if_spent(self, caller: str, now: float) -> None:
        """A read before any work: 429 when a request limit is already used up in this window."""
        for rule in self.rules:
            if rule.unit != REQUESTS:
                continue
            start = _window_start(rule, now)
            row = _USED.execute(caller=caller, unit=_unit(rule), start=start).fetchone()
            if row is not None and row[0] >= rule.limit:
                raise too_many_requests(_retry_after(rule, start, now))

    def count(self, caller: str, requests: int, items: int, now: float, *, enforce: bool = True) -> None:
        """Add to the caller's counters (inside a write transaction); 429 when that passes a limit.

        The 429 is raised inside the transaction, so it rolls back: the refused request is not counted.
        """
        for rule in self.rules:
            amount = requests if rule.unit == REQUESTS else items
            if not amount:
                continue
            start = _window_start(rule, now)
            used = _ADD.execute(caller=caller, unit=_unit(rule), start=start, amount=amount).fetchone()[0]
            if enforce and used > rule.limit:
                raise too_many_requests(_retry_after(rule, start, now))

    def sweep(self, now: float) -> int:
        """Delete windows that have ended."""
        if not self.rules:
            return 0
        longest = max(rule.seconds for rule in self.rules)
        return RateCounter.delete().where(RateCounter.window_start < now - longest).execute()


def _unit(rule: RateRule) -> str:
    return f"{rule.unit}/{rule.seconds}"


def _window_start(rule: RateRule, now: float) -> int:
    return int(now // rule.seconds) * rule.seconds


def _retry_after(rule: RateRule, start: int, now: float) -> int:
    return max(1, math.ceil(start + rule.seconds - now))


class OpenOperationsBound:
    """Refuses a submit that would leave more than `limit` operations open (503 with Retry-After).

    Counting a deep queue exactly on every submit would cost more than the submit, so below nine
    tenths of the bound a count up to five seconds old (plus what this process added since) is used;
    near the bound every submit counts exactly.
    """

    def __init__(self, limit: int, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._measured: int | None = None
        self._measured_at = 0.0
        self._added = 0

    def check(self, adding: int) -> None:
        if not self.limit or not adding:
            return
        with self._lock:
            fresh = self._measured is not None and self._monotonic() - self._measured_at < _RECOUNT_SECONDS
            estimate = (self._measured or 0) + self._added if fresh else None
        if estimate is None or estimate + adding > self.limit * _EXACT_SHARE:
            estimate = self._count_open()
            with self._lock:
                self._measured, self._measured_at, self._added = estimate, self._monotonic(), 0
        if estimate + adding > self.limit:
            raise WebapiError(TOO_MANY_OPEN_OPERATIONS, {"max": self.limit, "seconds": OPEN_OPERATIONS_RETRY_AFTER},
                              status=503, headers={"Retry-After": str(OPEN_OPERATIONS_RETRY_AFTER)})

    def accepted(self, count: int) -> None:
        with self._lock:
            self._added += count

    def _count_open(self) -> int:
        # Bounded: never walks more of the queue than the bound itself. Unpublished bulks' operations
        # are open too (`bulk.unpublished`): a sum over the small index of those bulks.
        return (Operation.select(peewee.SQL("1")).where(Operation.status == OperationStatus.OPEN)
                .limit(self.limit + 1).count()) + unpublished_operations()


BACKPRESSURE_MODELS: list[type[peewee.Model]] = [RateCounter]
