"""Integrations: Magento's way for a program to call the API, with OAuth 1.0a credentials and its own ACL.

An integration has a name, a consumer key and secret, an access token and token secret (32 characters
of `[0-9a-z]` each, like Magento's) and the ACL resources it may use (a list, or all). The secrets are
kept sealed (`bulk.crypto`, a key derived from BULK_SECRET_KEY), since verifying a signature needs them
back; the access token is kept only as a keyed digest, enough to find its integration. Credentials are
shown once, when created or rotated.

An integration may have its own webhook endpoint (Magento's integration `endpoint`): the events of the
bulks it submits go there too, signed with a `whsec_` secret of its own (sealed like the others, shown
once, when the endpoint is set), so no integration can verify or forge another's.
"""

from __future__ import annotations

import base64
import re
import secrets
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import peewee

from bulk.auth import Caller
from bulk.config import WEBHOOK_SECRET_PREFIX, ConfigError, webhook_url
from bulk.crypto import Digester, SealedValueUnreadable, SecretBox
from bulk.db import Prepared, Slot, tuples, write_transaction
from bulk.jsonutil import dumps, loads
from bulk.models import BaseModel, IntegrationEndpoint
from bulk.statuses import UserType

CREDENTIAL_LENGTH = 32
_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"
# Magento's ACL ids look like `Magento_Catalog::products`.
_RESOURCE = re.compile(r"^[A-Za-z0-9_]+::[A-Za-z0-9_]+$")
ACTIVE = 1
# Opened secrets kept in memory per process (two per integration, three with an endpoint).
_OPENED_KEPT = 1024
# Longer than Magento's 255 characters: receivers' URLs often carry a long token.
MAX_ENDPOINT_LENGTH = 2048
WEBHOOK_SECRET_BYTES = 32


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

    def describe(self, endpoint: str | None = None) -> dict[str, Any]:
        """What may be shown at any time: no credential but the consumer key; `endpoint`, its own."""
        resources = self.resource_list
        return {"id": self.id, "name": self.name, "consumer_key": self.consumer_key,
                "resources": "all" if resources is None else resources, "endpoint": endpoint,
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
    # Its own webhook endpoint, when created with one, and that endpoint's signing secret.
    endpoint: IssuedEndpoint | None = None

    def to_json(self) -> dict[str, Any]:
        shown = {"id": self.id, "name": self.name, "consumer_key": self.consumer_key,
                 "consumer_secret": self.consumer_secret, "access_token": self.access_token,
                 "access_token_secret": self.access_token_secret,
                 "resources": "all" if self.resources is None else self.resources}
        if self.endpoint is not None:
            shown.update(self.endpoint.to_json())
        return shown


@dataclass(frozen=True)
class IssuedEndpoint:
    """An integration's endpoint and its `whsec_` secret in clear, as shown once when set."""

    endpoint: str
    webhook_secret: str

    def to_json(self) -> dict[str, Any]:
        return {"endpoint": self.endpoint, "webhook_secret": self.webhook_secret}


class WebhookEndpoint(NamedTuple):
    """Where an integration's events go and the secret that signs them (in clear; None when it cannot
    be opened: BULK_SECRET_KEY changed since it was set)."""

    url: str
    secret: str | None


class IntegrationError(ValueError):
    """A request to create, rotate or delete an integration that cannot be done; the text says why."""


def new_credential() -> str:
    """32 random characters of `[0-9a-z]`, as Magento generates keys, secrets and tokens."""
    return "".join(secrets.choice(_ALPHABET) for _ in range(CREDENTIAL_LENGTH))


def new_webhook_secret() -> str:
    """A Standard Webhooks secret: `whsec_` and 32 random bytes in base64."""
    return WEBHOOK_SECRET_PREFIX + base64.b64encode(secrets.token_bytes(WEBHOOK_SECRET_BYTES)).decode()


class IntegrationStore:
    """Creates, finds, rotates and deletes integrations; seals and opens their secrets."""

    def __init__(self, secret: bytes) -> None:
        self._box = SecretBox(secret, "integration-secret")
        # A key of its own: a sealed OAuth secret copied into the endpoints' table does not open there.
        self._endpoint_box = SecretBox(secret, "integration-webhook-secret")
        self._token_digest = Digester(secret, "integration-access-token")
        self._opened: dict[str, str] = {}

    # -- administration (CLI, test controls) ------------------------------------------------

    def create(self, name: str, resources: Sequence[str] | None, now: float,
               endpoint: str | None = None) -> IssuedCredentials:
        """A new active integration; `resources` None gives it every resource; `endpoint`, its own
        webhook endpoint (with a new secret)."""
        name = _checked_name(name)
        resource_list = None if resources is None else _checked_resources(resources)
        endpoint = None if endpoint is None else _checked_endpoint(endpoint)
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
            issued = None if endpoint is None else self._store_endpoint(integration.id, endpoint, now)
        return IssuedCredentials(integration.id, name, consumer_key, consumer_secret, access_token, token_secret,
                                 resource_list, issued)

    def set_endpoint(self, name_or_id: str, endpoint: str, now: float) -> tuple[Integration, IssuedEndpoint]:
        """Give an integration its own webhook endpoint, or another one, with a new secret (the old secret
        stops signing at once: pending deliveries go to the new endpoint, signed with the new secret)."""
        endpoint = _checked_endpoint(endpoint)
        with write_transaction():
            integration = self._existing(name_or_id)
            IntegrationEndpoint.delete().where(IntegrationEndpoint.integration_id == integration.id).execute()
            issued = self._store_endpoint(integration.id, endpoint, now)
        return integration, issued

    def remove_endpoint(self, name_or_id: str) -> Integration:
        """No own endpoint any more: its events go to the global endpoint only (pending ones fail)."""
        with write_transaction():
            integration = self._existing(name_or_id)
            IntegrationEndpoint.delete().where(IntegrationEndpoint.integration_id == integration.id).execute()
        return integration

    def _store_endpoint(self, integration_id: int, endpoint: str, now: float) -> IssuedEndpoint:
        secret = new_webhook_secret()
        IntegrationEndpoint.insert(integration_id=integration_id, endpoint=endpoint,
                                   secret=self._endpoint_box.seal(secret), created_at=now).execute()
        return IssuedEndpoint(endpoint, secret)

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
            IntegrationEndpoint.delete().where(IntegrationEndpoint.integration_id == integration.id).execute()
            integration.delete_instance()
        return integration

    def all(self) -> list[Integration]:
        return list(Integration.select().order_by(Integration.id))

    def described(self, name_or_id: str | None = None) -> list[dict[str, Any]]:
        """Every integration (or the one named) as `describe` shows it, with its endpoint."""
        integrations = self.all() if name_or_id is None else [self._existing(name_or_id)]
        endpoints: dict[int, str] = dict(tuples(
            IntegrationEndpoint.select(IntegrationEndpoint.integration_id, IntegrationEndpoint.endpoint)
            .where(IntegrationEndpoint.integration_id.in_([i.id for i in integrations]))))
        return [integration.describe(endpoints.get(integration.id)) for integration in integrations]

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

    def webhook_endpoints(self, integration_ids: Collection[int]) -> dict[int, WebhookEndpoint]:
        """The endpoint and secret of those of these integrations that have one (the webhook sender's)."""
        endpoint = IntegrationEndpoint
        rows = tuples(endpoint.select(endpoint.integration_id, endpoint.endpoint, endpoint.secret)
                      .where(endpoint.integration_id.in_(list(integration_ids))))
        return {integration_id: WebhookEndpoint(url, self._open_or_none(sealed, self._endpoint_box))
                for integration_id, url, sealed in rows}

    def _open_or_none(self, sealed: str, box: SecretBox) -> str | None:
        try:
            return self._open(sealed, box)
        except SealedValueUnreadable:
            return None

    def _open(self, sealed: str, box: SecretBox | None = None) -> str:
        # Kept per sealed value (a rotation seals anew, so a stale entry is never asked for again).
        opened = self._opened.get(sealed)
        if opened is None:
            if len(self._opened) >= _OPENED_KEPT:
                self._opened.clear()
            opened = self._opened[sealed] = (box or self._box).open(sealed)
        return opened


def _checked_name(name: str) -> str:
    name = str(name).strip()
    if not name or len(name) > 255:
        raise IntegrationError("an integration needs a name of 1 to 255 characters")
    return name


def _checked_endpoint(endpoint: str) -> str:
    """The rules of BULK_WEBHOOK_URL (an address that is not public is refused when sending, unless
    BULK_WEBHOOK_ALLOW_PRIVATE allows it, as for the global endpoint)."""
    try:
        checked = webhook_url("the endpoint", endpoint)
    except ConfigError as error:
        raise IntegrationError(str(error)) from None
    if len(checked) > MAX_ENDPOINT_LENGTH:
        raise IntegrationError(f"the endpoint may have at most {MAX_ENDPOINT_LENGTH} characters")
    return checked


def _checked_resources(resources: Sequence[str]) -> list[str]:
    checked = list(dict.fromkeys(str(resource).strip() for resource in resources))
    wrong = [resource for resource in checked if not _RESOURCE.match(resource)]
    if wrong:
        raise IntegrationError(f"ACL resources look like Magento_Catalog::products, got {', '.join(wrong)}")
    if not checked:
        raise IntegrationError("give at least one ACL resource, or all resources")
    return checked


INTEGRATION_MODELS: list[type[peewee.Model]] = [Integration]
