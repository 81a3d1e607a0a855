"""`flask --app app bulk tokens revoke|unlock`: end every admin token, lift sign-in locks.

Run with the server's environment (DATABASE_URL): both act on the database every serving process
reads. Integrations' access tokens are not touched: `bulk integration rotate` or `delete` ends those.
"""

from __future__ import annotations

import json

import click
from flask.cli import AppGroup

from bulk.db import database
from bulk.service import BulkService, current_service
from bulk.sign_in import EVERY_ADDRESS, unlock

tokens_cli = AppGroup("tokens", help="Admin tokens and sign-in locks.")


def _ready() -> BulkService:
    service = current_service()
    service.ensure_ready_without_worker()
    return service


@tokens_cli.command("revoke")
def revoke() -> None:
    """Revoke every admin token and dashboard session issued so far (each process notices within
    BULK_TOKEN_CHECK_SECONDS); sign in again for a new one."""
    service = _ready()
    with database.connection_context():
        generation = service.tokens.generations.revoke()
    click.echo(json.dumps({"revoked": True, "generation": generation,
                           "effective_within_seconds": service.settings.token_check_seconds}))


@tokens_cli.command("unlock")
@click.option("--username", help="Only this username's locks and counts (default: every username's).")
@click.option("--address", help="Only this client address's (an IPv6 address stands for its /64; "
                                f"`{EVERY_ADDRESS}` is the account-wide lock).")
def unlock_sign_in(username: str | None, address: str | None) -> None:
    """Lift sign-in locks and forget failure counts at once."""
    _ready()
    with database.connection_context():
        cleared = unlock(username, address)
    click.echo(json.dumps({"cleared": cleared}))
