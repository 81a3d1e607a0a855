"""Scale-out figures: drain rate by worker count on SQLite and PostgreSQL, queue depth, end to end,
and peers (huey's SqliteHuey, raw sqlite3) doing the same work in this run.

    .venv/bin/python bench/scale.py [--items 20000] [--deep 100000] [--skip-e2e]

- drain N workers: N processes, each a Drainer with the `accept` handler, empty one shared queue
  of `--items` operations (timed from a common start signal until the queue is empty).
- depth: the drain rate of the first 5,000 operations of a queue 6,000 deep vs `--deep` deep; again
  (the first 2,000) with a handler that runs (database-local, doing nothing), whose operations are
  claimed, run and recorded where `accept`'s are completed in place.
Drain and depth figures are the best of two / three interleaved runs (the machine is shared).
- end to end: a real gunicorn (2 workers, drainers on, `accept` processing); 4 clients submit
  100-item bulks until
  `--items` are accepted; timed until every operation is complete.
- huey: the same items enqueued one task each (huey has no batch enqueue) and executed by one
  in-process loop; raw sqlite3: the same inserts and claims (bench/storage.py).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
import tempfile
import threading
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import requests
from huey import SqliteHuey

from bench.storage import bound_schema, ours_enqueue, payloads, raw_drain, raw_enqueue
from bulk.clock import Clock
from bulk.db import database, open_database
from bulk.drainer import Drainer, DrainerSettings
from bulk.handlers import Handler, accept_handler, transactional
from bulk.routes.builtin import builtin_catalogue
from tests.databases import fetch_all, postgres_schema
from tests.live import Gunicorn

# A handler that runs: database-local, doing nothing (`store` mode's kind, without the store's work).
RUNS = transactional(lambda job: None)


@contextmanager
def fresh_url(engine: str, folder: Path):
    if engine == "sqlite":
        yield f"sqlite:///{folder / f'{uuid.uuid4().hex}.sqlite3'}"
    else:
        with postgres_schema() as url:
            yield url


def prepare(url: str, data: list[str]) -> None:
    handle = bound_schema(url)
    ours_enqueue(data, 100)
    handle.close_all()


def _drain_process(url: str, ready, go, done) -> None:
    handle = open_database(url, busy_timeout=30)
    database.initialize(handle)
    drainer = Drainer(builtin_catalogue(), lambda route: accept_handler, Clock(),
                      DrainerSettings(batch_size=100))
    with database.connection_context():
        database.execute_sql("SELECT 1")
    ready.release()
    go.wait()
    count = drainer.drain()
    handle.close_all()
    done.put(count)


def drain_rate(url: str, workers: int, expected: int) -> float:
    context = multiprocessing.get_context("spawn")
    ready, go, done = context.Semaphore(0), context.Event(), context.Queue()
    processes = [context.Process(target=_drain_process, args=(url, ready, go, done)) for _ in range(workers)]
    for process in processes:
        process.start()
    for _ in processes:
        ready.acquire()
    start = time.perf_counter()
    go.set()
    counts = [done.get(timeout=600) for _ in processes]
    elapsed = time.perf_counter() - start
    for process in processes:
        process.join(30)
    assert sum(counts) == expected, (counts, expected)
    return expected / elapsed


def depth_rate(url: str, deep: int, handler: Handler = accept_handler, measured: int = 5000) -> float:
    """Drain rate of the first `measured` operations of a queue `deep` operations deep."""
    prepare(url, payloads(deep))
    handle = open_database(url)
    database.initialize(handle)
    drainer = Drainer(builtin_catalogue(), lambda route: handler, Clock(), DrainerSettings(batch_size=100))
    done = 0
    start = time.perf_counter()
    while done < measured:
        done += drainer.run_once()
    elapsed = time.perf_counter() - start
    handle.close_all()
    return done / elapsed


def end_to_end_rate(engine: str, folder: Path, items: int) -> float:
    # The queue's own throughput: `accept` processing, a distinct SKU per item (as real bulks).
    with fresh_url(engine, folder) as url, Gunicorn(folder, workers=2, database_url=url, BULK_WORKER_BATCH="100",
                                                    BULK_PROCESSING="accept") as server:
        headers = {"Authorization": f"Bearer {server.token()}", "Content-Type": "application/json"}
        bulks = items // 100
        counter = iter(range(bulks))
        lock = threading.Lock()

        def client() -> None:
            while True:
                with lock:
                    number = next(counter, None)
                if number is None:
                    return
                body = json.dumps([{"product": {"sku": f"e2e-{number}-{i}", "price": 5}} for i in range(100)])
                response = requests.post(server.base_url + "/rest/async/bulk/V1/products", data=body,
                                         headers=headers, timeout=60)
                assert response.status_code == 202, response.text

        start = time.perf_counter()
        threads = [threading.Thread(target=client) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        while fetch_all(url, "SELECT count(*) FROM magento_operation WHERE status = 4") != [(0,)]:
            time.sleep(0.05)
        return bulks * 100 / (time.perf_counter() - start)


def huey_rates(folder: Path, items: int) -> tuple[float, float]:
    huey = SqliteHuey(filename=str(folder / "huey.sqlite3"))

    @huey.task()
    def operation(payload):
        return None

    data = payloads(items)
    start = time.perf_counter()
    for payload in data:
        operation(payload)
    enqueue = items / (time.perf_counter() - start)
    start = time.perf_counter()
    drained = 0
    while True:
        task = huey.dequeue()
        if task is None:
            break
        huey.execute(task)
        drained += 1
    assert drained == items
    return enqueue, items / (time.perf_counter() - start)


def ours_rates(folder: Path, items: int) -> tuple[float, float]:
    data = payloads(items)
    url = f"sqlite:///{folder / 'ours.sqlite3'}"
    handle = bound_schema(url)
    start = time.perf_counter()
    ours_enqueue(data, 100)
    enqueue = items / (time.perf_counter() - start)
    handle.close_all()
    return enqueue, drain_rate(url, 1, items)


def raw_rates(folder: Path, items: int) -> tuple[float, float]:
    data = payloads(items)
    bound_schema(f"sqlite:///{folder / 'raw.sqlite3'}").close_all()
    start = time.perf_counter()
    raw_enqueue(folder / "raw.sqlite3", data, 100)
    enqueue = items / (time.perf_counter() - start)
    start = time.perf_counter()
    raw_drain(folder / "raw.sqlite3", 100)
    return enqueue, items / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=20000)
    parser.add_argument("--deep", type=int, default=100000)
    parser.add_argument("--skip-e2e", action="store_true")
    args = parser.parse_args()
    lines = [f"scale benchmark: {args.items} operations (product items), accept handler, 2-core machine"]
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        drain = {}
        for engine in ("sqlite", "postgresql"):
            for _ in range(2):
                for workers in (1, 2, 4):
                    with fresh_url(engine, folder) as url:
                        prepare(url, payloads(args.items))
                        rate = drain_rate(url, workers, args.items)
                    drain[(engine, workers)] = max(rate, drain.get((engine, workers), 0.0))
        shallow = {}
        for engine in ("sqlite", "postgresql"):
            for _ in range(3):  # interleaved, best of three: a short measurement on a shared machine
                for kind, handler, measured in (("", accept_handler, 5000), (", claimed", RUNS, 2000)):
                    for deep in (1000 + 5000, args.deep):
                        with fresh_url(engine, folder) as url:
                            rate = depth_rate(url, deep, handler, measured)
                        key = (engine, kind, deep)
                        shallow[key] = max(rate, shallow.get(key, 0.0))
        e2e = {} if args.skip_e2e else {engine: end_to_end_rate(engine, folder, args.items)
                                         for engine in ("sqlite", "postgresql")}
        huey_in, huey_out = huey_rates(folder, args.items)
        ours_in, ours_out = ours_rates(folder, args.items)
        raw_in, raw_out = raw_rates(folder, args.items)

    lines.append(f"{'':34}{'items/s':>10}")
    for (engine, workers), rate in drain.items():
        lines.append(f"{f'drain {engine}, {workers} worker(s)':34}{rate:>10,.0f}")
    for engine in ("sqlite", "postgresql"):
        for kind in ("", ", claimed"):
            near, far = shallow[(engine, kind, 6000)], shallow[(engine, kind, args.deep)]
            lines.append(f"{f'drain {engine}, 6k deep{kind}':34}{near:>10,.0f}")
            lines.append(f"{f'drain {engine}, {args.deep // 1000}k deep{kind}':34}{far:>10,.0f}   "
                         f"{far / near:.2f}x the shallow rate")
    for engine, rate in e2e.items():
        lines.append(f"{f'end to end {engine} (gunicorn, 2 w)':34}{rate:>10,.0f}")
    lines.append("peers, SQLite, same items, one process:")
    lines.append(f"{'':34}{'enqueue/s':>10}{'drain/s':>10}{'enqueue vs huey':>17}{'drain vs huey':>15}")
    peers = (("huey SqliteHuey", (huey_in, huey_out)), ("bulk (this service)", (ours_in, ours_out)),
             ("raw sqlite3", (raw_in, raw_out)))
    for label, (enqueue, drained) in peers:
        lines.append(f"{label:34}{enqueue:>10,.0f}{drained:>10,.0f}"
                     f"{enqueue / huey_in:>17.1f}{drained / huey_out:>15.1f}")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
