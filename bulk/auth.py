"""Who is calling: bearer tokens, the admin sign-in (with lock-out), and ACL checks."""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeSerializer

from bulk.db import write_transaction
from bulk.errors import WebapiError, not_authorized
from bulk.models import AdminLoginLock
from bulk.phrases import REQUIRED_FIELD, SIGN_IN_FAILED
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
    """Signed, self-contained bearer tokens: any worker process verifies them without a lookup."""

    def __init__(self, secret: bytes, lifetime_seconds: float) -> None:
        self._serializer = URLSafeSerializer(secret, salt="bulk.bearer-token")
        self._lifetime = lifetime_seconds

    def issue(self, caller: Caller, now: float) -> str:
        return self._serializer.dumps([int(caller.user_type), caller.user_id, int(now + self._lifetime)])

    def caller(self, authorization: str | None, now: float) -> Caller:
        """The caller a header names; a missing, forged or expired token makes a guest (as Magento)."""
        if not authorization:
            return GUEST
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return GUEST
        try:
            user_type, user_id, expires = self._serializer.loads(token.strip())
        except (BadSignature, ValueError, TypeError):
            return GUEST
        if expires <= now:
            return GUEST
        if user_type == UserType.ADMIN and user_id == ADMIN_USER_ID:
            return ADMIN
        return GUEST


@dataclass(frozen=True)
class AdminAccount:
    username: str
    password: str
    max_failures: int
    lock_seconds: float


def sign_in_admin(account: AdminAccount, username: object, password: object, now: float) -> Caller:
    """Check admin credentials like Magento (401s, lock-out after repeated failures)."""
    for field_name, value in (("username", username), ("password", password)):
        if not isinstance(value, str) or not value:
            raise WebapiError(REQUIRED_FIELD, {"fieldName": field_name}, status=401)
    assert isinstance(username, str) and isinstance(password, str)
    # Both comparisons always run, so timing does not reveal which part was wrong.
    name_matches = hmac.compare_digest(username.encode(), account.username.encode())
    password_matches = hmac.compare_digest(password.encode(), account.password.encode())
    matches = name_matches and password_matches
    if name_matches and account.max_failures:
        return _with_lockout(account, matches, now)
    if not matches:
        raise WebapiError(SIGN_IN_FAILED, status=401)
    return ADMIN


def _with_lockout(account: AdminAccount, matches: bool, now: float) -> Caller:
    with write_transaction():
        lock = AdminLoginLock.get_or_none(AdminLoginLock.username == account.username)
        if lock is not None and lock.locked_until is not None and lock.locked_until > now:
            raise WebapiError(SIGN_IN_FAILED, status=401)
        if matches:
            if lock is not None:
                lock.delete_instance()
            return ADMIN
        failures = (lock.failures if lock is not None and lock.locked_until is None else 0) + 1
        locked_until = now + account.lock_seconds if failures >= account.max_failures else None
        (AdminLoginLock
         .insert(username=account.username, failures=failures, locked_until=locked_until)
         .on_conflict(conflict_target=[AdminLoginLock.username],
                      update={AdminLoginLock.failures: failures,
                              AdminLoginLock.locked_until: locked_until})
         .execute())
    raise WebapiError(SIGN_IN_FAILED, status=401)
