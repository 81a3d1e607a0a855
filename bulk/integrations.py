"""Integrations: Magento's way for a program to call the API, with OAuth 1.0a credentials and its own ACL.

An integration has a name, a consumer key and secret, an access token and token secret (32 characters
of `[0-9a-z]` each, like Magento's) and the ACL resources it may use (a list, or all). The secrets are
kept sealed (`bulk.crypto`, a key derived from BULK_SECRET_KEY), since verifying a signature needs them
back; the access token is kept only as a keyed digest, enough to find its integration. Credentials are
shown once, when created or rotated.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import peewee

from bulk.auth import Caller
from bulk.crypto import Digester, SecretBox
from bulk.db import Prepared, Slot, write_transaction
from bulk.jsonutil import dumps, loads
from bulk.models import BaseModel
from bulk.statuses import UserType

CREDENTIAL_LENGTH = 32
_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"
# Magento's ACL ids look like `Magento_Catalog::products`.
_RESOURCE = re.compile(r"^[A-Za-z0-9_]+::[A-Za-z0-9_]+$")
ACTIVE = 1
# Opened secrets kept in memory per process (two per integration).
_OPENED_KEPT = 1024


class Integration(BaseModel):
    """One integration (Magento's `integration` with its `oauth_consumer` and access `oauth_token`)."""

    name = peewee.CharField(max_length=255, unique=True)
    consumer_key = peewee.CharField(max_length=CREDENTIAL_LENGTH, unique=True)
    consumer_secret = peewee.TextField()  # sealed
    access_token_digest = peewee.CharField(max_length=64, unique=True)
    access_token_secret = peewee.TextField()  # sealed
    # A JSON list of ACL ids; null: every resource.
    resources = peewee.TextField(null=True)
    status = peewee.SmallIntegerField(default=ACTIVE)
    created_at = peewee.DoubleField()

    class Meta:
        table_name = "bulk_integration"

    @property
    def resource_list(self) -> list[str] | None:
        return None if self.resources is None else loads(self.resources)

    def caller(self) -> Caller:
        """The user context of its requests: user type 1, its id, its resources."""
        resources = self.resource_list
        return Caller(UserType.INTEGRATION, self.id, None if resources is None else frozenset(resources))

    def describe(self) -> dict[str, Any]:
        """What may be shown at any time: no credential but the consumer key."""
        resources = self.resource_list
        return {"id": self.id, "name": self.name, "consumer_key": self.consumer_key,
                "resources": "all" if resources is None else resources,
                "status": "active" if self.status == ACTIVE else "inactive", "created_at": self.created_at}


_FIELD_NAMES = tuple(field.name for field in Integration._meta.sorted_fields)
_BY_CONSUMER_KEY = Prepared(lambda: Integration.select(*Integration._meta.sorted_fields)
                            .where(Integration.consumer_key == Slot("key")))


@dataclass(frozen=True)
class IssuedCredentials:
    """An integration's credentials in clear, as shown once when created or rotated."""

    id: int
    name: str
    consumer_key: str
    consumer_secret: str
    access_token: str
    access_token_secret: str
    resources: list[str] | None

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "consumer_key": self.consumer_key,
                "consumer_secret": self.consumer_secret, "access_token": self.access_token,
                "access_token_secret": self.access_token_secret,
                "resources": "all" if self.resources is None else self.resources}


class IntegrationError(ValueError):
    """A request to create, rotate or delete an integration that cannot be done; the text says why."""


def new_credential() -> str:
    """32 random characters of `[0-9a-z]`, as Magento generates keys, secrets and tokens."""
    return "".join(secrets.choice(_ALPHABET) for _ in range(CREDENTIAL_LENGTH))


class IntegrationStore:
    """Creates, finds, rotates and deletes integrations; seals and opens their secrets."""

    def __init__(self, secret: bytes) -> None:
        self._box = SecretBox(secret, "integration-secret")
        self._token_digest = Digester(secret, "integration-access-token")
        self._opened: dict[str, str] = {}

    # -- administration (CLI, test controls) ------------------------------------------------

    def create(self, name: str, resources: Sequence[str] | None, now: float) -> IssuedCredentials:
        """A new active integration; `resources` None gives it every resource."""
        name = _checked_name(name)
        resource_list = None if resources is None else _checked_resources(resources)
        consumer_key, consumer_secret = new_credential(), new_credential()
        access_token, token_secret = new_credential(), new_credential()
        with write_transaction():
            if Integration.select().where(Integration.name == name).exists():
                raise IntegrationError(f"an integration named {name!r} already exists")
            integration = Integration.create(
                name=name, consumer_key=consumer_key, consumer_secret=self._box.seal(consumer_secret),
                access_token_digest=self._token_digest(access_token),
                access_token_secret=self._box.seal(token_secret),
                resources=None if resource_list is None else dumps(resource_list).decode(), created_at=now)
        return IssuedCredentials(integration.id, name, consumer_key, consumer_secret, access_token, token_secret,
                                 resource_list)

    def rotate(self, name_or_id: str) -> IssuedCredentials:
        """A new access token and token secret; the old ones stop working at once."""
        access_token, token_secret = new_credential(), new_credential()
        with write_transaction():
            integration = self._existing(name_or_id)
            integration.access_token_digest = self._token_digest(access_token)
            integration.access_token_secret = self._box.seal(token_secret)
            integration.save()
        return IssuedCredentials(integration.id, integration.name, integration.consumer_key,
                                 self.consumer_secret(integration), access_token, token_secret,
                                 integration.resource_list)

    def delete(self, name_or_id: str) -> Integration:
        """Remove an integration; its credentials stop working at once."""
        with write_transaction():
            integration = self._existing(name_or_id)
            integration.delete_instance()
        return integration

    def all(self) -> list[Integration]:
        return list(Integration.select().order_by(Integration.id))

    def _existing(self, name_or_id: str) -> Integration:
        text = str(name_or_id).strip()
        condition = Integration.name == text
        if text.isdigit():
            condition |= Integration.id == int(text)
        # A name wins over an id, so an integration named "7" stays reachable.
        found = sorted(Integration.select().where(condition), key=lambda row: row.name != text)
        if not found:
            raise IntegrationError(f"no integration has the name or id {text!r}")
        return found[0]

    # -- request verification ----------------------------------------------------------------

    def by_consumer_key(self, consumer_key: str) -> Integration | None:
        """The integration of a consumer key (rendered once: every signed request asks it)."""
        row = _BY_CONSUMER_KEY.execute(key=consumer_key).fetchone()
        return None if row is None else Integration(**dict(zip(_FIELD_NAMES, row, strict=True)))

    def by_access_token(self, access_token: str) -> Integration | None:
        return Integration.get_or_none(Integration.access_token_digest == self._token_digest(access_token))

    def owns_access_token(self, integration: Integration, access_token: str) -> bool:
        return secrets.compare_digest(integration.access_token_digest, self._token_digest(access_token))

    def consumer_secret(self, integration: Integration) -> str:
        return self._open(integration.consumer_secret)

    def access_token_secret(self, integration: Integration) -> str:
        return self._open(integration.access_token_secret)

    def _open(self, sealed: str) -> str:
        # Kept per sealed value (a rotation seals anew, so a stale entry is never asked for again).
        opened = self._opened.get(sealed)
        if opened is None:
            if len(self._opened) >= _OPENED_KEPT:
                self._opened.clear()
            opened = self._opened[sealed] = self._box.open(sealed)
        return opened


def _checked_name(name: str) -> str:
    name = str(name).strip()
    if not name or len(name) > 255:
        raise IntegrationError("an integration needs a name of 1 to 255 characters")
    return name


def _checked_resources(resources: Sequence[str]) -> list[str]:
    checked = list(dict.fromkeys(str(resource).strip() for resource in resources))
    wrong = [resource for resource in checked if not _RESOURCE.match(resource)]
    if wrong:
        raise IntegrationError(f"ACL resources look like Magento_Catalog::products, got {', '.join(wrong)}")
    if not checked:
        raise IntegrationError("give at least one ACL resource, or all resources")
    return checked


INTEGRATION_MODELS: list[type[peewee.Model]] = [Integration]
