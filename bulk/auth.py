"""Who is calling: callers, bearer tokens and ACL checks (the admin sign-in is `bulk.sign_in`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeSerializer

from bulk.errors import not_authorized
from bulk.revocation import FIRST_GENERATION, TokenGenerations
from bulk.routes.catalogue import ANONYMOUS
from bulk.statuses import UserType

ADMIN_USER_ID = 1


@dataclass(frozen=True)
class Caller:
    """The user context of a request: Magento's user type and id, and what the user may access."""

    user_type: UserType
    user_id: int | None
    # None: every resource (an administrator with full access).
    resources: frozenset[str] | None = frozenset()

    def is_allowed(self, resources: Sequence[str]) -> bool:
        if ANONYMOUS in resources:
            return True
        if self.user_type == UserType.GUEST:
            return False
        return self.resources is None or all(resource in self.resources for resource in resources)

    def require(self, resources: Sequence[str]) -> None:
        if not self.is_allowed(resources):
            raise not_authorized(resources)


GUEST = Caller(UserType.GUEST, None)
ADMIN = Caller(UserType.ADMIN, ADMIN_USER_ID, None)


class TokenService:
    """Signed, self-contained bearer tokens: any worker process verifies them without a lookup but of
    the token generation (`bulk.revocation`, read at most every BULK_TOKEN_CHECK_SECONDS)."""

    def __init__(self, secret: bytes, lifetime_seconds: float, generations: TokenGenerations) -> None:
        self._serializer = URLSafeSerializer(secret, salt="bulk.bearer-token")
        self._lifetime = lifetime_seconds
        self.generations = generations

    def issue(self, caller: Caller, now: float) -> str:
        return self._serializer.dumps([int(caller.user_type), caller.user_id, int(now + self._lifetime),
                                       self.generations.current()])

    def caller(self, authorization: str | None, now: float) -> Caller:
        """The caller a header names; a missing, forged or expired token makes a guest (as Magento)."""
        if not authorization:
            return GUEST
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return GUEST
        try:
            # Tokens issued before generations existed have three fields: the first generation's.
            user_type, user_id, expires, *generation = self._serializer.loads(token.strip())
        except (BadSignature, ValueError, TypeError):
            return GUEST
        if not isinstance(expires, (int, float)) or expires <= now:
            return GUEST
        if user_type != UserType.ADMIN or user_id != ADMIN_USER_ID:
            return GUEST
        # Last: the only check that may read the database (once per BULK_TOKEN_CHECK_SECONDS).
        if (generation[0] if generation else FIRST_GENERATION) != self.generations.current():
            return GUEST
        return ADMIN
