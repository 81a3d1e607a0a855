"""Prometheus metrics: what the service counts, and the scrape that adds up every worker's numbers.

Under gunicorn each worker is a process of its own, so the counters live in prometheus-client's
multiprocess files (`PROMETHEUS_MULTIPROC_DIR`, prepared by `gunicorn.conf.py` through
`bulk.metrics_dir` before any worker imports the client) and a scrape, answered by any one worker,
sums them all. Without that variable (`flask run`, the CLI, the pytest fixture: one process) each
service counts in a registry of its own.

Parts of the service report through the module-level hooks below (one line at each call site); they
do nothing until the app factory binds a `Metrics` (`bind`), as the models do nothing until the
database proxy is bound. What the database holds (backlog, oldest open operation) is read at scrape
time by the caller of `render`, so every instance reports the same figures.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
    values,
)
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector

from bulk.statuses import OperationStatus

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# The route label of requests no route matched (never the raw path: it would let clients create series).
UNMATCHED = "unmatched"
_STATUS_NAMES = {status: status.name.lower() for status in OperationStatus}
_HEARTBEAT = "bulk_loop_heartbeat_timestamp_seconds"


def multiprocess_mode() -> bool:
    """True when prometheus-client writes to PROMETHEUS_MULTIPROC_DIR (it decides once, at import)."""
    return values.ValueClass is not values.MutexValue


@dataclass(frozen=True)
class Backlog:
    """What the queue holds at scrape time (read from the database by the caller)."""

    open_operations: int
    oldest_open_age_seconds: float | None


class Metrics:
    """Every series the service exports; one instance per service."""

    def __init__(self) -> None:
        self.multiprocess = multiprocess_mode()
        # `_created` series (one more per labelled series) tell Prometheus nothing it needs here.
        disable_created_metrics()
        if self.multiprocess:
            # The client writes here from the first metric on; a missing folder would fail every request.
            os.makedirs(os.environ["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True)
        # Multiprocess values go to files whatever the registry; a scrape builds its own registry.
        self.registry = None if self.multiprocess else CollectorRegistry(auto_describe=True)
        registry = self.registry
        self.requests = Counter("bulk_http_requests", "HTTP requests answered, by method, route template and status.",
                                ["method", "route", "status"], registry=registry)
        self.request_seconds = Histogram("bulk_http_request_duration_seconds",
                                         "Time to answer an HTTP request, by method and route template.",
                                         ["method", "route"], registry=registry)
        self.bulks_accepted = Counter("bulk_bulks_accepted", "Bulk and async requests stored, by topic.",
                                      ["topic"], registry=registry)
        self.operations_accepted = Counter("bulk_operations_accepted", "Operations stored (open), by topic.",
                                           ["topic"], registry=registry)
        self.operations_rejected = Counter("bulk_operations_rejected",
                                           "Items answered `rejected` (BULK_INVALID_ITEMS=reject-item), by topic.",
                                           ["topic"], registry=registry)
        self.operations_finished = Counter("bulk_operations_finished",
                                           "Operations that reached a final status, by status.",
                                           ["status"], registry=registry)
        self.retries_scheduled = Counter("bulk_operation_retries_scheduled",
                                         "Automatic retries scheduled after a retriable failure.", registry=registry)
        self.operations_reopened = Counter("bulk_operations_reopened",
                                           "Failed operations re-opened on request (API, CLI, dashboard).",
                                           registry=registry)
        self.upstream_requests = Counter("bulk_upstream_requests", "Forward mode: upstream calls, by outcome.",
                                         ["outcome"], registry=registry)
        self.upstream_seconds = Histogram("bulk_upstream_request_duration_seconds",
                                          "Forward mode: time one upstream call took.", registry=registry)
        # A wall-clock timestamp per live process (`liveall` adds the pid); the scrape turns it into an age.
        self.loop_heartbeat = Gauge(_HEARTBEAT, "When each background loop last finished a tick (Unix time).",
                                    ["loop"], multiprocess_mode="liveall", registry=registry)

    def render(self, backlog: Backlog | None) -> bytes:
        """The text exposition of every series, with `backlog` (None: the database could not be read)."""
        registry = CollectorRegistry(auto_describe=False)
        source = MultiProcessCollector(None) if self.multiprocess else self.registry
        registry.register(_ScrapeTime(source, backlog))
        return generate_latest(registry)


class _ScrapeTime:
    """The stored series plus what is only known at scrape time: loop heartbeat ages and the backlog."""

    def __init__(self, source, backlog: Backlog | None) -> None:
        self._source = source
        self._backlog = backlog

    def collect(self) -> Iterator[Metric]:
        now = time.time()
        for family in self._source.collect():
            yield family
            if family.name == _HEARTBEAT:
                ages = Metric("bulk_loop_heartbeat_age_seconds",
                              "Seconds since each background loop (the drainer: bulk-drainer) last finished a tick.",
                              "gauge")
                for sample in family.samples:
                    ages.add_sample(ages.name, dict(sample.labels), max(0.0, now - sample.value))
                yield ages
        up = Metric("bulk_database_up", "1 when the scrape could read the queue from the database.", "gauge")
        up.add_sample(up.name, {}, 0.0 if self._backlog is None else 1.0)
        yield up
        if self._backlog is None:
            return
        backlog = Metric("bulk_open_operations", "Operations accepted and not finished yet (status 4).", "gauge")
        backlog.add_sample(backlog.name, {}, float(self._backlog.open_operations))
        yield backlog
        oldest = Metric("bulk_oldest_open_operation_age_seconds",
                        "Seconds since the oldest open operation was accepted (0 when none is open).", "gauge")
        oldest.add_sample(oldest.name, {}, self._backlog.oldest_open_age_seconds or 0.0)
        yield oldest


# -- the hooks the rest of the service calls --------------------------------------------------

_active: Metrics | None = None


def bind(metrics: Metrics | None) -> None:
    """Make `metrics` the one the hooks below report to (one service per process; None: stop)."""
    global _active
    _active = metrics


def current() -> Metrics | None:
    return _active


def request_answered(method: str, route: str, status: int, seconds: float) -> None:
    if _active is not None:
        _active.requests.labels(method, route, str(status)).inc()
        _active.request_seconds.labels(method, route).observe(seconds)


def bulk_accepted(topic: str, accepted: int, rejected: int) -> None:
    if _active is not None:
        _active.bulks_accepted.labels(topic).inc()
        if accepted:
            _active.operations_accepted.labels(topic).inc(accepted)
        if rejected:
            _active.operations_rejected.labels(topic).inc(rejected)


def operations_finished(statuses: Mapping[OperationStatus, int]) -> None:
    """Count finished operations: how many ended with each status."""
    if _active is not None:
        for status, count in statuses.items():
            if count:
                _active.operations_finished.labels(_STATUS_NAMES[status]).inc(count)


def retries_scheduled(count: int) -> None:
    if _active is not None and count:
        _active.retries_scheduled.inc(count)


def operations_reopened(count: int) -> None:
    if _active is not None and count:
        _active.operations_reopened.inc(count)


def upstream_answered(outcome: str, seconds: float) -> None:
    """Forward mode: one upstream call ended (`success`, `client_error`, `server_error`, `throttled`,
    `timeout`, `connection_error`)."""
    if _active is not None:
        _active.upstream_requests.labels(outcome).inc()
        _active.upstream_seconds.observe(seconds)


def upstream_outcome(status: int) -> str:
    """The outcome label of an HTTP answer from the upstream."""
    if 200 <= status < 300:
        return "success"
    if status == 429:
        return "throttled"
    return "server_error" if status >= 500 else "client_error"


def loop_ticked(loop: str) -> None:
    if _active is not None:
        _active.loop_heartbeat.labels(loop).set(time.time())
