"""Operations forwarded per second, against the same calls made directly with the same client.

    .venv/bin/python bench/forward.py [--calls 2000] [--repeat 3] [--latency-ms 0]

A local upstream in its own process (gunicorn, gthread worker with keep-alive, serving
`upstream_app` below) answers every call at once. Baseline: one loop sending `--calls`
`PUT /rest/default/V1/products/<sku>` calls through `bulk.forward.Upstream` (the pooled urllib3
client forward mode uses). Then the same number of operations, queued in SQLite, are drained by
the real Drainer in forward mode (claim, decode, build the call, send, map the answer, record),
with 1 and with 4 concurrent calls. Best of `--repeat`.
`--latency-ms` makes the upstream take that long per call, like one across a network.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import urllib3

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bulk import queue
from bulk.accept import serialize_operation
from bulk.clock import Clock
from bulk.config import Settings
from bulk.db import database, open_database
from bulk.drainer import Drainer, DrainerSettings
from bulk.entity_keys import entity_key
from bulk.forward import (
    Forwarder,
    SyncCall,
    Upstream,
)
from bulk.migrations import create_schema
from bulk.models import ALL_MODELS
from bulk.routes.builtin import builtin_catalogue
from bulk.urls import Stores
from tests.live import PROJECT_ROOT, free_port

ROUTE = builtin_catalogue().get("PUT /V1/products/:sku")
AUTHORIZATION = "Bearer bench-token"
LATENCY_SECONDS = float(os.environ.get("BENCH_UPSTREAM_LATENCY_MS", "0")) / 1000


def item(i: int) -> dict:
    return {"product": {"sku": f"SKU-{i}", "name": f"Product {i}", "price": 10 + i % 7, "status": 1}}


def upstream_app(environ, start_response):
    """The upstream: reads the call, answers 200 with a small JSON body, nothing else."""
    environ["wsgi.input"].read()
    if LATENCY_SECONDS:
        time.sleep(LATENCY_SECONDS)
    body = b'{"id":1,"sku":"SKU"}'
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


def start_upstream(folder: str, latency_ms: float) -> tuple[subprocess.Popen, str]:
    port = free_port()
    # gthread keeps connections alive (sync workers close each one); 8 threads serve 4 concurrent calls.
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--worker-class", "gthread", "--threads", "8", "--workers", "1",
         "--keep-alive", "30", "--no-control-socket", "--bind", f"127.0.0.1:{port}",
         "--chdir", str(PROJECT_ROOT), "bench.forward:upstream_app"],
        # Started elsewhere so that gunicorn does not read the service's own gunicorn.conf.py.
        cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env={**os.environ, "BENCH_UPSTREAM_LATENCY_MS": str(latency_ms)})
    url = f"http://127.0.0.1:{port}"
    probe = urllib3.PoolManager(retries=False)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            probe.request("GET", url + "/", timeout=1)
            return process, url
        except urllib3.exceptions.HTTPError:
            time.sleep(0.05)
    stop(process)
    raise RuntimeError("the upstream did not start")


def stop(process: subprocess.Popen) -> None:
    """SIGTERM, so gunicorn's master stops its worker too; SIGKILL if it takes too long."""
    process.terminate()
    try:
        process.wait(15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(10)


def direct(url: str, calls: int) -> float:
    """Seconds for `calls` calls in one loop with forward mode's client."""
    upstream = Upstream(url, timeout=20, pool_size=1)
    try:
        started = time.perf_counter()
        for i in range(calls):
            data = item(i)
            response = upstream.send(SyncCall("PUT", f"/rest/default/V1/products/SKU-{i}", data), AUTHORIZATION)
            assert response.status == 200
        return time.perf_counter() - started
    finally:
        upstream.close()


def forwarded(url: str, calls: int, concurrency: int, folder: Path) -> float:
    """Seconds for the Drainer to forward `calls` queued operations (queueing not timed)."""
    handle = open_database(f"sqlite:///{folder / f'forward-{uuid.uuid4().hex}.sqlite3'}")
    database.initialize(handle)
    create_schema(ALL_MODELS)
    with database.connection_context():
        for start in range(0, calls, 100):
            operations = [queue.NewOperation(i - start, ROUTE.topic_name, ROUTE.key, serialize_operation(item(i), 1),
                                             entity_key(item(i))) for i in range(start, min(start + 100, calls))]
            queue.enqueue(queue.NewBulk(str(uuid.uuid4()), 1, 2, ROUTE.description, operations), time.time())
    settings = Settings(processing_mode="forward", upstream_url=url, upstream_token="bench-token",
                        worker_concurrency=concurrency)
    forwarder = Forwarder(settings, Stores({"default": 1}), time.time)
    drainer = Drainer(builtin_catalogue(), forwarder.handler_for, Clock(),
                      DrainerSettings(batch_size=100, concurrency=concurrency))
    try:
        started = time.perf_counter()
        done = drainer.drain()
        elapsed = time.perf_counter() - started
    finally:
        forwarder.upstream.close()
        handle.close_all()
    assert done == calls, done
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--latency-ms", type=float, default=0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        process, url = start_upstream(folder, args.latency_ms)
        try:
            baseline = min(direct(url, args.calls) for _ in range(args.repeat))
            rows = [("direct calls, one loop (baseline)", baseline)]
            for concurrency in (1, 4):
                best = min(forwarded(url, args.calls, concurrency, Path(folder)) for _ in range(args.repeat))
                rows.append((f"forward mode, {concurrency} concurrent call(s)", best))
        finally:
            stop(process)
    pace = f"after {args.latency_ms:g} ms" if args.latency_ms else "at once"
    print(f"{args.calls} calls to a local upstream that answers {pace} (best of {args.repeat})\n")
    print("| | calls/s | vs direct loop |\n|---|---|---|")
    for name, seconds in rows:
        print(f"| {name} | {args.calls / seconds:,.0f} | {baseline / seconds:.2f} |")


if __name__ == "__main__":
    main()
