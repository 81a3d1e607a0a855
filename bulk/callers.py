"""Who is calling, decided in one place: an admin Bearer token, an OAuth-signed integration request,
an integration access token as Bearer (only with BULK_INTEGRATION_AS_BEARER), or else a guest.

An OAuth request that fails verification is answered with Magento's specific error (Magento does not
swallow it); a Bearer token that is unknown, forged or expired makes a guest, as in Magento.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bulk.auth import GUEST, Caller, TokenService
from bulk.integrations import ACTIVE, IntegrationStore
from bulk.oauth import OAuthVerifier, SignedRequest, Verified, is_oauth
from bulk.statuses import UserType


@dataclass(frozen=True)
class Identified:
    """A request's caller, and for a signed request the verification whose nonce is still to record."""

    caller: Caller
    oauth: Verified | None = None


class CallerResolver:
    """Turns a request's credentials into its caller."""

    def __init__(self, tokens: TokenService, integrations: IntegrationStore, verifier: OAuthVerifier,
                 integration_as_bearer: bool) -> None:
        self._tokens = tokens
        self._integrations = integrations
        self._verifier = verifier
        self._integration_as_bearer = integration_as_bearer

    def identify(self, authorization: str | None, signed: Callable[[], SignedRequest], now: float) -> Identified:
        """The caller; `signed` builds what an OAuth signature covers (only called for OAuth requests)."""
        if is_oauth(authorization):
            verified = self._verifier.verify(signed(), now)
            return Identified(verified.integration.caller(), verified) if verified else Identified(GUEST)
        caller = self._tokens.caller(authorization, now)
        if caller.user_type == UserType.GUEST and self._integration_as_bearer and authorization:
            scheme, _, token = authorization.strip().partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                integration = self._integrations.by_access_token(token.strip())
                if integration is not None and integration.status == ACTIVE:
                    return Identified(integration.caller())
        return Identified(caller)
