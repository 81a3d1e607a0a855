"""`flask --app app bulk integration create|list|show|endpoint|delete|rotate`: manage integrations from a shell.

Run with the server's environment (DATABASE_URL, BULK_SECRET_KEY): the secrets are sealed with a key
derived from BULK_SECRET_KEY, so a server with another key cannot use them. Secrets (OAuth credentials,
an endpoint's `whsec_` secret) are printed once, by the command that makes them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click
from flask.cli import AppGroup

from bulk.db import database
from bulk.integrations import IntegrationError
from bulk.service import BulkService, current_service

integration_cli = AppGroup("integration", help="Manage integrations (OAuth 1.0a clients with their own ACL).")


def _ready() -> BulkService:
    service = current_service()
    service.ensure_ready_without_worker()
    return service


@contextmanager
def _integrations() -> Iterator[BulkService]:
    """The service, ready, with a connection open; an IntegrationError ends the command with its text."""
    service = _ready()
    with database.connection_context():
        try:
            yield service
        except IntegrationError as error:
            raise click.ClickException(str(error)) from None


def _echo(value: Any) -> None:
    click.echo(json.dumps(value))


@integration_cli.command("create")
@click.argument("name")
@click.option("--resource", "resources", multiple=True, metavar="ACL_ID",
              help="An ACL resource it may use (Magento_Catalog::products); repeat for more.")
@click.option("--all-resources", is_flag=True, help="Every resource, like the admin.")
@click.option("--endpoint", metavar="URL", default=None,
              help="Its own webhook endpoint: the events of its bulks go there too, signed with a secret of its own.")
def create(name: str, resources: tuple[str, ...], all_resources: bool, endpoint: str | None) -> None:
    """Create an active integration; prints its credentials (and endpoint secret) once, as one JSON object."""
    if all_resources == bool(resources):
        raise click.UsageError("give --resource (one or more) or --all-resources")
    with _integrations() as service:
        issued = service.integrations.create(name, None if all_resources else list(resources),
                                             service.clock.time(), endpoint)
    _echo(issued.to_json())


@integration_cli.command("list")
def list_integrations() -> None:
    """Print the integrations as a JSON array (no secrets)."""
    with _integrations() as service:
        _echo(service.integrations.described())


@integration_cli.command("show")
@click.argument("name_or_id")
def show(name_or_id: str) -> None:
    """Print one integration (by name or id) as a JSON object (no secrets)."""
    with _integrations() as service:
        [described] = service.integrations.described(name_or_id)
    _echo(described)


@integration_cli.command("endpoint")
@click.argument("name_or_id")
@click.argument("url", required=False)
@click.option("--remove", is_flag=True, help="Remove its endpoint: its events go to BULK_WEBHOOK_URL only.")
def endpoint(name_or_id: str, url: str | None, remove: bool) -> None:
    """Set an integration's own webhook endpoint URL (with a new signing secret, printed once), or --remove it."""
    if remove == bool(url):
        raise click.UsageError("give the endpoint URL, or --remove")
    with _integrations() as service:
        if url is None:
            integration = service.integrations.remove_endpoint(name_or_id)
            shown: dict[str, Any] = {"endpoint": None}
        else:
            integration, issued = service.integrations.set_endpoint(name_or_id, url, service.clock.time())
            shown = issued.to_json()
    _echo({"id": integration.id, "name": integration.name, **shown})


@integration_cli.command("delete")
@click.argument("name_or_id")
def delete(name_or_id: str) -> None:
    """Delete an integration (by name or id); its credentials stop working at once."""
    with _integrations() as service:
        deleted = service.integrations.delete(name_or_id)
    _echo({"deleted": deleted.id, "name": deleted.name})


@integration_cli.command("rotate")
@click.argument("name_or_id")
def rotate(name_or_id: str) -> None:
    """Give an integration a new access token and token secret; prints its credentials once."""
    with _integrations() as service:
        issued = service.integrations.rotate(name_or_id)
    _echo(issued.to_json())
