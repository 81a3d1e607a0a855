"""Accepted items/s through HTTP against a real gunicorn, with raw sqlite3 as the in-run baseline.

    .venv/bin/python bench/http_submit.py [--clients 8] [--seconds 10] [--workers 2] [--drainer]

For bulks of 100 and 1000 products, `--clients` threads POST to /rest/async/bulk/V1/products as
fast as they can for `--seconds`. Printed: requests/s, accepted items/s, latency p50/p99, and the
items/s ratio against raw sqlite3 inserting the same rows in one transaction per bulk in this run.
By default the drainer is off (`BULK_WORKER=0`) so the figure is the accept path alone; `--drainer`
measures with every worker also draining what it accepts.
"""

from __future__ import annotations

import argparse
import http.client
import json
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.storage import bound_schema, raw_enqueue
from bulk.accept import serialize_operation
from tests.live import Gunicorn


def product_bulk(size: int, seed: str) -> list[dict]:
    return [{"product": {"sku": f"{seed}-{i}", "name": f"Product {i}", "price": 10 + i % 7,
                         "attribute_set_id": 4, "type_id": "simple", "status": 1, "visibility": 4,
                         "custom_attributes": [{"attribute_code": "color", "value": "blue"}]}}
            for i in range(size)]


def load(port: int, token: str, body: bytes, clients: int, seconds: float) -> tuple[int, list[float], int]:
    """Run `clients` threads posting `body` for `seconds`; returns (ok, latencies, failures)."""
    latencies: list[float] = []
    failures = [0]
    lock = threading.Lock()
    deadline = time.monotonic() + seconds
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}

    def client() -> None:
        mine: list[float] = []
        failed = 0
        while time.monotonic() < deadline:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            start = time.perf_counter()
            try:
                connection.request("POST", "/rest/async/bulk/V1/products", body=body, headers=headers)
                response = connection.getresponse()
                response.read()
                status = response.status
            except OSError:
                status = None
            finally:
                connection.close()
            if status == 202:
                mine.append(time.perf_counter() - start)
            else:
                failed += 1
        with lock:
            latencies.extend(mine)
            failures[0] += failed

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return len(latencies), latencies, failures[0]


def raw_items_per_second(bulk_size: int, total: int) -> float:
    data = [serialize_operation(item, 1) for item in product_bulk(bulk_size, "raw")] * max(1, total // bulk_size)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "raw.sqlite3"
        bound_schema(f"sqlite:///{path}").close_all()
        start = time.perf_counter()
        raw_enqueue(path, data, bulk_size)
        return len(data) / (time.perf_counter() - start)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--drainer", action="store_true")
    args = parser.parse_args()

    rows = []
    with tempfile.TemporaryDirectory() as folder:
        server = Gunicorn(Path(folder), workers=args.workers, BULK_WORKER="1" if args.drainer else "0")
        with server:
            token = server.token()
            for size in (100, 1000):
                body = json.dumps(product_bulk(size, uuid.uuid4().hex[:8])).encode()
                load(server.port, token, body, args.clients, 1.0)  # warm-up
                ok, latencies, failed = load(server.port, token, body, args.clients, args.seconds)
                if not latencies:
                    sys.exit(f"no request succeeded; server log:\n{server.log()}")
                rows.append((size, ok / args.seconds, ok * size / args.seconds,
                             statistics.median(latencies) * 1000, percentile(latencies, 0.99) * 1000, failed,
                             len(body)))
    print(f"HTTP submit benchmark: gunicorn {args.workers} sync workers, drainer "
          f"{'on' if args.drainer else 'off'}, {args.clients} concurrent clients, {args.seconds:.0f}s per size, "
          f"SQLite {sqlite3.sqlite_version}")
    print(f"{'bulk size':>10}{'body KB':>9}{'req/s':>9}{'items/s':>10}{'p50 ms':>9}{'p99 ms':>9}"
          f"{'errors':>8}{'raw sqlite3 items/s':>21}{'ratio':>7}")
    for size, rps, ips, p50, p99, failed, body_bytes in rows:
        raw = raw_items_per_second(size, 20000)
        print(f"{size:>10}{body_bytes / 1024:>9.0f}{rps:>9.0f}{ips:>10,.0f}{p50:>9.1f}{p99:>9.1f}"
              f"{failed:>8}{raw:>21,.0f}{ips / raw:>7.2f}")


if __name__ == "__main__":
    main()
