"""`flask --app app bulk ...` commands: drain now, list routes, create the schema, manage integrations."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from bulk.db import database
from bulk.integrations_cli import integration_cli
from bulk.service import current_service

bulk_cli = AppGroup("bulk", help="Bulk API service commands.")
bulk_cli.add_command(integration_cli)


@bulk_cli.command("init-db")
def init_db() -> None:
    """Create the tables if they do not exist."""
    service = current_service()
    service.ensure_ready_without_worker()
    click.echo(f"schema ready at {service.settings.database_url}")


@bulk_cli.command("drain")
def drain() -> None:
    """Process every open operation now, in this process, and report how many."""
    service = current_service()
    service.ensure_ready_without_worker()
    with database.connection_context():
        done = service.drainer.drain()
    click.echo(f"processed {done} operation(s)")


@bulk_cli.command("routes")
def routes() -> None:
    """List the async/bulk route catalogue: method, sync route, bulk route, topic."""
    for route in current_service().catalogue:
        click.echo(f"{route.method:<7}{route.template.path:<50}{route.bulk_path:<55}{route.topic_name}")
