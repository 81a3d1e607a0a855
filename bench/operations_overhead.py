"""What metrics and logging add to a 100-item submit (and to draining it), against running without them.

    .venv/bin/python bench/operations_overhead.py [--rounds 7] [--requests 150] [--http-seconds 8]

In one process, two services on their own SQLite files answer the same 100-product bulk through
Flask's WSGI stack, in alternating rounds so machine noise hits both alike:
- "with": Prometheus metrics on (the request counter and latency histogram, the bulk and operation
  counters), one JSON log line per request and one per drained batch, written to a file;
- "without": BULK_METRICS=0 and the log level at WARNING (no line is formatted).
Printed: median time per request (and per drained bulk) of each, and the ratio (target: under 1.05).

`--http-seconds` adds the same comparison end to end: two real gunicorns (2 workers, drainer off,
multiprocess metrics files and gunicorn's logconfig_dict in the first; neither in the second), 8
clients, alternating runs; req/s ratio. On a shared 2-core machine this figure is the noisier one.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.http_submit import load, product_bulk
from bulk import drainer, logs, metrics, observe
from bulk.accept import ACCEPTED, Accepted, RequestItem
from bulk.factory import create_app
from bulk.handlers import ClaimedOperation, Outcome
from bulk.statuses import OperationStatus
from tests.live import Gunicorn

URL = "/rest/default/async/bulk/V1/products"


class Side:
    """One service and how to switch its instrumentation on for a round."""

    def __init__(self, folder: Path, name: str, instrumented: bool, log_file: Path) -> None:
        self.name = name
        self.instrumented = instrumented
        self.app = create_app({"BULK_ENV": "development", "BULK_DATA_DIR": str(folder / name),
                               "BULK_WORKER": False, "BULK_PROCESSING": "accept",
                               "BULK_METRICS": "1" if instrumented else "0"})
        self.metrics = metrics.current()
        self.client = self.app.test_client()
        token = self.client.post("/rest/V1/integration/admin/token",
                                 json={"username": "admin", "password": "admin123"}).get_json()
        self.headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        self.service = self.app.extensions["bulk"]
        self.handler = logging.FileHandler(log_file)
        self.handler.setFormatter(logs.JsonFormatter())
        self.handler.addFilter(logs.RequestContextFilter())
        self.submit_times: list[float] = []
        self.submit_cpu: list[float] = []
        self.drain_times: list[float] = []

    def activate(self) -> None:
        """The process-wide parts (metrics binding, log level) as this side has them."""
        metrics.bind(self.metrics)
        logger = logging.getLogger("bulk")
        logger.handlers = [self.handler]
        logger.propagate = False
        logger.setLevel(logging.INFO if self.instrumented else logging.WARNING)
        self.service.bind()

    def round(self, body: bytes, requests: int) -> None:
        self.activate()
        started, cpu = time.perf_counter(), time.process_time()
        for _ in range(requests):
            response = self.client.post(URL, data=body, headers=self.headers)
            assert response.status_code == 202, response.get_data(as_text=True)
        self.submit_times.append((time.perf_counter() - started) / requests)
        # CPU time leaves out the fsync waits, which other processes on a shared machine stretch.
        self.submit_cpu.append((time.process_time() - cpu) / requests)
        started = time.perf_counter()
        drained = self.service.drainer.drain()
        self.drain_times.append((time.perf_counter() - started) / (drained / 100))


def hooks_alone(side: Side, iterations: int) -> tuple[float, float, float]:
    """CPU seconds the instrumentation itself takes: per request (timing, request id, counter and
    histogram, bulk counters, one JSON line) and per drained batch of 100 (counters, one JSON line)."""
    side.activate()
    accepted = Accepted("6f1c0d2e-1111-4222-8333-944455556666",
                        [RequestItem(index, "0" * 64, ACCEPTED) for index in range(100)])
    response = side.app.response_class(b"{}", status=202)
    with side.app.test_request_context(URL, method="POST", headers=side.headers):
        observe.note_route("/async/bulk/V1/products")
        started = time.process_time()
        for _ in range(iterations):
            observe._started()
            observe.note_accepted("async.magento.catalog.api.productrepositoryinterface.save.post", accepted)
            observe._finished(response)
        per_request = (time.process_time() - started) / iterations
    claimed = [ClaimedOperation(index, accepted.bulk_uuid, index, "topic", "POST /V1/products", None, 1)
               for index in range(100)]
    outcomes = [Outcome(index, OperationStatus.COMPLETE) for index in range(100)]
    batch = drainer._Batch("token", {})
    started = time.process_time()
    for _ in range(iterations):
        metrics.operations_finished(outcome.status for outcome in outcomes)
        metrics.retries_scheduled(0)
        drainer._log_batch(claimed, batch, 0.01)
        metrics.loop_ticked("bulk-drainer")
    per_batch = (time.process_time() - started) / iterations
    # What BULK_LOG_LEVEL=debug adds: one line per operation, a hundred per batch.
    logging.getLogger("bulk").setLevel(logging.DEBUG)
    started = time.process_time()
    for _ in range(max(1, iterations // 100)):
        for operation in claimed:
            drainer.log.debug("operation %s of bulk %s: %s in %sms", operation.operation_key, operation.bulk_uuid,
                              "complete", 0.05, extra={"bulk_uuid": operation.bulk_uuid,
                                                       "operation_id": operation.operation_key, "outcome": "complete",
                                                       "topic": operation.topic_name, "duration_ms": 0.05})
    per_debug_batch = (time.process_time() - started) / max(1, iterations // 100)
    return per_request, per_batch, per_debug_batch


def in_process(rounds: int, requests: int) -> None:
    body = json.dumps(product_bulk(100, "bench")).encode()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        log_file = root / "with.log"
        sides = [Side(root, "with", True, log_file), Side(root, "without", False, root / "without.log")]
        for side in sides:
            side.round(body, 20)  # warm-up: schema, statements, first allocations
            side.submit_times.clear()
            side.submit_cpu.clear()
            side.drain_times.clear()
        for index in range(rounds):
            for side in (sides if index % 2 == 0 else reversed(sides)):
                side.round(body, requests)
        lines = sum(1 for _ in log_file.open())
        with_side, without_side = sides
        hook_request, hook_batch, debug_batch = hooks_alone(with_side, 2000)
        print(f"In one process, Flask's WSGI stack, accept mode, SQLite; {rounds} alternating rounds of {requests} "
              f"100-item submits, then a drain ({lines} JSON lines written by the instrumented side)")
        print(f"{'':<30}{'with ms':>10}{'without ms':>12}{'added ms':>10}{'ratio':>8}")
        for label, attribute in (("submit, per request (wall)", "submit_times"),
                                 ("submit, per request (CPU)", "submit_cpu"),
                                 ("drain, per 100 operations", "drain_times")):
            instrumented = statistics.median(getattr(with_side, attribute)) * 1000
            plain = statistics.median(getattr(without_side, attribute)) * 1000
            print(f"{label:<30}{instrumented:>10.3f}{plain:>12.3f}{instrumented - plain:>10.3f}"
                  f"{instrumented / plain:>8.3f}")
        plain_cpu = statistics.median(without_side.submit_cpu)
        print(f"The instrumentation alone, CPU: {hook_request * 1e6:.0f} µs per request "
              f"({hook_request / plain_cpu:.1%} of a plain 100-item submit's CPU time), "
              f"{hook_batch * 1e6:.0f} µs per drained batch of 100")
        plain_drain = statistics.median(without_side.drain_times)
        print(f"Per-operation DEBUG lines would add {debug_batch * 1e6:.0f} µs per batch of 100 "
              f"({debug_batch / plain_drain:.0%} of draining it, wall time); hence one INFO line per batch")


def over_http(seconds: float, runs: int = 4) -> None:
    body = json.dumps(product_bulk(100, "http")).encode()
    rates: dict[str, list[float]] = {"with": [], "without": []}
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        (root / "with").mkdir()
        (root / "without").mkdir()
        with_server = Gunicorn(root / "with", workers=2, BULK_WORKER="0", BULK_LOG_FORMAT="json",
                               BULK_PROCESSING="accept")
        without_server = Gunicorn(root / "without", workers=2, BULK_WORKER="0", BULK_METRICS="0",
                                  BULK_LOG_LEVEL="warning", BULK_PROCESSING="accept")
        with with_server, without_server:
            servers = {"with": with_server, "without": without_server}
            tokens = {name: server.token() for name, server in servers.items()}
            for name, server in servers.items():
                load(server.port, tokens[name], body, 8, 1.0)  # warm-up
            for index in range(runs):
                for name in (("with", "without") if index % 2 == 0 else ("without", "with")):
                    ok, _, _ = load(servers[name].port, tokens[name], body, 8, seconds)
                    rates[name].append(ok / seconds)
    instrumented, plain = statistics.median(rates["with"]), statistics.median(rates["without"])
    print(f"Real gunicorn, 2 sync workers, 8 clients, {runs} alternating runs of {seconds:g}s, 100-item submits")
    print(f"{'':<28}{'with req/s':>12}{'without req/s':>15}{'time ratio':>12}")
    print(f"{'submit':<28}{instrumented:>12.0f}{plain:>15.0f}{plain / instrumented:>12.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--requests", type=int, default=150)
    parser.add_argument("--http-seconds", type=float, default=0, help="also compare two real gunicorns")
    args = parser.parse_args()
    in_process(args.rounds, args.requests)
    if args.http_seconds:
        print()
        over_http(args.http_seconds)


if __name__ == "__main__":
    main()
