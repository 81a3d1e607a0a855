"""Failure injection: rules that make matching operations fail (retriably or permanently) or run slowly.

The injector is a handler wrapper (`Processing.add_wrapper`), so it composes with any processing
mode: a rule that applies holds the operation (slow) and/or raises the error a real handler would
raise, and the drainer records it like any other outcome.
"""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass, field
from typing import Any

from marshmallow import Schema, ValidationError, fields, post_load, validate

from bulk.handlers import Handler, Job, PermanentError, RetriableError
from bulk.routes.catalogue import Route
from schemas.base import normalise_key

RETRIABLE = "retriable"
PERMANENT = "permanent"
SLOW = "slow"
KINDS = (RETRIABLE, PERMANENT, SLOW)
DEFAULT_MESSAGES = {RETRIABLE: "Injected retriable failure.", PERMANENT: "Injected permanent failure."}
# A held operation also holds its drainer (and a shutdown waiting for it): keep holds bounded.
MAX_DELAY_SECONDS = 300.0
# `error_code` is a 32-bit column (as Magento's): a larger code would fail when the outcome is recorded.
CODES = range(-(2**31), 2**31)


@dataclass
class Fault:
    """One rule: what happens (`kind`, `message`, `delay`) to which operations (the filters).

    Filters left as None match everything. Each rule counts the operations its filters match;
    `nth` and `times` choose among them: `nth=3` alone is the third only, `times=2` the first two,
    `nth=3, times=2` the third and fourth, neither means every one.
    """

    kind: str
    message: str | None = None
    parameters: dict[str, Any] | list[Any] | None = None
    code: int = 0
    # Seconds the operation is held before its outcome (required for `slow`); `release()` ends it.
    delay: float = 0.0
    topic: str | None = None
    route: str | None = None
    # Argument names and values the operation carries anywhere in its arguments: {"sku": "24-MB01"}.
    entity: dict[str, Any] | None = None
    bulk_uuid: str | None = None
    operation: int | None = None
    nth: int | None = None
    times: int | None = None
    id: int = 0
    matched: int = 0
    hits: int = 0
    _entity_keys: dict[str, Any] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {self.kind!r}")
        if not 0 <= self.delay <= MAX_DELAY_SECONDS:
            raise ValueError(f"delay must be between 0 and {MAX_DELAY_SECONDS:g} seconds, got {self.delay!r}")
        if self.code not in CODES:
            raise ValueError(f"code must be between {CODES[0]} and {CODES[-1]}, got {self.code!r}")
        if self.kind == SLOW and not self.delay:
            raise ValueError("a slow fault needs a delay (seconds)")
        for name in ("nth", "times"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name} must be 1 or more, got {value!r}")
        if self.message is None and self.kind in DEFAULT_MESSAGES:
            self.message = DEFAULT_MESSAGES[self.kind]
        self._entity_keys = {normalise_key(name): value for name, value in (self.entity or {}).items()}

    def matches(self, job: Job) -> bool:
        """Whether the filters select this operation (nth/times aside)."""
        return ((self.topic is None or self.topic == job.route.topic_name)
                and (self.route is None or self.route == job.route.key)
                and (self.bulk_uuid is None or self.bulk_uuid == job.bulk_uuid)
                and (self.operation is None or self.operation == job.operation_key)
                and all(_carries(job.meta, name, value) for name, value in self._entity_keys.items()))

    def selects(self, count: int) -> bool:
        """Whether the `count`-th matching operation (1-based) is one this rule applies to."""
        first = self.nth or 1
        times = self.times if self.times is not None else (1 if self.nth is not None else None)
        return count >= first and (times is None or count < first + times)

    def apply(self, job: Job, handler: Handler, released: threading.Event) -> Any:
        if self.delay:
            released.wait(self.delay)
        if self.kind == RETRIABLE:
            raise RetriableError(self.message or "", self.parameters, self.code)
        if self.kind == PERMANENT:
            raise PermanentError(self.message or "", self.parameters, self.code)
        return handler(job)

    def to_json(self) -> dict[str, Any]:
        body = asdict(self)
        body.pop("_entity_keys")
        return body


def _carries(value: Any, key: str, expected: Any) -> bool:
    """Whether `key` (compared as Magento compares names) holds `expected` anywhere inside `value`."""
    if isinstance(value, dict):
        return any((isinstance(name, str) and normalise_key(name) == key and _same(item, expected))
                   or _carries(item, key, expected) for name, item in value.items())
    if isinstance(value, list):
        return any(_carries(item, key, expected) for item in value)
    return False


def _same(value: Any, expected: Any) -> bool:
    # Clients send ids as numbers or strings ("customerId": 5 or "5"); either matches.
    if isinstance(value, (dict, list)):
        return False
    return value == expected or str(value) == str(expected)


class FaultInjector:
    """The rules in force, applied by a handler wrapper; thread-safe (drainer and request threads)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._next_id = 1
        self._released = threading.Event()

    def add(self, fault: Fault) -> Fault:
        """Put a rule in force (after the ones already there); returns it with its id."""
        with self._lock:
            fault.id = self._next_id
            self._next_id += 1
            self._faults.append(fault)
        return fault

    def fail(self, *, retriable: bool = False, message: str | None = None,
             parameters: dict[str, Any] | list[Any] | None = None, code: int = 0, delay: float = 0.0,
             **filters: Any) -> Fault:
        """Make matching operations end at status 2 (`retriable=True`) or 3 with `message`."""
        return self.add(Fault(RETRIABLE if retriable else PERMANENT, message, parameters, code, delay,
                              **filters))

    def slow(self, delay: float, **filters: Any) -> Fault:
        """Hold matching operations `delay` seconds (or until `release()`), then run them normally."""
        return self.add(Fault(SLOW, delay=delay, **filters))

    def faults(self) -> list[Fault]:
        with self._lock:
            return list(self._faults)

    def release(self) -> None:
        """End the hold of every operation being held now (later ones are held again)."""
        with self._lock:
            released, self._released = self._released, threading.Event()
        released.set()

    def reset(self) -> None:
        """Remove every rule and release held operations."""
        with self._lock:
            self._faults.clear()
        self.release()

    def wrap(self, route: Route, handler: Handler) -> Handler:
        """The handler wrapper given to `Processing.add_wrapper`."""

        def injected(job: Job) -> Any:
            fault, released = self._choose(job)
            return handler(job) if fault is None else fault.apply(job, handler, released)

        return injected

    def _choose(self, job: Job) -> tuple[Fault | None, threading.Event]:
        """Count the operation for every rule that matches it; the first rule that selects it wins."""
        chosen = None
        with self._lock:
            for fault in self._faults:
                if not fault.matches(job):
                    continue
                fault.matched += 1
                if chosen is None and fault.selects(fault.matched):
                    fault.hits += 1
                    chosen = fault
            return chosen, self._released


class FaultSchema(Schema):
    """A rule as JSON (`POST /V1/testing/faults`); field names as in `Fault`."""

    kind = fields.String(required=True, validate=validate.OneOf(KINDS))
    message = fields.String(load_default=None)
    parameters = fields.Raw(load_default=None, validate=lambda value: isinstance(value, (dict, list)))
    code = fields.Integer(strict=True, load_default=0, validate=validate.Range(CODES[0], CODES[-1]))
    delay = fields.Float(load_default=0.0, validate=validate.Range(0, MAX_DELAY_SECONDS))
    topic = fields.String(load_default=None)
    route = fields.String(load_default=None)
    entity = fields.Dict(keys=fields.String(), values=fields.Raw(), load_default=None)
    bulk_uuid = fields.String(load_default=None)
    operation = fields.Integer(strict=True, load_default=None)
    nth = fields.Integer(strict=True, load_default=None, validate=validate.Range(min=1))
    times = fields.Integer(strict=True, load_default=None, validate=validate.Range(min=1))

    @post_load
    def make_fault(self, data: dict[str, Any], **kwargs: Any) -> Fault:
        try:
            return Fault(**data)
        except ValueError as error:
            raise ValidationError(str(error)) from None
