"""Memory per request: how much a worker's peak resident memory grows per MiB of request body.

    .venv/bin/python bench/memory.py [--sizes 1,8,30] [--shapes customers,small-values] [--postgresql]
        [--no-stages] [--project DIR]   # DIR: another checkout to serve (e.g. `git archive <commit>`)

For each body shape and size a fresh gunicorn (one worker, drainer off, our gunicorn.conf.py) is
started, warmed up with a small submit, and sent one bulk as the admin (`POST
/rest/async/bulk/V1/customers`); the worker's peak resident memory (`VmHWM`) before and after gives
the growth, printed with its ratio to the body size (target: under 10). A 30 MiB body from a guest
(no token: the anonymous sign-up route) is measured too; it meets the guest's own body bound.

Shapes: `customers` is up to BULK_MAX_ITEMS customers with addresses (long values, what an import
sends); `small-values` puts many short strings in each customer's `extension_attributes` (one Python
object per few bytes of JSON: the worst case for a parser that builds objects).

Then, in this process with tracemalloc, the accept path's stages for the largest body: the peak
of Python allocations while reading, decoding, validating and storing, per MiB of body.
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import requests

from tests.databases import postgres_schema
from tests.live import PROJECT_ROOT, Gunicorn

MIB = 1024 * 1024
PATH = "/rest/async/bulk/V1/customers"
MAX_ITEMS = 5000


def customer(n: int, filler: str, small_values: int) -> dict:
    item = {"customer": {"email": f"customer{n}@example.com", "firstname": "Veronica", "lastname": "Costello",
                         "website_id": 1, "addresses": [{
                             "firstname": "Veronica", "lastname": "Costello", "city": "Calder",
                             "country_id": "US", "postcode": "49628-7978", "telephone": "(555) 229-3326",
                             "street": ["6146 Honey Bluff Parkway", filler]}]},
            "password": "Secret-Pass-1"}
    if small_values:
        item["customer"]["extension_attributes"] = {"tags": ["ab"] * small_values}
    return item


def body(shape: str, size_mib: float) -> bytes:
    """A customers bulk of about `size_mib` MiB: MAX_ITEMS items at most, padded to the size."""
    target = int(size_mib * MIB)
    bare = len(_compact(customer(0, "", 0))) + 2
    items = max(1, min(MAX_ITEMS, target // (bare + 200)))
    room = max(0, target // items - bare - 2)
    if shape == "customers":
        encoded = [_compact(customer(n, "x" * room, 0)) for n in range(items)]
    else:
        encoded = [_compact(customer(n, "", max(1, (room - 30) // 5))) for n in range(items)]
    return ("[" + ",".join(encoded) + "]").encode()


def _compact(value: object) -> str:
    return json.dumps(value, separators=(",", ":"))


def peak_kib(pid: int) -> int:
    """A process's peak resident memory (VmHWM), in KiB."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return int(fields["VmHWM"].split()[0])


def measure(data: bytes, database_url: str | None, project: Path, guest: bool = False) -> dict:
    """Start a fresh worker, warm it up, send `data` once; its memory before and after."""
    with tempfile.TemporaryDirectory() as folder:
        server = Gunicorn(Path(folder), workers=1, database_url=database_url, cwd=project, BULK_WORKER="0")
        with server:
            [pid] = server.worker_pids()
            headers = {"Content-Type": "application/json"}
            if not guest:
                headers["Authorization"] = f"Bearer {server.token()}"
            warm = requests.post(server.base_url + PATH, data=body("customers", 0.05), headers=headers, timeout=60)
            assert warm.status_code == 202, warm.text
            time.sleep(0.2)
            before = peak_kib(pid)
            started = time.perf_counter()
            response = requests.post(server.base_url + PATH, data=data, headers=headers, timeout=600)
            seconds = time.perf_counter() - started
            after = peak_kib(pid)
    return {"status": response.status_code, "before": before, "after": after, "seconds": seconds}


def stages(data: bytes) -> list[tuple[str, int]]:
    """The accept path in this process under tracemalloc: each stage's peak of Python allocations
    (orjson's own working memory included; the worker's RSS figures above are what counts)."""
    from bulk.factory import create_app
    from bulk.jsonutil import loads
    from bulk.views.array_items import array_items

    with tempfile.TemporaryDirectory() as folder:
        app = create_app({"BULK_ENV": "development", "BULK_DATA_DIR": folder, "BULK_WORKER": False})
        client = app.test_client()
        token = client.post("/rest/V1/integration/admin/token",
                            json={"username": "admin", "password": "admin123"}).get_json()
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        results = []

        def peak(name: str, run: Callable[[], object]) -> None:
            gc.collect()
            tracemalloc.start()
            kept = run()
            results.append((name, tracemalloc.get_traced_memory()[1]))
            tracemalloc.stop()
            del kept

        peak("decode the body whole (orjson.loads, what the service did before)", lambda: loads(data))
        peak("decode it a window at a time (bulk.views.array_items), every item", lambda: sum(
            1 for _ in array_items(data, MAX_ITEMS)))
        peak("whole request (read, decode, validate, seal, serialise, hash, insert)",
             lambda: client.post(PATH, data=data, headers=headers).status_code)
        app.extensions["bulk"].shutdown()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1,8,30", help="body sizes in MiB, comma-separated")
    parser.add_argument("--shapes", default="customers,small-values")
    parser.add_argument("--postgresql", action="store_true", help="also on PostgreSQL (TEST_POSTGRES_URL)")
    parser.add_argument("--no-stages", action="store_true", help="skip the in-process tracemalloc stages")
    parser.add_argument("--project", type=Path, default=PROJECT_ROOT, help="the checkout to serve (default: this one)")
    args = parser.parse_args()
    print(f"project: {args.project.resolve()}")
    sizes = [float(size) for size in args.sizes.split(",")]
    engines = ["sqlite", "postgresql"] if args.postgresql else ["sqlite"]
    print("| engine | shape | body MiB | items | status | peak before MiB | peak after MiB | growth MiB "
          "| growth per MiB of body | seconds |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    largest = b""
    for engine in engines:
        for shape in args.shapes.split(","):
            for size in sizes:
                data = body(shape, size)
                largest = data if len(data) > len(largest) else largest
                row = _measured(engine, data, args.project)
                _print_row(engine, shape, data, row)
        guest = body("customers", max(sizes))
        _print_row(engine, "customers, as a guest", guest, _measured(engine, guest, args.project, guest=True))
    if not args.no_stages and args.project.resolve() == PROJECT_ROOT:
        print()
        print("| in-process stage (tracemalloc), largest body | peak MiB | per MiB of body |")
        print("|---|---|---|")
        for name, allocated in stages(largest):
            print(f"| {name} | {allocated / MIB:.1f} | {allocated / len(largest):.2f} |")


def _measured(engine: str, data: bytes, project: Path, guest: bool = False) -> dict:
    if engine == "sqlite":
        return measure(data, None, project, guest)
    with postgres_schema() as url:
        return measure(data, url, project, guest)


def _print_row(engine: str, shape: str, data: bytes, row: dict) -> None:
    growth = (row["after"] - row["before"]) * 1024
    items = data.count(b'"customer":')
    print(f"| {engine} | {shape} | {len(data) / MIB:.1f} | {items} | {row['status']} | {row['before'] / 1024:.0f} "
          f"| {row['after'] / 1024:.0f} | {growth / MIB:.0f} | {growth / len(data):.1f} | {row['seconds']:.1f} |",
          flush=True)


if __name__ == "__main__":
    main()
