"""Sign-in timing (does it tell a right username from a wrong one?) and the cost of checking a token's
generation (revocation).

    .venv/bin/python bench/sign_in.py [--rounds 300] [--postgresql] [--project DIR]

Sign-in: `POST /V1/integration/admin/token` through the app in this process (Flask's test client,
an SQLite file or PostgreSQL), a wrong username and the right username with a wrong password
interleaved, each round from the next of 200 client addresses; the lock-out never engages
(BULK_LOGIN_MAX_FAILURES is set out of reach) so every attempt is a plain failure. Printed: median
and p90 wall time of each, and their ratio (1.00: timing tells nothing). `--project DIR` measures
another checkout of the service the same way (e.g. `git worktree add /tmp/before <commit>`).

Token check: the median time of `TokenService.caller` for an admin token when the generation comes
from the process's copy (BULK_TOKEN_CHECK_SECONDS > 0) and when it is read from the database every
time (0), and of a whole `GET /V1/bulk/<uuid>/operation-status/1` request in both settings.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


@contextlib.contextmanager
def _environment(**values: str) -> Iterator[None]:
    """Settings through the environment: an older checkout refuses settings it does not know as overrides."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextlib.contextmanager
def _database(engine: str, folder: str) -> Iterator[str]:
    if engine == "sqlite":
        yield f"sqlite:///{folder}/bench.sqlite3"
        return
    sys.path.insert(0, str(ROOT))
    from tests.databases import postgres_schema

    with postgres_schema() as url:
        yield url


def _app(folder: str, database_url: str, **settings: str):
    from bulk.factory import create_app

    with _environment(BULK_ENV="development", BULK_DATA_DIR=folder, DATABASE_URL=database_url, BULK_WORKER="0",
                      BULK_LOGIN_MAX_FAILURES="1000000000", BULK_LOGIN_ACCOUNT_MAX_FAILURES="0", **settings):
        return create_app()


def sign_in_timings(engine: str, rounds: int) -> dict[str, list[float]]:
    """Wall times (ms) of failed sign-ins with a wrong username and with a wrong password, interleaved."""
    timings: dict[str, list[float]] = {"wrong username": [], "right username, wrong password": []}
    with tempfile.TemporaryDirectory() as folder, _database(engine, folder) as url:
        app = _app(folder, url)
        client = app.test_client()
        assert client.get("/health").status_code == 200
        for n in range(rounds + 20):
            address = f"10.1.0.{n % 200}"
            for kind, username in (("wrong username", f"nobody{n}"), ("right username, wrong password", "admin")):
                started = time.perf_counter()
                answer = client.post("/rest/V1/integration/admin/token", json={"username": username, "password": "x"},
                                     environ_base={"REMOTE_ADDR": address})
                elapsed = (time.perf_counter() - started) * 1000
                assert answer.status_code == 401, answer.get_data(as_text=True)
                if n >= 20:  # warm-up rounds left out
                    timings[kind].append(elapsed)
        app.extensions["bulk"].shutdown()
    return timings


def _median_us(run: Callable[[], object], repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        samples.append((time.perf_counter() - started) * 1e6)
    return statistics.median(samples)


def token_check_costs(engine: str, repeat: int) -> dict[str, float]:
    """Median µs of a token check and of a small authenticated request, generation cached or read each time."""
    from bulk.db import database

    costs: dict[str, float] = {}
    for label, seconds in (("cached (BULK_TOKEN_CHECK_SECONDS=5)", "5"), ("read each time (0)", "0")):
        with tempfile.TemporaryDirectory() as folder, _database(engine, folder) as url:
            app = _app(folder, url, BULK_TOKEN_CHECK_SECONDS=seconds)
            client = app.test_client()
            token = client.post("/rest/V1/integration/admin/token",
                                json={"username": "admin", "password": "admin123"}).get_json()
            service = app.extensions["bulk"]
            header = f"Bearer {token}"
            with database.connection_context():
                costs[f"token check, {label}"] = _median_us(
                    partial(service.tokens.caller, header, service.clock.time()), repeat)
            costs[f"GET operation-status request, {label}"] = _median_us(
                partial(client.get, "/rest/V1/bulk/x/operation-status/1", headers={"Authorization": header}),
                repeat // 4)
            service.shutdown()
    return costs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=300)
    parser.add_argument("--postgresql", action="store_true", help="also on PostgreSQL (TEST_POSTGRES_URL)")
    parser.add_argument("--project", type=Path, default=ROOT, help="the checkout to measure (default: this one)")
    args = parser.parse_args()
    sys.path.insert(0, str(args.project.resolve()))
    engines = ["sqlite", "postgresql"] if args.postgresql else ["sqlite"]
    print(f"project: {args.project.resolve()}")
    print("| engine | failed sign-in | median ms | p90 ms |")
    print("|---|---|---|---|")
    for engine in engines:
        timings = sign_in_timings(engine, args.rounds)
        for kind, values in timings.items():
            print(f"| {engine} | {kind} | {statistics.median(values):.2f} | {_percentile(values, 0.9):.2f} |")
        ratio = statistics.median(timings["right username, wrong password"]) / statistics.median(
            timings["wrong username"])
        print(f"| {engine} | ratio right username / wrong username (medians) | {ratio:.2f} | |", flush=True)
    if (args.project.resolve() / "bulk" / "revocation.py").exists():
        print()
        print("| engine | what | median µs |")
        print("|---|---|---|")
        for engine in engines:
            for name, value in token_check_costs(engine, 2000).items():
                print(f"| {engine} | {name} | {value:.1f} |", flush=True)


if __name__ == "__main__":
    main()
