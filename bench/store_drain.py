"""What the embedded store costs the drainer: product creates drained in `store` mode, against the
same operations drained in `accept` mode in this run.

    .venv/bin/python bench/store_drain.py [--items 5000] [--batch 100] [--repeat 3] [--engine postgresql]

Both runs use the real Drainer on a fresh database (a SQLite file, or a schema of the local
PostgreSQL's `test` database) with the same queued operations; `store`
creates each product (values, stock item) and renders the saved product as its result, inside the
transaction that records the outcome. Best of `--repeat` runs each.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bulk import queue
from bulk.accept import serialize_operation
from bulk.clock import Clock
from bulk.db import database, open_database
from bulk.drainer import Drainer, DrainerSettings
from bulk.handlers import accept_handler
from bulk.migrations import create_schema
from bulk.models import ALL_MODELS
from bulk.routes.builtin import builtin_catalogue
from bulk.store.handlers import StoreHandlers
from bulk.store.models import STORE_MODELS
from tests.databases import database_url_for

CATALOGUE = builtin_catalogue()
ROUTE = CATALOGUE.get("POST /V1/products")


def queued_products(count: int) -> None:
    operations = [queue.NewOperation(i, ROUTE.topic_name, ROUTE.key, serialize_operation(
        {"product": {"sku": f"SKU-{i}", "name": f"Product {i}", "price": 9.5, "type_id": "simple",
                     "custom_attributes": [{"attribute_code": "description", "value": "A product"}]}}, 1))
        for i in range(count)]
    with database.connection_context():
        for start in range(0, count, 100):
            queue.enqueue(queue.NewBulk(str(uuid.uuid4()), 1, 2, ROUTE.description, operations[start:start + 100]),
                          time.time())


def drain_rate(url: str, handler_for, items: int, batch: int) -> float:
    handle = open_database(url)
    database.initialize(handle)
    create_schema([*ALL_MODELS, *STORE_MODELS])
    queued_products(items)
    drainer = Drainer(CATALOGUE, handler_for, Clock(), DrainerSettings(batch_size=batch))
    started = time.perf_counter()
    assert drainer.drain() == items
    elapsed = time.perf_counter() - started
    handle.close_all()
    return items / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=5000)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--engine", choices=("sqlite", "postgresql"), default="sqlite")
    args = parser.parse_args()
    store = StoreHandlers(Clock(), [1], 1).by_route()
    modes = {"accept": lambda route: accept_handler, "store": lambda route: store.get(route.key, accept_handler)}
    with tempfile.TemporaryDirectory() as folder:
        rates = {mode: 0.0 for mode in modes}
        for run in range(args.repeat):  # the modes in turn: a shared machine's speed drifts
            for mode, handler_for in modes.items():
                with database_url_for(args.engine, Path(folder), f"{mode}-{run}.sqlite3") as url:
                    rates[mode] = max(rates[mode], drain_rate(url, handler_for, args.items, args.batch))
    print(f"{args.engine}: {args.items} product creates, claim batches of {args.batch}, best of {args.repeat}")
    print("| mode | items/s | vs accept |")
    print("|---|---|---|")
    for mode, rate in rates.items():
        print(f"| {mode} | {rate:,.0f} | {rate / rates['accept']:.2f} |")


if __name__ == "__main__":
    main()
