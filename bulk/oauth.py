"""OAuth 1.0a request verification for integrations, with Magento's checks, texts and order.

The signature itself is oauthlib's (`oauthlib.oauth1.rfc5849.signature`: base string URI, parameter
normalisation, HMAC), over the URL as the client sent it and the parameters of the `Authorization:
OAuth` header merged with the query string (and a form body; a JSON body is not signed).

Order of the checks, as Magento's `Oauth::validateAccessTokenRequest`: version (400), required
parameters (400), token length (400), signature method (400), consumer key (401), timestamp (400),
nonce (401), token (401), signature (401). Two deliberate differences: a nonce is recorded only once
the signature is good (Magento records it first, so a forged request burns a client's nonce), and a
timestamp older than the nonce window is refused like one too far ahead (Magento accepts any past
timestamp, so a request can be replayed once its nonce is purged).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, NamedTuple, cast
from urllib.parse import parse_qsl, unquote

import peewee
from oauthlib.common import safe_string_equals
from oauthlib.oauth1.rfc5849 import signature as oauth_signature

from bulk.db import Prepared, Slot
from bulk.errors import WebapiError
from bulk.integrations import ACTIVE, CREDENTIAL_LENGTH, Integration, IntegrationStore
from bulk.models import BaseModel
from bulk.phrases import INVALID_FIELD_VALUE, REQUIRED_FIELD, Phrase

log = logging.getLogger(__name__)

# Magento's texts (lib/internal/Magento/Framework/Oauth, Integration/Model/Oauth).
VERSION_UNSUPPORTED = 'The "%1" Oauth version isn\'t supported.'
TOKEN_LENGTH_INVALID = "The token length is invalid. Check the length and try again."
SIGNATURE_METHOD_UNSUPPORTED = "Signature method %1 is not supported"
CONSUMER_KEY_LENGTH = "Consumer key is not the correct length"
CONSUMER_UNKNOWN = "A consumer having the specified key does not exist"
TIMESTAMP_INCORRECT = "Incorrect timestamp value in the oauth_timestamp parameter"
NONCE_USED = "The nonce is already being used by the consumer with ID %1"
TOKEN_UNKNOWN = "Specified token does not exist"
TOKEN_OF_ANOTHER_CONSUMER = "Token is not associated with the specified consumer"
SIGNATURE_INVALID = "The signature is invalid. Verify and try again."

REQUIRED = ("oauth_consumer_key", "oauth_signature", "oauth_signature_method", "oauth_nonce", "oauth_timestamp",
            "oauth_token")
# Magento's Generator::TIME_DEVIATION: how far ahead of the server's clock a timestamp may be.
FUTURE_SKEW_SECONDS = 600
MAX_NONCE_LENGTH = 255

_SIGNERS = {
    "HMAC-SHA256": oauth_signature.sign_hmac_sha256_with_client,
    "HMAC-SHA1": oauth_signature.sign_hmac_sha1_with_client,
}


class _Secrets(NamedTuple):
    """The two secrets, under the names oauthlib's `sign_*_with_client` functions read."""

    client_secret: str
    resource_owner_secret: str


class OAuthNonce(BaseModel):
    """A nonce a consumer has used, with the request's own timestamp (swept once out of the window)."""

    consumer_id = peewee.IntegerField()
    nonce = peewee.CharField(max_length=MAX_NONCE_LENGTH)
    timestamp = peewee.BigIntegerField()

    class Meta:
        table_name = "bulk_oauth_nonce"
        indexes = (
            (("consumer_id", "nonce"), True),
            (("timestamp",), False),
        )


# Rendered once: every signed request runs them.
_NONCE_USED = Prepared(lambda: OAuthNonce.select(peewee.SQL("1")).where(
    OAuthNonce.consumer_id == Slot("consumer"), OAuthNonce.nonce == Slot("nonce")).limit(1))
_RECORD_NONCE = Prepared(lambda: OAuthNonce.insert(
    consumer_id=Slot("consumer"), nonce=Slot("nonce"), timestamp=Slot("timestamp")).on_conflict_ignore().returning())


def is_oauth(authorization: str | None) -> bool:
    """Whether a request presents OAuth 1.0a credentials (`Authorization: OAuth ...`)."""
    return authorization is not None and authorization.lstrip()[:6].lower() == "oauth "


@dataclass(frozen=True)
class SignedRequest:
    """What a signature covers: method, URL as the client sent it (no query), query, form body."""

    method: str
    url: str
    query: str
    authorization: str
    form: Sequence[tuple[str, str]] = ()


@dataclass(frozen=True)
class Verified:
    """A request whose signature is good; its nonce still has to be recorded (`record_nonce`)."""

    integration: Integration
    nonce: str
    timestamp: int

    def record_nonce(self) -> None:
        """Store the nonce (call inside a write transaction); 401 if another request got there first."""
        inserted = _RECORD_NONCE.execute(consumer=self.integration.id, nonce=self.nonce,
                                         timestamp=self.timestamp).rowcount
        if not inserted:
            raise WebapiError(NONCE_USED, [self.integration.id], status=401)


class OAuthVerifier:
    """Checks signed requests against the stored integrations."""

    def __init__(self, integrations: IntegrationStore, methods: Sequence[str], nonce_seconds: float) -> None:
        self._integrations = integrations
        self._methods = tuple(methods)
        self._nonce_seconds = nonce_seconds

    def verify(self, request: SignedRequest, now: float) -> Verified | None:
        """The verified request, None for an inactive integration (a guest then), or Magento's error."""
        header = _header_parameters(request.authorization)
        params = [*parse_qsl(request.query, keep_blank_values=True), *header, *request.form]
        protocol = dict(reversed([(name, value) for name, value in params if name.startswith("oauth_")]))
        protocol.update(header)  # the header's own values win over the query's
        version = protocol.get("oauth_version")
        if version is not None and version != "1.0":
            raise WebapiError(VERSION_UNSUPPORTED, [version])
        missing = [Phrase(REQUIRED_FIELD, {"fieldName": name}) for name in REQUIRED if not protocol.get(name)]
        if missing:
            raise WebapiError.from_phrases(missing)
        token = protocol["oauth_token"]
        if len(token) != CREDENTIAL_LENGTH:
            raise WebapiError(TOKEN_LENGTH_INVALID)
        method = protocol["oauth_signature_method"]
        if method not in self._methods:
            raise WebapiError(SIGNATURE_METHOD_UNSUPPORTED, [method])
        integration = self._consumer(protocol["oauth_consumer_key"])
        timestamp = self._timestamp(protocol["oauth_timestamp"], now)
        nonce = protocol["oauth_nonce"]
        if len(nonce) > MAX_NONCE_LENGTH or not nonce.isprintable():
            # A database cannot store everything (PostgreSQL refuses NUL): refused before any query.
            raise WebapiError(INVALID_FIELD_VALUE, {"value": nonce[:MAX_NONCE_LENGTH].encode("unicode_escape")
                                                    .decode("ascii"), "fieldName": "oauth_nonce"})
        if _NONCE_USED.execute(consumer=integration.id, nonce=nonce).fetchone() is not None:
            raise _refused(NONCE_USED, [integration.id], integration)
        if not self._integrations.owns_access_token(integration, token):
            other = self._integrations.by_access_token(token)
            raise _refused(TOKEN_UNKNOWN if other is None else TOKEN_OF_ANOTHER_CONSUMER, None, integration)
        if not self._signature_matches(request, params, protocol, integration):
            raise _refused(SIGNATURE_INVALID, None, integration)
        if integration.status != ACTIVE:
            return None
        return Verified(integration, nonce, timestamp)

    def _consumer(self, consumer_key: str) -> Integration:
        if len(consumer_key) != CREDENTIAL_LENGTH:
            raise WebapiError(CONSUMER_KEY_LENGTH, status=401)
        # Keys are letters and digits: anything else is unknown without asking the database.
        integration = self._integrations.by_consumer_key(consumer_key) if consumer_key.isalnum() else None
        if integration is None:
            raise WebapiError(CONSUMER_UNKNOWN, status=401)
        return integration

    def _timestamp(self, raw: str, now: float) -> int:
        try:
            timestamp = int(raw.strip())
        except ValueError:
            timestamp = 0
        if timestamp <= 0 or timestamp > now + FUTURE_SKEW_SECONDS or timestamp < now - self._nonce_seconds:
            raise WebapiError(TIMESTAMP_INCORRECT)
        return timestamp

    def _signature_matches(self, request: SignedRequest, params: list[tuple[str, str]],
                           protocol: dict[str, str], integration: Integration) -> bool:
        """oauthlib's steps (base string URI, normalised parameters, base string, HMAC), as its own
        `verify_hmac_*` runs them, without building an `oauthlib.common.Request` each time."""
        try:
            # (The type stubs say dict; oauthlib takes, and RFC 5849 needs, a list: names may repeat.)
            signed: Any = [(name, value) for name, value in params if name != "oauth_signature"]
            base_string = oauth_signature.signature_base_string(
                cast(Any, request.method.upper()), _base_string_uri(request.url),
                oauth_signature.normalize_parameters(signed))
        except ValueError:  # a URL oauthlib cannot make a base string of
            return False
        expected = _SIGNERS[protocol["oauth_signature_method"]](
            base_string, _Secrets(self._integrations.consumer_secret(integration),
                                  self._integrations.access_token_secret(integration)))
        return safe_string_equals(expected, protocol["oauth_signature"])


@lru_cache(maxsize=1024)
def _base_string_uri(url: str) -> str:
    """oauthlib's base string URI, kept per URL: clients call the same few endpoints over and over."""
    return oauth_signature.base_string_uri(url)


# Magento's `Helper/Request::_processHeader`: only `oauth_*` names, values percent-decoded, quotes optional.
_HEADER_PARAMETER = re.compile(r'(oauth_[a-z_-]+)\s*=\s*"?([^",]*)"?')


def _header_parameters(authorization: str) -> list[tuple[str, str]]:
    """The `oauth_*` parameters of the header, decoded (Magento takes no others from it, nor `realm`)."""
    return [(name, unquote(value)) for name, value in _HEADER_PARAMETER.findall(authorization)]


def _refused(message: str, parameters: list | None, integration: Integration) -> WebapiError:
    # Logged with the consumer's id only: never a key, token, secret or signature.
    log.info("OAuth request of integration %d refused: %s", integration.id, message)
    return WebapiError(message, parameters, status=401)


def sweep_nonces(oldest_timestamp: float) -> int:
    """Forget nonces whose requests are older than the window (such requests are refused anyway)."""
    return OAuthNonce.delete().where(OAuthNonce.timestamp < int(oldest_timestamp)).execute()


OAUTH_MODELS: list[type[peewee.Model]] = [OAuthNonce]
