"""`flask --app app bulk ...` commands: look at bulks, retry or delete one, drain now, list routes, create the
schema, manage integrations, revoke admin tokens and lift sign-in locks.

Output is for people (aligned columns, a progress bar); `--json` gives scripts one JSON document.
Errors go to stderr with exit status 1.
"""

from __future__ import annotations

import sys
import time
from typing import Any
from urllib.parse import urlparse

import click
from flask.cli import AppGroup

from bulk import queue, summaries
from bulk.db import database
from bulk.integrations_cli import integration_cli
from bulk.jsonutil import dumps
from bulk.service import current_service
from bulk.statuses import OperationStatus
from bulk.tokens_cli import tokens_cli
from bulk.views.manage import RETRY_SCOPES

bulk_cli = AppGroup("bulk", help="Bulk API service commands.")
bulk_cli.add_command(integration_cli)
bulk_cli.add_command(tokens_cli)

json_option = click.option("--json", "as_json", is_flag=True, help="One JSON document on stdout, for scripts.")


def _echo_json(value: Any) -> None:
    click.echo(dumps(value).decode())


def _without_password(url: str) -> str:
    parsed = urlparse(url)
    if parsed.password is None:
        return url
    return parsed._replace(netloc=parsed.netloc.replace(f":{parsed.password}@", ":***@", 1)).geturl()


@bulk_cli.command("init-db")
def init_db() -> None:
    """Create the tables if they do not exist."""
    service = current_service()
    service.ensure_ready_without_worker()
    click.echo(f"schema ready at {_without_password(service.settings.database_url or '')}")


@bulk_cli.command("drain")
@json_option
def drain(as_json: bool) -> None:
    """Process every open operation now, in this process, with a progress bar (items/s)."""
    service = current_service()
    service.ensure_ready_without_worker()
    started = time.monotonic()
    done = 0
    with database.connection_context():
        backlog = queue.open_count()

    # On stderr: stdout stays the result alone (`--json`, or a line a script can read).
    progress = click.progressbar(length=backlog, label="draining", show_pos=True, hidden=as_json,
                                 file=sys.stderr)
    with progress as bar:
        while True:
            finished = service.drainer.run_once()
            if not finished:
                break
            done += finished
            elapsed = time.monotonic() - started
            bar.label = f"draining, {done / elapsed:,.0f} items/s" if elapsed > 0 else "draining"
            bar.update(finished)
    seconds = time.monotonic() - started
    per_second = done / seconds if seconds > 0 else 0.0
    if as_json:
        _echo_json({"processed": done, "seconds": round(seconds, 3), "items_per_second": round(per_second, 1)})
    else:
        click.echo(f"processed {done} operation(s) in {seconds:.2f}s ({per_second:,.0f} items/s)")


@bulk_cli.command("list")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 10_000), help="How many bulks.")
@click.option("--status", "only", type=click.Choice(summaries.BULK_FILTERS),
              help="Only bulks with open operations, with none open, or with failed ones.")
@json_option
def list_bulks(limit: int, only: str | None, as_json: bool) -> None:
    """Recent bulks, newest first, with their operations counted per status."""
    current_service().ensure_ready_without_worker()
    with database.connection_context():
        found = summaries.recent_bulks(limit, only)
    if as_json:
        _echo_json([summary.to_json() for summary in found])
        return
    if not found:
        click.echo("no bulks")
        return
    click.echo(f"{'BULK UUID':<37}{'STARTED (UTC)':<21}{'OWNER':<12}{'OPS':>6}{'OPEN':>6}{'DONE':>6}{'FAILED':>8}  "
               "DESCRIPTION")
    for summary in found:
        failed = summary.count(*summaries.FAILED)
        click.echo(f"{summary.uuid:<37}{summary.start_time or '-':<21}{summary.owner:<12}"
                   f"{summary.operation_count:>6}{summary.count(OperationStatus.OPEN):>6}"
                   f"{summary.count(OperationStatus.COMPLETE):>6}"
                   + click.style(f"{failed:>8}", fg="red" if failed else None)
                   + f"  {summary.description}")


def _summary_or_fail(bulk_uuid: str) -> summaries.BulkSummary:
    summary = summaries.find_summary(bulk_uuid)
    if summary is None:
        raise click.ClickException(f"Bulk uuid {bulk_uuid} not exist")
    return summary


_STATUS_COLOURS = {"complete": "green", "retriably_failed": "yellow", "not_retriably_failed": "red",
                   "open": "cyan", "rejected": "magenta"}


@bulk_cli.command("show")
@click.argument("bulk_uuid")
@click.option("--limit", default=100, show_default=True, type=click.IntRange(0),
              help="Operations listed (0: all).")
@json_option
def show(bulk_uuid: str, limit: int, as_json: bool) -> None:
    """One bulk: who sent it, when, its counts, and its operations with their messages."""
    current_service().ensure_ready_without_worker()
    with database.connection_context():
        summary = _summary_or_fail(bulk_uuid)
        listed = summaries.operations(bulk_uuid, limit or None)
    if as_json:
        _echo_json({**summary.to_json(), "operations": listed})
        return
    click.echo(f"bulk        {summary.uuid}")
    click.echo(f"description {summary.description}")
    click.echo(f"started     {summary.start_time} UTC by {summary.owner}")
    counts = ", ".join(f"{count} {name.replace('_', ' ')}" for name, count in sorted(summary.counts.items()))
    click.echo(f"operations  {summary.operation_count} ({counts or 'none stored'})")
    click.echo("")
    click.echo(f"{'ID':>6}  {'STATUS':<22}{'CODE':>6}  MESSAGE")
    for operation in listed:
        name = operation["status_name"]
        status = click.style(f"{operation['status']} {name.replace('_', ' '):<20}", fg=_STATUS_COLOURS.get(name))
        code = "" if operation["error_code"] is None else operation["error_code"]
        click.echo(f"{operation['id']:>6}  {status}{code:>6}  {operation['result_message'] or ''}")
    hidden = summary.operation_count - len(listed)
    if hidden > 0:
        click.echo(f"… and {hidden} more (--limit 0 lists all)")


@bulk_cli.command("retry")
@click.argument("bulk_uuid")
@click.option("--scope", type=click.Choice(sorted(RETRY_SCOPES)), default=None,
              help="retriable: status 2 only (default); failed: 2 and 3 (default when --operation is given).")
@click.option("--operation", "operation_ids", type=int, multiple=True, help="Only this operation id (repeatable).")
@json_option
def retry(bulk_uuid: str, scope: str | None, operation_ids: tuple[int, ...], as_json: bool) -> None:
    """Re-open a bulk's failed operations (as POST /V1/bulk/<uuid>/retry does)."""
    service = current_service()
    service.ensure_ready_without_worker()
    chosen = scope or ("failed" if operation_ids else "retriable")
    with database.connection_context():
        _summary_or_fail(bulk_uuid)
        reopened = queue.reopen(bulk_uuid, RETRY_SCOPES[chosen], list(operation_ids) or None)
    service.drainer.notify()
    if as_json:
        _echo_json({"bulk_id": bulk_uuid, "reopened_operation_ids": reopened})
    elif reopened:
        click.echo(f"re-opened {len(reopened)} operation(s): {', '.join(map(str, reopened))}")
    else:
        click.echo(f"nothing to re-open (scope {chosen})")


@bulk_cli.command("delete")
@click.argument("bulk_uuid")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@json_option
def delete(bulk_uuid: str, yes: bool, as_json: bool) -> None:
    """Delete a finished bulk and its operations (refused while any operation is open)."""
    current_service().ensure_ready_without_worker()
    with database.connection_context():
        summary = _summary_or_fail(bulk_uuid)
        if not yes and not as_json:
            click.confirm(f"Delete bulk {bulk_uuid} ({summary.description}, {summary.operation_count} "
                          "operation(s))?", abort=True)
        deleted = queue.delete_finished_bulk(bulk_uuid)
    if deleted is None:
        raise click.ClickException(f"Bulk uuid {bulk_uuid} not exist")
    if not deleted:
        raise click.ClickException(f"Bulk uuid {bulk_uuid} still has open operations; "
                                   "it can be deleted once they have finished.")
    if as_json:
        _echo_json({"bulk_id": bulk_uuid, "deleted": True})
    else:
        click.echo(f"deleted bulk {bulk_uuid}")


@bulk_cli.command("routes")
def routes() -> None:
    """List the async/bulk route catalogue: method, sync route, bulk route, topic."""
    for route in current_service().catalogue:
        click.echo(f"{route.method:<7}{route.template.path:<50}{route.bulk_path:<55}{route.topic_name}")
