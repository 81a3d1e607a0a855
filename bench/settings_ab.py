"""A/B of the settings whose defaults issue 14 chose, over HTTP with wrk, interleaved in one run:
request threads (GUNICORN_THREADS 4 against the default 1 on PostgreSQL, 2 against 1 on SQLite,
drainer off) and the drainer's wake-up coalescing on SQLite (BULK_CLAIM_COALESCE_SECONDS 0.02, the default, against 0.1,
drainer on, with drainer off as the reference).

    .venv/bin/python bench/settings_ab.py [--seconds 6] [--rounds 2]

Prints each row (100-item bulks, same load as bench/http_submit.py) and the ratios per round.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from http_submit import WRK_SCRIPT, Row, add_ab_arguments, print_rows, service_rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_ab_arguments(parser)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed (Debian package `wrk`; `make bench` installs it)")
    ratios: list[str] = []
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        script = folder / "post.lua"
        script.write_text(WRK_SCRIPT)
        for round_number in range(1, args.rounds + 1):
            def row(label: str, engine: str, drainer: bool, env: dict[str, str], round_number: int = round_number
                    ) -> Row:
                [measured] = service_rows(f"{label} (round {round_number})", engine, drainer, args, folder, script,
                                          sizes=(100,), env=env)
                rows.append(measured)
                return measured

            one = row("postgresql, 1 request thread", "postgresql", False, {"GUNICORN_THREADS": "1"})
            four = row("postgresql, 4 request threads", "postgresql", False, {"GUNICORN_THREADS": "4"})
            off = row("sqlite, drainer off", "sqlite", False, {})
            two = row("sqlite, drainer off, 2 request threads", "sqlite", False, {"GUNICORN_THREADS": "2"})
            short = row("sqlite, drainer on, coalesce 0.02 s", "sqlite", True, {"BULK_CLAIM_COALESCE_SECONDS": "0.02"})
            long = row("sqlite, drainer on, coalesce 0.1 s", "sqlite", True, {"BULK_CLAIM_COALESCE_SECONDS": "0.1"})
            ratios.append(
                f"  round {round_number}: PostgreSQL 4 threads / 1 thread req/s {four.rps / one.rps:.2f}x; "
                f"SQLite 2 threads / 1 thread {two.rps / off.rps:.2f}x; "
                f"SQLite drainer on / off req/s: coalesce 0.02 s {short.rps / off.rps:.2f}x "
                f"(p99 {short.p99_ms / off.p99_ms:.2f}x), 0.1 s {long.rps / off.rps:.2f}x "
                f"(p99 {long.p99_ms / off.p99_ms:.2f}x)")
    print_rows("Settings A/B, 100-item bulks", rows)
    print("\nRatios within each round")
    print("\n".join(ratios))


if __name__ == "__main__":
    main()
