"""A/B of two checkouts of the project (or of one with different settings) over HTTP with wrk,
interleaved in one run: the same row of bench/http_submit.py, A then B, `--rounds` times.

    .venv/bin/python bench/checkouts_ab.py --b DIR [--a DIR | --a-peer sqlite|redis] [--a-env K=V ...]
        [--b-env K=V ...] [--size 100] [--engine sqlite|postgresql] [--drainer] [--new-skus] [--rounds 3]
        [--seconds 6]

`--a` defaults to this checkout; make the other with `git archive <commit> | tar -x -C DIR`.
Prints each row and the ratio B / A of requests per second and p99 per round: for code changes
that are not a setting (a pragma, a statement less per request), where bench/settings_ab.py
cannot compare them. `--a-peer` makes A the peer of bench/http_submit.py instead (a Flask app
enqueuing each item as a huey task; 100-item bulks): our ratio to it, interleaved, where the full
run measures each once.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from http_submit import (
    DISTINCT_SCRIPT_NAME,
    WRK_DISTINCT_SCRIPT,
    WRK_SCRIPT,
    Row,
    add_ab_arguments,
    peer_rows,
    print_rows,
    service_rows,
)

from tests.live import PROJECT_ROOT


def settings(pairs: list[str]) -> dict[str, str]:
    found = {}
    for pair in pairs:
        name, separator, value = pair.partition("=")
        if not separator:
            sys.exit(f"expected NAME=VALUE, got {pair!r}")
        found[name] = value
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--a", type=Path, default=PROJECT_ROOT)
    parser.add_argument("--b", type=Path, required=True)
    parser.add_argument("--a-peer", choices=("sqlite", "redis"), help="A is the huey peer, not a checkout")
    parser.add_argument("--a-env", action="append", default=[])
    parser.add_argument("--b-env", action="append", default=[])
    parser.add_argument("--size", type=int, default=100)
    parser.add_argument("--engine", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--drainer", action="store_true")
    parser.add_argument("--new-skus", action="store_true", help="new SKUs in every bulk")
    add_ab_arguments(parser)
    parser.set_defaults(rounds=3)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed (Debian package `wrk`; `make bench` installs it)")
    if args.a_peer and (args.size != 100 or args.new_skus):
        sys.exit("the peer runs 100-item bulks with the same body every request: no --size, no --new-skus")
    variants = (("A", args.a, settings(args.a_env)), ("B", args.b, settings(args.b_env)))
    rows: dict[str, list[Row]] = {"A": [], "B": []}
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        script = folder / (DISTINCT_SCRIPT_NAME if args.new_skus else "post.lua")
        script.write_text(WRK_DISTINCT_SCRIPT if args.new_skus else WRK_SCRIPT)
        for round_number in range(1, args.rounds + 1):
            for label, checkout, env in variants:
                if label == "A" and args.a_peer:
                    [row] = peer_rows(args.a_peer, args, folder, script)
                else:
                    [row] = service_rows(label, args.engine, args.drainer, args, folder, script,
                                         cwd=checkout.resolve(), sizes=(args.size,), env=env)
                row.label = f"{label} (round {round_number})"
                rows[label].append(row)
    described_a = f"peer Flask+huey {args.a_peer}" if args.a_peer else f"{args.a} {args.a_env or ''}"
    print(f"A: {described_a}\nB: {args.b} {args.b_env or ''}")
    title = (f"{args.engine}, {args.size}-item bulks, drainer {'on' if args.drainer else 'off'}"
             f"{', new SKUs in every bulk' if args.new_skus else ''}")
    print_rows(title, [row for pair in zip(rows["A"], rows["B"], strict=True) for row in pair])
    print("\nB / A within each round")
    for round_number, (a, b) in enumerate(zip(rows["A"], rows["B"], strict=True), start=1):
        print(f"  round {round_number}: req/s {b.rps / a.rps:.2f}x, p99 {b.p99_ms / a.p99_ms:.2f}x")
    print(f"  mean req/s: A {statistics.mean(r.rps for r in rows['A']):,.1f}, "
          f"B {statistics.mean(r.rps for r in rows['B']):,.1f}")


if __name__ == "__main__":
    main()
