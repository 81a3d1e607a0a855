"""The front door over HTTP with wrk: accept throughput and latency with the drainer off and on, on
SQLite and PostgreSQL, against the peer users compare us with (Flask + huey), all in one run.

    .venv/bin/python bench/http_submit.py [--seconds 10] [--connections 8] [--skip-postgresql]
        [--baseline DIR]   # also run another checkout (e.g. `git archive <commit>`) in the same run

Load: `wrk` (C, 2 threads, `--connections` keep-alive connections) POSTs the same product bulk to
/rest/async/bulk/V1/products for `--seconds` per row, so SKUs repeat from one bulk to the next
(each bulk's operations wait behind the previous bulk's for the same SKU, as a catalogue feed's
do); a second set of 100-item rows gives every request new SKUs (wrk rewrites the body per
request). Printed per row: requests/s, items/s, p50/p99 latency, CPU per request of the service's
worker processes (drainer included), of PostgreSQL's server processes and of the whole machine, and
with the drainer on how much of what was accepted during the row
was also drained (>= 1.00: the backlog did not grow). The service runs in `accept` mode, production's
default, so the drainer's figures are the queue's own cost. Then the ratios the issue's goals name, the
serving comparison (our worker against gunicorn's `sync` worker, drainer off, same run) and a
per-request CPU breakdown of the accept path measured in-process.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import requests

from tests.databases import postgres_schema
from tests.live import PROJECT_ROOT, Gunicorn

WRK_SCRIPT = """
local f = io.open(os.getenv("BENCH_BODY"), "rb")
wrk.body = f:read("*a")
f:close()
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("BENCH_TOKEN")
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("BENCH %d %d %d %d %d %d\\n", summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(99), e.status, e.connect + e.read + e.write + e.timeout))
end
"""
# Every request a bulk of new SKUs (the common case: no operation waits behind another bulk's):
# the body's SKU stem is replaced per request with the thread, a request counter and the run.
WRK_DISTINCT_SCRIPT = WRK_SCRIPT + """
local made = 0
function setup(thread)
  made = made + 1
  thread:set("thread_id", made)
end
local sent = 0
function request()
  sent = sent + 1
  local body = wrk.body:gsub("SKUSTEM", os.getenv("BENCH_RUN") .. "t" .. thread_id .. "n" .. sent)
  return wrk.format(nil, nil, nil, body)
end
"""
SKU_STEM = "SKUSTEM"
DISTINCT_SCRIPT_NAME = "post-distinct.lua"
PATH = "/rest/async/bulk/V1/products"
SIZES = (1, 100, 1000)
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def product_bulk(size: int, seed: str) -> list[dict]:
    return [{"product": {"sku": f"{seed}-{i}", "name": f"Product {i}", "price": 10 + i % 7,
                         "attribute_set_id": 4, "type_id": "simple", "status": 1, "visibility": 4,
                         "custom_attributes": [{"attribute_code": "color", "value": "blue"}]}}
            for i in range(size)]


@dataclass
class Row:
    label: str
    size: int
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: int
    cpu_ms: float | None = None
    drained: float | None = None  # drained / accepted during the row (drainer on)
    # CPU per request of the PostgreSQL server's processes (SQLite runs inside the workers), and of
    # the whole machine (wrk and the database included): where a row's time goes beyond the workers.
    database_cpu_ms: float | None = None
    machine_cpu_ms: float | None = None

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    @property
    def items(self) -> float:
        return self.rps * self.size


def wrk(base_url: str, body: Path, token: str, seconds: float, connections: int, script: Path) -> tuple:
    result = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{seconds:g}s", "--timeout", "30s", "-s", str(script),
         base_url + PATH], capture_output=True, text=True, timeout=seconds + 120,
        env={**os.environ, "BENCH_BODY": str(body), "BENCH_TOKEN": token, "BENCH_RUN": uuid.uuid4().hex[:8]})
    match = re.search(r"^BENCH (\d+) (\d+) (\d+) (\d+) (\d+) (\d+)$", result.stdout, re.MULTILINE)
    if match is None:
        sys.exit(f"wrk failed:\n{result.stdout}\n{result.stderr}")
    requests_done, micros, p50, p99, status_errors, socket_errors = map(int, match.groups())
    return requests_done, micros / 1e6, p50 / 1000, p99 / 1000, status_errors + socket_errors


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / CLOCK_TICKS


def postgres_pids() -> list[int]:
    """The local PostgreSQL server's processes (postmaster, one backend per connection, its workers)."""
    pids = []
    for entry in Path("/proc").iterdir():
        with contextlib.suppress(OSError):
            if entry.name.isdigit() and (entry / "comm").read_text().strip() in ("postgres", "postmaster"):
                pids.append(int(entry.name))
    return pids


def machine_cpu_seconds() -> float:
    """CPU time every process of this machine used so far (user, nice, system, irq, softirq)."""
    user, nice, system, _idle, _iowait, irq, softirq = map(int, Path("/proc/stat").read_text().split()[1:8])
    return (user + nice + system + irq + softirq) / CLOCK_TICKS


def backlog(server: Gunicorn) -> int:
    body = requests.get(server.base_url + "/health", timeout=30).json()
    return int(body.get("open_operations", 0))


def wait_for_empty_backlog(server: Gunicorn, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while backlog(server) and time.monotonic() < deadline:
        time.sleep(0.2)


def measure(server: Gunicorn, label: str, size: int, token: str, args, folder: Path, drainer: bool,
            script: Path) -> Row:
    body = folder / f"body-{size}.json"
    # With the distinct-SKU script, the stem it replaces per request; otherwise one for the row.
    stem = SKU_STEM if script.name == DISTINCT_SCRIPT_NAME else uuid.uuid4().hex[:8]
    body.write_bytes(json.dumps(product_bulk(size, stem)).encode())
    wrk(server.base_url, body, token, min(2.0, args.seconds), args.connections, script)  # warm-up
    if drainer and server.env.get("BULK_WORKER") != "0":  # (an A/B's drainer-off side never empties it)
        wait_for_empty_backlog(server)
    before_backlog = backlog(server) if drainer else 0
    pids = server.worker_pids()
    # Backends of connections opened during the row are not counted: the pools open theirs at warm-up.
    database_pids = postgres_pids() if server.env["DATABASE_URL"].startswith("postgresql") else []
    before_cpu, before_database, before_machine = (cpu_seconds(pids), cpu_seconds(database_pids),
                                                   machine_cpu_seconds())
    done, seconds, p50, p99, errors = wrk(server.base_url, body, token, args.seconds, args.connections, script)
    cpu = cpu_seconds(pids) - before_cpu
    database_cpu = cpu_seconds(database_pids) - before_database
    machine_cpu = machine_cpu_seconds() - before_machine
    per_request = 1000 / max(done, 1)
    row = Row(label, size, done, seconds, p50, p99, errors, cpu * per_request,
              database_cpu_ms=database_cpu * per_request if database_pids else None,
              machine_cpu_ms=machine_cpu * per_request)
    if drainer:
        accepted = done * size
        row.drained = (accepted - (backlog(server) - before_backlog)) / max(accepted, 1)
    print(f"  ... {label}, {size}: {row.rps:,.0f} req/s, p99 {row.p99_ms:.1f} ms", file=sys.stderr, flush=True)
    return row


@contextlib.contextmanager
def database_url(engine: str, folder: Path) -> Iterator[str]:
    if engine == "sqlite":
        yield f"sqlite:///{folder / f'{uuid.uuid4().hex}.sqlite3'}"
    else:
        with postgres_schema() as url:
            yield url


def service_rows(label: str, engine: str, drainer: bool, args, folder: Path, script: Path,
                 cwd: Path = PROJECT_ROOT, sizes=SIZES, extra: tuple[str, ...] = (),
                 env: dict[str, str] | None = None) -> list[Row]:
    with database_url(engine, folder) as url:
        # `accept`, production's mode: the drainer's own cost, not the embedded store's writes
        # (the live runs start in development, whose default mode is `store`).
        # `env` may override these (an A/B of the drainer itself: BULK_WORKER=0 against 1).
        settings = {"BULK_WORKER": "1" if drainer else "0", "BULK_POLL_SECONDS": "0.5", "BULK_MAX_ITEMS": "5000",
                    "BULK_PROCESSING": "accept", **(env or {})}
        server = Gunicorn(folder, workers=args.workers, database_url=url, cwd=cwd, args=extra, **settings)
        with server:
            token = server.token()
            return [measure(server, label, size, token, args, folder, drainer, script) for size in sizes]


def peer_rows(kind: str, args, folder: Path, script: Path) -> list[Row]:
    env = {"PEER_HUEY": kind, "PEER_HUEY_PATH": str(folder / f"huey-{uuid.uuid4().hex}.db")}
    if kind == "redis":
        import redis
        redis.Redis(db=15).flushdb()
    server = Gunicorn(folder, workers=args.workers, app="bench.peer_huey:app",
                      args=("--config", "bench/peer_gunicorn.conf.py"), **env)
    with server:
        return [measure(server, f"peer Flask+huey {kind}", 100, "-", args, folder, False, script)]


def print_rows(title: str, rows: list[Row]) -> None:
    print(f"\n{title}")
    print("  (CPU ms per request: workers = the service's processes, drainer included; PostgreSQL = its server's "
          "processes; machine = everything, wrk too)")
    print(f"{'':40}{'size':>6}{'req/s':>9}{'items/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'workers':>9}"
          f"{'Postgres':>9}{'machine':>9}{'drained':>9}{'errors':>8}")
    for row in rows:
        drained = f"{row.drained:9.2f}" if row.drained is not None else f"{'-':>9}"
        database = f"{row.database_cpu_ms:9.2f}" if row.database_cpu_ms is not None else f"{'-':>9}"
        machine = f"{row.machine_cpu_ms:9.2f}" if row.machine_cpu_ms is not None else f"{'-':>9}"
        print(f"{row.label:40}{row.size:>6}{row.rps:>9,.0f}{row.items:>10,.0f}{row.p50_ms:>9.1f}{row.p99_ms:>9.1f}"
              f"{row.cpu_ms or 0:>9.2f}{database}{machine}{drained}{row.errors:>8}")


def find(rows: list[Row], label: str, size: int) -> Row | None:
    return next((row for row in rows if row.label == label and row.size == size), None)


def add_ab_arguments(parser: argparse.ArgumentParser) -> None:
    """The load options of the interleaved A/B scripts (bench/settings_ab.py, bench/checkouts_ab.py)."""
    parser.add_argument("--seconds", type=float, default=6)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)


def added_cpu(off: Row, on: Row) -> str:
    """The CPU per request a row with the drainer on spent beyond the same row with it off, by where."""
    parts = [("workers", off.cpu_ms, on.cpu_ms), ("PostgreSQL", off.database_cpu_ms, on.database_cpu_ms),
             ("machine", off.machine_cpu_ms, on.machine_cpu_ms)]
    return ", ".join(f"{name} {after - before:+.2f} ms" for name, before, after in parts
                     if before is not None and after is not None)


def ratio(numerator: float | None, denominator: float | None) -> str:
    return f"{numerator / denominator:.2f}x" if numerator and denominator else "-"


def accept_cpu_breakdown(size: int = 100, repeat: int = 200) -> list[tuple[str, float]]:
    """Per-request CPU of the accept path's parts, measured in-process on a 100-item bulk."""
    from bulk.accept import DataHasher, serialize_operation
    from bulk.entity_keys import entity_key
    from bulk.factory import create_app
    from bulk.jsonutil import loads
    from bulk.routes.builtin import builtin_catalogue

    route = builtin_catalogue().get("POST /V1/products")
    items = product_bulk(size, "cpu")
    body = json.dumps(items).encode()
    hasher = DataHasher(b"x" * 32)

    def per_call(function) -> float:
        start = time.process_time()
        for _ in range(repeat):
            function()
        return (time.process_time() - start) * 1000 / repeat

    parts = [
        ("JSON parse", lambda: loads(body)),
        ("validation (compiled schema)", lambda: [route.checker(item) for item in items]),
        ("entity keys", lambda: [entity_key(item) for item in items]),
        ("serialise (PHP json_encode)", lambda: [serialize_operation(item, 1) for item in items]),
        ("HMAC data_hash", lambda: [hasher(serialize_operation(item, 1)) for item in items]),
    ]
    figures = [(name, per_call(function)) for name, function in parts]
    serialised_cost = figures[3][1]
    figures[4] = (figures[4][0], figures[4][1] - serialised_cost)
    with tempfile.TemporaryDirectory() as folder:
        # No request log line: hundreds of them would bury the figures (bench/operations_overhead.py
        # prices logging on its own).
        app = create_app({"BULK_ENV": "development", "BULK_DATA_DIR": folder, "BULK_LOG_LEVEL": "warning",
                          "DATABASE_URL": f"sqlite:///{folder}/cpu.sqlite3", "BULK_WORKER": False})
        client = app.test_client()
        token = client.post("/rest/V1/integration/admin/token",
                            json={"username": "admin", "password": "admin123"}).get_json()
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        total = per_call(lambda: client.post(PATH, data=body, headers=headers))
        app.extensions["bulk"].shutdown()
    figures.append(("the rest: Flask/werkzeug, auth, SQLite transaction", total - sum(f for _, f in figures)))
    figures.append(("whole request (test client, process CPU, no log line)", total))
    return figures


def postgres_outcome_write_floor(batch: int, operations: int = 10_000, size: int = 100) -> float:
    """PostgreSQL server CPU (ms per 100 operations) of the least a drainer must do: one bare UPDATE
    of `batch` operations' rows to complete (by id; no claim read, no bulk bookkeeping) and its
    commit, on our schema, after `bulk.queue` stored them in bulks of `size`, as a steady drain."""
    import psycopg2

    from bulk import queue
    from bulk.accept import serialize_operation, time_ordered_uuid
    from bulk.db import database, open_database
    from bulk.migrations import create_schema
    from bulk.models import ALL_MODELS
    from bulk.routes.builtin import builtin_catalogue

    route = builtin_catalogue().get("POST /V1/products")
    items = product_bulk(size, "floor")
    with postgres_schema() as url:
        handle = open_database(url)
        database.initialize(handle)
        create_schema(ALL_MODELS)
        connection = psycopg2.connect(url)
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                [backend] = cursor.fetchone()
                server_cpu = 0.0
                for _ in range(operations // batch):
                    uuids = [time_ordered_uuid(time.time()) for _ in range(max(1, batch // size))]
                    with database.connection_context():
                        for bulk_uuid in uuids:
                            queue.enqueue(queue.NewBulk(bulk_uuid, 1, 2, route.description, [
                                queue.NewOperation(i, route.topic_name, route.key, serialize_operation(item, 1),
                                                   f"sku:{item['product']['sku']}") for i, item in enumerate(items)]),
                                time.time())
                    cursor.execute("SELECT id FROM magento_operation WHERE bulk_uuid = ANY(%s)", (uuids,))
                    ids = [row[0] for row in cursor.fetchall()]
                    connection.commit()
                    before = cpu_seconds([backend])
                    cursor.execute("UPDATE magento_operation SET status = 1, result_message = %s, "
                                   "serialized_data = NULL, finished_at = now(), started_at = now(), "
                                   "attempts = attempts + 1 WHERE id = ANY(%s)", (route.success_message, ids))
                    connection.commit()
                    server_cpu += cpu_seconds([backend]) - before
        finally:
            connection.close()
            handle.close_all()
    return server_cpu * 1000 / operations * 100


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--skip-postgresql", action="store_true")
    parser.add_argument("--skip-peers", action="store_true")
    parser.add_argument("--baseline", type=Path, help="another checkout of the project to measure in the same run")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed (Debian package `wrk`; `make bench` installs it)")

    started = datetime.now(UTC)
    load_before = Path("/proc/loadavg").read_text().split()[:3]
    engines = ["sqlite"] + ([] if args.skip_postgresql else ["postgresql"])
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        script = folder / "post.lua"
        script.write_text(WRK_SCRIPT)
        distinct_script = folder / DISTINCT_SCRIPT_NAME
        distinct_script.write_text(WRK_DISTINCT_SCRIPT)
        distinct: list[Row] = []
        for engine in engines:
            for drainer in (False, True):
                label = f"{engine}, drainer {'on' if drainer else 'off'}"
                rows += service_rows(label, engine, drainer, args, folder, script)
                if args.baseline:
                    rows += service_rows(f"baseline {label}", engine, drainer, args, folder, script,
                                         cwd=args.baseline.resolve())
                distinct += service_rows(label, engine, drainer, args, folder, distinct_script, sizes=(100,))
        serving = []
        for _ in range(2):  # interleaved: our worker and gunicorn's sync worker, drainer off
            serving += service_rows("serving: buffering gthread", "sqlite", False, args, folder, script, sizes=(100,))
            serving += service_rows("serving: gunicorn sync", "sqlite", False, args, folder, script, sizes=(100,),
                                    extra=("--worker-class", "sync", "--threads", "1"))
        peers = [] if args.skip_peers else peer_rows("sqlite", args, folder, script) + peer_rows("redis", args, folder,
                                                                                                  script)
    load_after = Path("/proc/loadavg").read_text().split()[:3]

    print(f"HTTP benchmark {started:%Y-%m-%d %H:%M} UTC: wrk 2 threads, {args.connections} connections, "
          f"{args.seconds:g}s per row; gunicorn {args.workers} workers; SQLite {sqlite3.sqlite_version} (WAL, "
          f"every commit on disk before its answer); load average before {' '.join(load_before)}, "
          f"after {' '.join(load_after)}; "
          f"{os.cpu_count()} CPUs")
    print_rows("The service (same bulk body every request: SKUs repeat across bulks)", rows)
    print_rows("New SKUs in every bulk (nothing waits behind another bulk's operations)", distinct)
    print_rows("Serving comparison, 100-item bulks, SQLite, drainer off (two interleaved runs each)", serving)
    if peers:
        print_rows("Peers over HTTP (100-item bulks, one huey task per item)", peers)

    # (batch size, PostgreSQL CPU per 100 operations): a loaded drainer's batches grow up to 1000.
    outcome_floor = [(batch, postgres_outcome_write_floor(batch)) for batch in (100, 1000)] \
        if "postgresql" in engines else []
    print("\nGoals (ratios within this run)")
    for engine in engines:
        off = find(rows, f"{engine}, drainer off", 100)
        on = find(rows, f"{engine}, drainer on", 100)
        if off and on:
            print(f"  {engine}: drainer on / off, 100-item req/s {ratio(on.rps, off.rps)} (goal >= 0.85x), "
                  f"p99 {ratio(on.p99_ms, off.p99_ms)} (goal <= 1.5x), drained/accepted {on.drained:.2f} (goal >= 1)")
            print(f"  {engine}: CPU the drainer adds per 100-item request: {added_cpu(off, on)}")
            if engine == "postgresql" and off.machine_cpu_ms:
                # With the 2 cores busy, req/s goes as 1 / the machine's CPU per request.
                budget = off.machine_cpu_ms / 0.85 - off.machine_cpu_ms
                floors = ", ".join(f"{milliseconds:.2f} ms in batches of {batch}"
                                   for batch, milliseconds in outcome_floor)
                print(f"  {engine}: what the drainer may add at 0.85x: {budget:.2f} ms of machine CPU per "
                      f"100-item request; the least it can do, a bare UPDATE of the operations to complete and "
                      f"its commit, costs PostgreSQL per 100 operations {floors} (in-process, this run)")
        off = find(distinct, f"{engine}, drainer off", 100)
        on = find(distinct, f"{engine}, drainer on", 100)
        if off and on:
            print(f"  {engine}, new SKUs in every bulk: drainer on / off req/s {ratio(on.rps, off.rps)}, "
                  f"p99 {ratio(on.p99_ms, off.p99_ms)}, drained/accepted {on.drained:.2f}")
        if args.baseline:
            for size, drainer, goal in ((100, "off", " (goal >= 1.25x)"), (1000, "off", " (goal >= 1.3x)"),
                                        (100, "on", "")):
                now = find(rows, f"{engine}, drainer {drainer}", size)
                before = find(rows, f"baseline {engine}, drainer {drainer}", size)
                print(f"  {engine}: {size}-item items/s, drainer {drainer}, vs baseline "
                      f"{ratio(now and now.items, before and before.items)}{goal}")
    ours_serving = statistics.mean(r.rps for r in serving if "gthread" in r.label)
    sync_serving = statistics.mean(r.rps for r in serving if "sync" in r.label)
    print(f"  serving: buffering gthread / sync req/s {ours_serving / sync_serving:.2f}x (goal >= 0.90x)")
    for peer in peers:
        for engine in engines:
            on = find(rows, f"{engine}, drainer on", 100)
            print(f"  {engine}, drainer on, items/s vs {peer.label}: {ratio(on and on.items, peer.items)} "
                  f"(goal >= {'3' if 'sqlite' in peer.label else '1.5'}x)")

    print("\nAccept path CPU per 100-item request, in-process (ms)")
    for name, milliseconds in accept_cpu_breakdown():
        print(f"  {name:52}{milliseconds:8.3f}")


if __name__ == "__main__":
    main()
